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
import type { Dispatcher } from '../src/core/ports/dispatcher.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import type { MessageRef } from '../src/core/ports/chat.js';
import { formatDuration, mention, policyPrincipal, requesterOf } from './shared.js';
import type { RunValue } from '../src/worker/capabilities/run.js';
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
  /** The bot's version: `/run hosts` marks workers that run another one. */
  version?: string;
}

const USAGE = '/run <host> <command> [| grep PATTERN]   ·   /run hosts   ·   /run help [host]';
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

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
          rows: list.map((h, i) => [h.host, versions[i]!.label, h.capabilities.join(', '), h.servers.join(', ')]),
        },
        ...(note ? [{ type: 'context' as const, text: note }] : []),
      ],
    });
    return { status: 'ok', summary: `${list.length} hosts` };
  }

  async function run(inv: CommandInvocation, host: string, line: string): Promise<CommandOutcome> {
    const decision = deps.policy.checkRun({ host, principal: policyPrincipal(inv.principal), line });
    if (!decision.allow) {
      await inv.reply.ephemeral(textMessage(`Denied: ${decision.reason}`));
      return { status: 'denied', rule: decision.rule, host, summary: decision.reason };
    }
    try {
      // An unknown or stopped host is the requester's mistake: answer them alone, post nothing in the channel.
      await deps.dispatcher.reachable(host, 'run');
    } catch (err) {
      const message = (err as Error).message;
      await inv.reply.ephemeral(textMessage(`Failed: ${message}`));
      return { status: 'failed', host, rule: decision.rule, summary: message };
    }
    const who = mention(inv.principal.userId);
    let ref: MessageRef | null = null;
    let output = '';
    let lastUpdate = 0;
    let pending: ReturnType<typeof setTimeout> | null = null;
    let finished = false;
    const started = Date.now();

    const push = () => {
      pending = null;
      if (finished || !ref) return;
      lastUpdate = Date.now();
      void inv.reply
        .update(ref, render(host, line, who, output, `running for ${formatDuration(Date.now() - started)}…`))
        .catch((err) => deps.logger.warn({ err }, 'stream update failed'));
    };
    const onOutput = (text: string) => {
      output += text;
      if (pending || finished) return;
      pending = setTimeout(push, Math.max(0, updateEveryMs - (Date.now() - lastUpdate)));
    };

    let queuedNote: string | null = null;
    try {
      const result = await deps.limiter.schedule(
        host,
        async () => {
          if (queuedNote && ref) await inv.reply.update(ref, render(host, line, who, '', 'starting…'));
          else ref = await inv.reply.post(render(host, line, who, '', 'starting…'));
          return deps.dispatcher.submit<RunValue>({
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
          });
        },
        (position) => {
          queuedNote = `queued: ${host} is busy, ${position} job(s) waiting`;
          void inv.reply.post(render(host, line, who, '', queuedNote)).then((r) => {
            ref = r;
          });
        },
      );
      finished = true;
      if (pending) clearTimeout(pending);
      const doneRef = ref as MessageRef | null;
      if (!result.ok || !result.value) {
        const reason = result.error?.message ?? 'the worker returned no result';
        const denied = result.error?.code === ErrorCode.PolicyDenied;
        if (doneRef)
          await inv.reply.update(
            doneRef,
            render(host, line, who, output, `${denied ? 'denied by the worker' : 'failed'}: ${reason}`),
          );
        return {
          status: denied ? 'denied' : 'failed',
          host,
          jobHandle: result.handle,
          summary: reason,
          rule: typeof result.error?.data?.rule === 'string' ? result.error.data.rule : decision.rule,
        };
      }
      const v = result.value;
      const final = v.output;
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
      const clean = redactSecrets(stripAnsi(final));
      if (doneRef) {
        await inv.reply.update(doneRef, render(host, line, who, clean.length === 0 ? '(no output)' : clean, status));
        if (clean.length > previewChars) {
          await inv.reply.upload(doneRef, {
            filename: `${host}-${line.split(' ')[0]}-${new Date(started).toISOString().replace(/[:.]/g, '-')}.txt`,
            content: clean,
            title: `${host}: ${line}`,
          });
        }
      }
      const ok =
        !v.timedOut &&
        v.signal === null &&
        (v.exitCode === 0 || (v.exitCode === 1 && (decision.pipeline?.length ?? 1) > 1));
      return {
        status: ok ? 'ok' : 'failed',
        host,
        jobHandle: result.handle,
        exitCode: v.exitCode,
        durationMs: v.durationMs,
        outputBytes: v.outputBytes,
        rule: v.rule ?? decision.rule,
        summary: status,
      };
    } catch (err) {
      finished = true;
      if (pending) clearTimeout(pending);
      const message = isGearopsError(err) ? err.message : (err as Error).message;
      const doneRef = ref as MessageRef | null;
      if (doneRef)
        await inv.reply.update(doneRef, render(host, line, who, output, `failed: ${message}`)).catch(() => undefined);
      else await inv.reply.ephemeral(textMessage(`Failed: ${message}`));
      return { status: 'failed', host, rule: decision.rule, summary: message };
    }
  }

  return {
    name: 'run',
    description: 'Run an allow-listed diagnostic command on a host',
    usage: '<host> <command> [| grep PATTERN]',
    async handle(inv) {
      const text = inv.text.trim();
      const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text);
      const first = m?.[1];
      const rest = (m?.[2] ?? '').trim();
      if (!first || first === 'help') return help(inv, rest && HOST_RE.test(rest) ? rest : undefined);
      if (first === 'hosts' && rest === '') return hosts(inv);
      if (!HOST_RE.test(first)) {
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
