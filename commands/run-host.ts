/**
 * `/run <host> <command line>` on one host: the job is journaled, queued behind the host's limiter, submitted
 * signed, and its output streams into one message that is updated in place and ends with the exit code and
 * duration. Where the channel cannot show the result, the requester is told privately, once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../src/log.js';
import { ErrorCode, isGearopsError } from '../src/errors.js';
import type { ChatMessage } from '../src/core/message.js';
import { textMessage } from '../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher } from '../src/core/ports/dispatcher.js';
import type { CommandJournal } from '../src/core/ports/store.js';
import type { JobEvent } from '../src/core/payload.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import { createLiveMessage } from '../src/core/live-message.js';
import { authorize } from '../src/core/authorize.js';
import { formatDuration, mention, requesterOf } from './shared.js';
import { renderRun, settleRun, type RunView } from './run-render.js';

/** Where accepted commands are journaled (the store's `commands`), as this bot instance. */
export interface RunJournal {
  instance: string;
  commands: CommandJournal;
  handedOver(): boolean;
}

/** What a run on one host needs, its defaults filled in. */
export interface RunJobDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  limiter: HostLimiter;
  logger: Logger;
  previewChars: number;
  updateEveryMs: number;
  extraTimeoutMs: number;
  journal?: RunJournal;
}

/** Logs a journal write that failed: the command goes on without it. */
export const journalFailed = (logger: Logger) => (err: Error) =>
  logger.warn({ event: 'journal_failed', err: err.message }, 'the commands journal could not be written');

// This bot is stopping and journaled its commands as handed over: the one that finds them finishes them.
const handedOver = (host: string): CommandOutcome => ({ status: 'failed', host, handedOver: true });

type JournalUpdate = Parameters<CommandJournal['update']>[1];

/**
 * Journals the command as accepted (awaited: before the job is submitted, so that a restarted bot or another
 * instance can finish it); later steps are written in order, without holding the command up.
 */
async function openJournal(deps: RunJobDeps, inv: CommandInvocation, host: string, jobId: string) {
  const journal = deps.journal;
  const failed = journalFailed(deps.logger);
  let journaled: Promise<void> = journal
    ? journal.commands
        .accept({
          requestId: inv.requestId,
          instance: journal.instance,
          command: 'run',
          text: inv.text,
          userId: inv.principal.userId,
          channelId: inv.principal.channelId,
          host,
          jobId,
          state: 'accepted',
        })
        .catch((err: Error) => failed(err))
    : Promise.resolve();
  await journaled;
  return {
    note(f: JournalUpdate) {
      if (!journal) return;
      journaled = journaled.then(() => journal.commands.update(inv.requestId, f).catch(failed));
    },
    /** Resolves once every step noted so far is written (or failed). */
    written: () => journaled,
  };
}

/**
 * The run's one message. Posted and updated at chat's pace, apart from the job: the host's slot is held only
 * while the job runs, and a result that comes before the first post leaves is posted once, final.
 */
function createRunStream(deps: RunJobDeps, inv: CommandInvocation, view: RunView, note: (f: JournalUpdate) => void) {
  let output = '';
  let lastUpdate = 0;
  let pending: ReturnType<typeof setTimeout> | null = null;
  let finished = false;
  let started = Date.now();
  let chatError: { err: Error; what: string } | null = null;
  let shown = false;
  const live = createLiveMessage({
    reply: inv.reply,
    logger: deps.logger,
    onPosted: (ref) => note({ messageTs: ref.ts }),
    onFailure: (err, stage) =>
      (chatError = {
        err,
        what: stage === 'post' ? 'Could not post in the channel' : 'Could not update the message in the channel',
      }),
  });
  const push = () => {
    pending = null;
    if (finished) return;
    lastUpdate = Date.now();
    live.show(renderRun(view, output, `running for ${formatDuration(Date.now() - started)}…`));
  };
  return {
    output: () => output,
    startedAt: () => started,
    shown: () => shown,
    ref: () => live.ref(),
    /** The job leaves: its time runs from now. */
    start() {
      started = Date.now();
      shown = true;
      live.show(renderRun(view, '', 'starting…'));
    },
    queued(position: number) {
      shown = true;
      live.show(renderRun(view, '', `queued: ${view.host} is busy, ${position} job(s) waiting`));
    },
    onEvent(ev: JobEvent) {
      if (ev.type === 'output') {
        output += ev.text;
        if (pending || finished) return;
        pending = setTimeout(push, Math.max(0, deps.updateEveryMs - (Date.now() - lastUpdate)));
      }
      // The worker died and another process runs the command again: its output starts over.
      else if (ev.type === 'rerun') output = '';
    },
    /** Shows the final state; where the channel cannot have it, the requester gets it privately, once, with why. */
    async conclude(msg: ChatMessage, upload?: () => Promise<void>) {
      finished = true;
      if (pending) clearTimeout(pending);
      const ref = await live.finish(msg);
      if (ref && upload)
        await upload().catch((err: Error) => (chatError ??= { err, what: 'The full output could not be attached' }));
      // A bot that is stopping says nothing privately: the next process finishes the message.
      if (!chatError || deps.journal?.handedOver()) return;
      const { err, what } = chatError as { err: Error; what: string };
      deps.logger.warn(
        { event: 'run_not_shown', host: view.host, err: err.message },
        'the channel could not be given the result',
      );
      // The requester is told once, privately, with Slack's reason and the fix; the result comes with it
      // whenever the channel does not show it.
      await inv.reply
        .ephemeral({
          text: `${what}: ${err.message}`,
          blocks: [{ type: 'text', text: `:warning: ${what}: ${err.message}` }, ...(ref ? [] : (msg.blocks ?? []))],
        })
        .catch((e: Error) =>
          deps.logger.error(
            { event: 'run_unreported', host: view.host, err: e.message },
            'the requester could not be told',
          ),
        );
    },
  };
}

