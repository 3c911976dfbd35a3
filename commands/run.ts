/**
 * `/run <host> <command line>`: a read-only diagnostic on one host, through
 * the policy, as a signed Gearman job; output streams into one message that
 * is updated in place and ends with the exit code and duration.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, isGearopsError } from '../src/errors.js';
import type { ChatMessage, Block } from '../src/core/message.js';
import { stripAnsi, textMessage } from '../src/core/message.js';
import { redactSecrets } from '../src/core/redact.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher, JobResult } from '../src/core/ports/dispatcher.js';
import type { CommandJournal, JournalEntry } from '../src/core/ports/store.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { RunDecision } from '../src/core/ports/policy.js';
import { randomUUID } from 'node:crypto';
import type { Policy } from '../src/core/ports/policy.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import { createLiveMessage } from '../src/core/live-message.js';
import { formatDuration, mention, policyPrincipal, requesterOf } from './shared.js';
import { authorize } from '../src/core/authorize.js';
import { HOST_RE, type RunValue } from '../src/core/capabilities.js';
import { groupRows, runFanout } from './run-fanout.js';
import { isSingleHost, TARGET_RE } from '../src/core/targets.js';
import { hostVersions, versionMismatchNote } from './host-versions.js';

/** What the worker's `run` capability returns (exit code, output, limits hit). */
export type { RunValue };

/** Dependencies of `/run`. */
export interface RunCommandDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  limiter: HostLimiter;
  logger: Logger;
  /** Output longer than this goes up as a file, with a preview in the message. */
  previewChars?: number;
  /** How often the streaming message is refreshed at most. */
  updateEveryMs?: number;
  /** Client-side limit on top of the policy's own time limit. */
  extraTimeoutMs?: number;
  /** Host jobs one fan-out keeps in flight at once (GEAROPS_FANOUT, default 64). */
  fanout?: number;
  /** Gathered fan-out output longer than this goes up as a file; the message keeps a summary. */
  fanoutChars?: number;
  /** Where accepted commands are journaled (the store's `commands`), as this bot instance. */
  journal?: { instance: string; commands: CommandJournal; handedOver(): boolean };
  /** The bot's version: `/run hosts` marks workers that run another one. */
  version?: string;
}

const USAGE =
  '/run <targets> <command> [| grep PATTERN]   ·   targets: db1 | db1,db2 | db* | db[1-12] | @group | all   ·   /run hosts   ·   /run help [host]';

/** Keeps the tail of the output that fits the preview. */
function preview(output: string, limit: number): { text: string; cut: boolean } {
  if (output.length <= limit) return { text: output, cut: false };
  const tail = output.slice(output.length - limit);
  const nl = tail.indexOf('\n');
  return { text: nl >= 0 && nl < 200 ? tail.slice(nl + 1) : tail, cut: true };
}

