/**
 * Finishing a `/run` journaled by a bot that is gone: the same job id is sent again. A worker that ran it answers
 * with that run's output (it keeps finished jobs for the freshness window); one that never started it (the
 * command was queued) runs it now, after the policy is checked again. Its message, or a new one, gets the result.
 */
import type { ChatMessage } from '../src/core/message.js';
import type { CommandOutcome } from '../src/core/ports/commands.js';
import type { JournalEntry } from '../src/core/ports/store.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import { mention } from './shared.js';
import { renderRun, settleRun, type RunView } from './run-render.js';
import { journalFailed, type RunJobDeps } from './run-host.js';

/** Finishes one journaled run and marks it done in the journal. */
export async function recoverRun(deps: RunJobDeps, entry: JournalEntry, chat: ChatSink): Promise<CommandOutcome> {
  const m = /^(\S+)\s+([\s\S]*)$/.exec(entry.text.trim());
  const host = entry.host ?? m?.[1] ?? '';
  const line = (m?.[2] ?? '').trim();
  const view: RunView = { host, line, who: mention(entry.userId), previewChars: deps.previewChars };
  const principal = { userId: entry.userId, channelId: entry.channelId, roles: deps.policy.rolesFor(entry.userId) };
  const ran = entry.state === 'running';
  const show = async (msg: ChatMessage) => {
    if (entry.messageTs) await chat.update({ channel: entry.channelId, ts: entry.messageTs }, msg);
    else await chat.post(entry.channelId, msg);
  };
  const decision = deps.policy.checkRun({ host, principal, line });
  let settled: { msg: ChatMessage; outcome: CommandOutcome };
  if (!decision.allow || !entry.jobId) {
    const why = decision.allow ? 'it was never sent' : `the policy no longer allows it (${decision.reason})`;
    settled = {
      msg: renderRun(view, '', `not run: the bot restarted before it ran, and ${why}`),
      outcome: { status: decision.allow ? 'failed' : 'denied', host, rule: decision.rule, summary: 'not run' },
    };
  } else {
    const note = ran
      ? ' · the bot restarted while this ran; the worker kept its result'
      : ' · run after the bot restarted';
    try {
      const result = await deps.limiter.schedule(host, () =>
        deps.dispatcher.submit({
          capability: 'run',
          host,
          args: { line },
          requester: { ...principal, roles: principal.roles },
          timeoutMs: decision.timeoutMs + deps.extraTimeoutMs,
          jobId: entry.jobId ?? undefined,
          // Past any re-send the gone bot made: each send of a job is its own nonce on the worker.
          firstAttempt: 50,
        }),
      );
      settled = settleRun(view, result, decision, '', note);
    } catch (err) {
      const message = (err as Error).message;
      settled = {
        msg: renderRun(view, '', `failed after the bot restarted: ${message}`),
        outcome: { status: 'failed', host, rule: decision.rule, summary: message },
      };
    }
  }
  await show(settled.msg).catch((err: Error) =>
    deps.logger.warn({ event: 'recover_unshown', err: err.message }, 'a recovered command could not be shown'),
  );
  await deps.journal?.commands
    .update(entry.requestId, { state: 'done', jobHandle: settled.outcome.jobHandle })
    .catch(journalFailed(deps.logger));
  return settled.outcome;
}