/** Runs `line` on `host` for the invocation's requester; the outcome is what the router audits. */
export async function runOnHost(
  deps: RunJobDeps,
  inv: CommandInvocation,
  host: string,
  line: string,
): Promise<CommandOutcome> {
  const decision = authorize(deps.policy, inv.principal, { run: line, host });
  try {
    // An unknown or stopped host is the requester's mistake: answer them alone, post nothing in the channel.
    await deps.dispatcher.reachable(host, 'run');
  } catch (err) {
    const message = (err as Error).message;
    await inv.reply.ephemeral(textMessage(`Failed: ${message}`));
    return { status: 'failed', host, rule: decision.rule, summary: message };
  }
  const view: RunView = { host, line, who: mention(inv.principal.userId), previewChars: deps.previewChars };
  const jobId = randomUUID();
  const journal = deps.journal;
  const { note, written } = await openJournal(deps, inv, host, jobId);
  const stream = createRunStream(deps, inv, view, note);
  try {
    const result = await deps.limiter.schedule(
      host,
      async () => {
        note({ state: 'running' });
        stream.start();
        return deps.dispatcher.submit({
          capability: 'run',
          host,
          args: { line },
          requester: requesterOf(inv.principal),
          timeoutMs: decision.timeoutMs + deps.extraTimeoutMs,
          onEvent: (ev) => stream.onEvent(ev),
          signal: inv.signal,
          jobId,
        });
      },
      (position) => {
        note({ state: 'queued' });
        stream.queued(position);
      },
    );
    if (journal?.handedOver()) return handedOver(host);
    const { msg, outcome, clean } = settleRun(view, result, decision, stream.output());
    await stream.conclude(
      msg,
      clean.length > deps.previewChars
        ? () =>
            inv.reply.upload(stream.ref()!, {
              filename: `${host}-${line.split(' ')[0]}-${new Date(stream.startedAt()).toISOString().replace(/[:.]/g, '-')}.txt`,
              content: clean,
              title: `${host}: ${line}`,
            })
        : undefined,
    );
    // Done only once the message shows it: a bot stopping meanwhile leaves it to the next, which finishes it.
    if (journal?.handedOver()) return handedOver(host);
    note({ state: 'done', jobHandle: result.handle });
    await written();
    return outcome;
  } catch (err) {
    if (journal?.handedOver()) return handedOver(host);
    const message = isGearopsError(err) ? err.message : (err as Error).message;
    // Text nobody signed is not the job's error: the dispatcher labels it ("unverified answer from …").
    const status = isGearopsError(err) && err.code === ErrorCode.UnverifiedAnswer ? message : `failed: ${message}`;
    if (stream.shown()) await stream.conclude(renderRun(view, stream.output(), status));
    else
      await inv.reply.ephemeral(textMessage(status.charAt(0).toUpperCase() + status.slice(1))).catch(() => undefined);
    note({ state: 'done' });
    await written();
    return { status: 'failed', host, rule: decision.rule, summary: message };
  }
}