/** Creates the `/run` command. */
export function createRunCommand(deps: RunCommandDeps): CommandModule {
  const previewChars = deps.previewChars ?? 2500;
  const updateEveryMs = deps.updateEveryMs ?? 1000;
  // This bot is stopping and journaled its commands as handed over: the one that finds them finishes them.
  const handedOver = (host: string): CommandOutcome => ({ status: 'failed', host, handedOver: true });
  const journalFailed = (err: Error) =>
    deps.logger.warn({ event: 'journal_failed', err: err.message }, 'the commands journal could not be written');

  function render(
    host: string,
    line: string,
    who: string,
    output: string,
    status: string,
    extra: Block[] = [],
  ): ChatMessage {
    const clean = redactSecrets(stripAnsi(output));
    const p = preview(clean, previewChars);
    const blocks: Block[] = [{ type: 'text', text: `${who} ran \`${line}\` on *${host}*` }];
    if (clean.length > 0)
      blocks.push({
        type: 'code',
        text: p.cut ? `… (${clean.length - p.text.length} earlier characters in the attached file)\n${p.text}` : p.text,
      });
    blocks.push(...extra, { type: 'context', text: status });
    return { text: `${host}: ${line} — ${status}`, blocks };
  }

  /** The final message and outcome of a job's verified result (`note`: said after the status, e.g. a restart). */
  function settle(
    result: JobResult<RunValue>,
    decision: RunDecision,
    host: string,
    line: string,
    who: string,
    output: string,
    note = '',
  ): { msg: ChatMessage; outcome: CommandOutcome; clean: string } {
    if (!result.ok || !result.value) {
      const reason = result.error?.message ?? 'the worker returned no result';
      const denied = result.error?.code === ErrorCode.PolicyDenied;
      return {
        msg: render(host, line, who, output, `${denied ? 'denied by the worker' : 'failed'}: ${reason}${note}`),
        clean: '',
        outcome: {
          status: denied ? 'denied' : 'failed',
          host,
          jobHandle: result.handle,
          summary: reason,
          rule: typeof result.error?.data?.rule === 'string' ? result.error.data.rule : decision.rule,
        },
      };
    }
    const v = result.value;
    const status = [
      v.timedOut
        ? `killed after its time limit (${formatDuration(decision.timeoutMs)})`
        : v.signal
          ? `killed by ${v.signal}`
          : `exit ${v.exitCode}`,
      formatDuration(v.durationMs),
      v.truncated ? `output cut at ${v.outputBytes} bytes` : `${v.outputBytes} bytes`,
      `rule ${v.rule ?? decision.rule ?? '?'}`,
    ].join(' · ');
    // Credentials in the output (other users' command lines in `ps auxww`) never reach the channel.
    const clean = redactSecrets(stripAnsi(v.output));
    const ok =
      !v.timedOut &&
      v.signal === null &&
      (v.exitCode === 0 || (v.exitCode === 1 && (decision.pipeline?.length ?? 1) > 1));
    return {
      msg: render(host, line, who, clean.length === 0 ? '(no output)' : clean, `${status}${note}`),
      clean,
      outcome: {
        status: ok ? 'ok' : 'failed',
        host,
        jobHandle: result.handle,
        exitCode: v.exitCode,
        durationMs: v.durationMs,
        outputBytes: v.outputBytes,
        rule: v.rule ?? decision.rule,
        summary: status,
      },
    };
  }

  async function help(inv: CommandInvocation, host?: string): Promise<CommandOutcome> {
    const lines = deps.policy.describe(policyPrincipal(inv.principal), host ? { host } : undefined);
    await inv.reply.ephemeral({
      text: `Usage: ${USAGE}`,
      blocks: [
        {
          type: 'text',
          text: `*Usage:* \`${USAGE}\`\nCommands run without a shell; one \`| grep PATTERN\` stage is allowed where the policy says so.`,
        },
        { type: 'text', text: `*What you may run${host ? ` on ${host}` : ''}* (policy ${deps.policy.source}):` },
        { type: 'code', text: lines.length ? lines.join('\n') : '(nothing: the policy allows you no commands)' },
      ],
    });
    return { status: 'ok', summary: 'help' };
  }

  /** Groups from the policy file and from the workers, with their live members. */
  function groupTable(list: Awaited<ReturnType<Dispatcher['hosts']>>): Block[] {
    const rows = groupRows(deps.policy, list);
    return rows.length ? [{ type: 'table', columns: ['group', 'from', 'members'], rows }] : [];
  }

  async function hosts(inv: CommandInvocation): Promise<CommandOutcome> {
    const list = await deps.dispatcher.hosts();
    if (list.length === 0) {
      await inv.reply.ephemeral(
        textMessage(
          'No live hosts: no worker is registered on the job servers. Start one with `gearops worker --host <name> --gearman <host:port>`.',
        ),
      );
      return { status: 'ok', summary: 'no hosts' };
    }
    const botVersion = deps.version ?? 'unknown';
    const versions = await hostVersions({ dispatcher: deps.dispatcher, botVersion }, list, requesterOf(inv.principal));
    const note = versionMismatchNote(versions, botVersion);
    await inv.reply.ephemeral({
      text: `${list.length} live host(s)`,
      blocks: [
        {
          type: 'table',
          columns: ['host', 'version', 'capabilities', 'job servers'],
          rows: list.map((h, i) => [
            h.host,
            versions[i]!.label,
            h.capabilities.filter((c) => !c.startsWith('group.')).join(', '),
            h.servers.join(', '),
          ]),
        },
        ...(note ? [{ type: 'context' as const, text: note }] : []),
        ...groupTable(list),
      ],
    });
    return { status: 'ok', summary: `${list.length} hosts` };
  }

  async function run(inv: CommandInvocation, host: string, line: string): Promise<CommandOutcome> {
    const decision = authorize(deps.policy, inv.principal, { run: line, host });
    try {
      // An unknown or stopped host is the requester's mistake: answer them alone, post nothing in the channel.
      await deps.dispatcher.reachable(host, 'run');
    } catch (err) {
      const message = (err as Error).message;
      await inv.reply.ephemeral(textMessage(`Failed: ${message}`));
      return { status: 'failed', host, rule: decision.rule, summary: message };
    }
    const who = mention(inv.principal.userId);
    // Journaled before the job is submitted, so that a restarted bot or another instance can finish it.
    const jobId = randomUUID();
    const journal = deps.journal;
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
          .catch((err: Error) => journalFailed(err))
      : Promise.resolve();
    await journaled;
    // Later steps are written in order, without holding the command up.
    const note = (f: Parameters<CommandJournal['update']>[1]) => {
      if (!journal) return;
      journaled = journaled.then(() => journal.commands.update(inv.requestId, f).catch(journalFailed));
    };
    let output = '';
    let lastUpdate = 0;
    let pending: ReturnType<typeof setTimeout> | null = null;
    let finished = false;
    let started = Date.now();
    // The message is posted and updated at chat's pace, apart from the job: the host's slot is held only
    // while the job runs, and a result that comes before the first post leaves is posted once, final.
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
      live.show(render(host, line, who, output, `running for ${formatDuration(Date.now() - started)}…`));
    };
    const onOutput = (text: string) => {
      output += text;
      if (pending || finished) return;
      pending = setTimeout(push, Math.max(0, updateEveryMs - (Date.now() - lastUpdate)));
    };

    /** Shows the final state; where the channel cannot have it, the requester gets it privately, once, with why. */
    const conclude = async (msg: ChatMessage, upload?: () => Promise<void>) => {
      finished = true;
      if (pending) clearTimeout(pending);
      const ref = await live.finish(msg);
      if (ref && upload)
        await upload().catch((err: Error) => (chatError ??= { err, what: 'The full output could not be attached' }));
      // A bot that is stopping says nothing privately: the next process finishes the message.
      if (!chatError || journal?.handedOver()) return;
      const { err, what } = chatError as { err: Error; what: string };
      deps.logger.warn({ event: 'run_not_shown', host, err: err.message }, 'the channel could not be given the result');
      // The requester is told once, privately, with Slack's reason and the fix; the result comes with it
      // whenever the channel does not show it.
      await inv.reply
        .ephemeral({
          text: `${what}: ${err.message}`,
          blocks: [{ type: 'text', text: `:warning: ${what}: ${err.message}` }, ...(ref ? [] : (msg.blocks ?? []))],
        })
        .catch((e: Error) =>
          deps.logger.error({ event: 'run_unreported', host, err: e.message }, 'the requester could not be told'),
        );
    };

    try {
      const result = await deps.limiter.schedule(
        host,
        async () => {
          started = Date.now();
          shown = true;
          note({ state: 'running' });
          live.show(render(host, line, who, '', 'starting…'));
          return deps.dispatcher.submit({
            capability: 'run',
            host,
            args: { line },
            requester: requesterOf(inv.principal),
            timeoutMs: decision.timeoutMs + (deps.extraTimeoutMs ?? 10_000),
            onEvent: (ev) => {
              if (ev.type === 'output') onOutput(ev.text);
              // The worker died and another process runs the command again: its output starts over.
              else if (ev.type === 'rerun') output = '';
            },
            signal: inv.signal,
            jobId,
          });
        },
        (position) => {
          shown = true;
          note({ state: 'queued' });
          live.show(render(host, line, who, '', `queued: ${host} is busy, ${position} job(s) waiting`));
        },
      );
      if (journal?.handedOver()) return handedOver(host);
      const { msg, outcome, clean } = settle(result, decision, host, line, who, output);
      await conclude(
        msg,
        clean.length > previewChars
          ? () =>
              inv.reply.upload(live.ref()!, {
                filename: `${host}-${line.split(' ')[0]}-${new Date(started).toISOString().replace(/[:.]/g, '-')}.txt`,
                content: clean,
                title: `${host}: ${line}`,
              })
          : undefined,
      );
      // Done only once the message shows it: a bot stopping meanwhile leaves it to the next, which finishes it.
      if (journal?.handedOver()) return handedOver(host);
      note({ state: 'done', jobHandle: result.handle });
      await journaled;
      return outcome;
    } catch (err) {
      if (journal?.handedOver()) return handedOver(host);
      const message = isGearopsError(err) ? err.message : (err as Error).message;
      // Text nobody signed is not the job's error: the dispatcher labels it ("unverified answer from …").
      const status = isGearopsError(err) && err.code === ErrorCode.UnverifiedAnswer ? message : `failed: ${message}`;
      if (shown) await conclude(render(host, line, who, output, status));
      else
        await inv.reply.ephemeral(textMessage(status.charAt(0).toUpperCase() + status.slice(1))).catch(() => undefined);
      note({ state: 'done' });
      await journaled;
      return { status: 'failed', host, rule: decision.rule, summary: message };
    }
  }

  /**
   * A command journaled by a bot that is gone: the same job id is sent again. A worker that ran it answers with
   * that run's output (it keeps finished jobs for the freshness window); one that never started it (the command
   * was queued) runs it now, after the policy is checked again. Its message, or a new one, gets the result.
   */
  async function recover(entry: JournalEntry, chat: ChatSink): Promise<CommandOutcome> {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(entry.text.trim());
    const host = entry.host ?? m?.[1] ?? '';
    const line = (m?.[2] ?? '').trim();
    const who = mention(entry.userId);
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
        msg: render(host, line, who, '', `not run: the bot restarted before it ran, and ${why}`),
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
            timeoutMs: decision.timeoutMs + (deps.extraTimeoutMs ?? 10_000),
            jobId: entry.jobId ?? undefined,
            // Past any re-send the gone bot made: each send of a job is its own nonce on the worker.
            firstAttempt: 50,
          }),
        );
        settled = settle(result, decision, host, line, who, '', note);
      } catch (err) {
        const message = (err as Error).message;
        settled = {
          msg: render(host, line, who, '', `failed after the bot restarted: ${message}`),
          outcome: { status: 'failed', host, rule: decision.rule, summary: message },
        };
      }
    }
    await show(settled.msg).catch((err: Error) =>
      deps.logger.warn({ event: 'recover_unshown', err: err.message }, 'a recovered command could not be shown'),
    );
    await deps.journal?.commands
      .update(entry.requestId, { state: 'done', jobHandle: settled.outcome.jobHandle })
      .catch(journalFailed);
    return settled.outcome;
  }

  return {
    name: 'run',
    description: 'Run an allow-listed diagnostic command on a host or many (db[1-12], @group, all)',
    recover,
    usage: '<targets> <command> [| grep PATTERN]',
    async handle(inv) {
      const text = inv.text.trim();
      const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text);
      const first = m?.[1];
      const rest = (m?.[2] ?? '').trim();
      if (!first || first === 'help') return help(inv, rest && HOST_RE.test(rest) ? rest : undefined);
      if (first === 'hosts' && rest === '') return hosts(inv);
      if (!isSingleHost(first) && TARGET_RE.test(first) && rest)
        return runFanout(
          {
            dispatcher: deps.dispatcher,
            policy: deps.policy,
            limiter: deps.limiter,
            logger: deps.logger,
            fanout: deps.fanout ?? 64,
            messageChars: deps.fanoutChars ?? 3500,
            updateEveryMs,
            extraTimeoutMs: deps.extraTimeoutMs ?? 10_000,
          },
          inv,
          first,
          rest,
        );
      if (!TARGET_RE.test(first)) {
        await inv.reply.ephemeral(
          textMessage(`Refused: \`${first.slice(0, 64)}\` is not a host name.\nUsage: ${USAGE}`),
        );
        return { status: 'refused', summary: 'bad host name' };
      }
      if (!rest) {
        await inv.reply.ephemeral(textMessage(`Refused: what should run on ${first}?\nUsage: ${USAGE}`));
        return { status: 'refused', summary: 'no command' };
      }
      return run(inv, first, rest);
    },
  };
}
