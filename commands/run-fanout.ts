/**
 * `/run <targets> <command line>` over many hosts: the target word resolves
 * to hosts, the policy decides for each host on its own, every allowed host
 * gets its own signed job (at most GEAROPS_FANOUT at once, each with its own
 * time limit), and one channel message counts the hosts as they answer, then
 * gathers identical answers under folded host names, failures first.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, isGearopsError, type GearopsError } from '../src/errors.js';
import { deniedRule, tryAuthorize } from '../src/core/authorize.js';
import type { Block, ChatMessage } from '../src/core/message.js';
import { stripAnsi, textMessage } from '../src/core/message.js';
import { redactSecrets } from '../src/core/redact.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher, HostInfo } from '../src/core/ports/dispatcher.js';
import type { Policy, RunDecision } from '../src/core/ports/policy.js';
import type { MessageRef } from '../src/core/ports/chat.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import { mapLimit } from '../src/core/fanout.js';
import { blockHeader, gather, prefixedOutput, type GatherBlock, type HostAnswer } from '../src/core/gather.js';
import { foldNodeSet } from '../src/core/nodeset.js';
import { describeGroups, resolveTargets, workerGroups, type TargetContext } from '../src/core/targets.js';
import { formatDuration, mention, requesterOf } from './shared.js';

/** What the fan-out needs (a subset of /run's dependencies). */
export interface FanoutDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  limiter: HostLimiter;
  logger: Logger;
  /** Host jobs in flight at once (GEAROPS_FANOUT). */
  fanout: number;
  /** Gathered output longer than this goes up as a file; the message keeps a summary. */
  messageChars: number;
  updateEveryMs: number;
  extraTimeoutMs: number;
}

/** One host's end, for gathering and for its audit row. */
interface HostResult extends HostAnswer {
  outcome: CommandOutcome;
}

/** Default policy cap when a decision carries none (policies written before max_hosts). */
const DEFAULT_MAX_HOSTS = 100;
/** Gathered blocks shown in full at most; past this the message is a summary and the output a file. */
const MAX_BLOCKS = 20;
/** Summary lines shown at most. */
const MAX_SUMMARY_LINES = 40;

/** The groups and live hosts a target word resolves against. */
export function targetContext(policy: Policy, live: HostInfo[]): TargetContext {
  return {
    live: live.filter((h) => h.capabilities.includes('run')).map((h) => h.host),
    policyGroups: policy.hostGroups?.() ?? {},
    workerGroups: workerGroups(live),
  };
}

/** Rows of `/run hosts`'s group table. */
export function groupRows(policy: Policy, live: HostInfo[]): string[][] {
  return describeGroups(targetContext(policy, live)).map((g) => [g.group, g.source, g.members]);
}

/** A denial's reason with the host's own name taken out, so hosts denied alike gather into one block. */
function sameForEveryHost(reason: string, host: string): string {
  const escaped = host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return reason.replace(new RegExp(`(?<![A-Za-z0-9._-])${escaped}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`, 'g'), 'this host');
}

function denied(host: string, denial: GearopsError): HostResult {
  return {
    host,
    failed: true,
    status: `denied: ${sameForEveryHost(denial.message, host)}`,
    output: '',
    outcome: { status: 'denied', host, rule: deniedRule(denial), summary: denial.message },
  };
}

/** Runs the fan-out for an already split target word and command line. */
export async function runFanout(
  deps: FanoutDeps,
  inv: CommandInvocation,
  word: string,
  line: string,
): Promise<CommandOutcome> {
  const live = await deps.dispatcher.hosts();
  const ctx = targetContext(deps.policy, live);
  const targets = resolveTargets(word, ctx);
  const liveList = ctx.live.length ? `${foldNodeSet(ctx.live)} (${ctx.live.length})` : 'none';
  if (targets.hosts.length === targets.notLive.length) {
    const named = targets.hosts.length ? ` (it names ${foldNodeSet(targets.hosts)})` : '';
    await inv.reply.ephemeral(textMessage(`\`${word}\` matches no live host${named}. Live hosts: ${liveList}.`));
    return { status: 'refused', summary: `no live host matches ${word}` };
  }
  const decisions = targets.hosts.map((host) => ({
    host,
    a: tryAuthorize(deps.policy, inv.principal, { run: line, host }),
  }));
  const allowed = decisions.flatMap(({ host, a }) => (a.ok ? [{ host, d: a.decision }] : []));
  // max_hosts is per rule: count the hosts each rule would let this one command reach.
  const perRule = new Map<string, { count: number; max: number }>();
  for (const { d } of allowed) {
    const key = d.rule ?? '?';
    const e = perRule.get(key) ?? { count: 0, max: d.maxHosts ?? DEFAULT_MAX_HOSTS };
    e.count++;
    perRule.set(key, e);
  }
  for (const [rule, { count, max }] of perRule) {
    if (count <= max) continue;
    const why = `\`${line}\` on \`${word}\` would reach ${count} hosts under rule \`${rule}\`, which allows at most ${max} at once (max_hosts); nothing was run — narrow the target`;
    await inv.reply.ephemeral(textMessage(`Refused: ${why}`));
    return { status: 'refused', rule, summary: why };
  }
  const denials = decisions.flatMap(({ host, a }) => (a.ok ? [] : [denied(host, a.denial)]));
  const who = mention(inv.principal.userId);
  const title = `${who} ran \`${line}\` on *${foldNodeSet(targets.hosts)}* (${targets.hosts.length} hosts)`;
  if (allowed.length === 0) {
    // Nothing runs anywhere: like a single-host denial, only the requester hears it.
    const blocks = gather(denials);
    await inv.reply.ephemeral({
      text: `Denied on all ${denials.length} hosts`,
      blocks: [{ type: 'text', text: `Denied on all ${denials.length} hosts:` }, ...summaryBlocks(blocks)],
    });
    return {
      status: 'denied',
      rule: denials[0]?.outcome.rule,
      summary: `denied on ${foldNodeSet(targets.hosts)}`,
      jobs: denials.map((r) => r.outcome),
    };
  }

  const started = Date.now();
  const results = new Map<string, HostResult>(denials.map((r) => [r.host, r]));
  let ref: MessageRef | null = null;
  let finished = false;
  let pending: ReturnType<typeof setTimeout> | null = null;
  let lastUpdate = 0;
  const progress = (): ChatMessage => {
    const failed = [...results.values()].filter((r) => r.failed).length;
    const done = results.size - failed;
    const running = targets.hosts.filter((h) => !results.has(h));
    const waiting = running.length ? ` · waiting for ${foldNodeSet(running)}` : '';
    const status = `${targets.hosts.length} hosts: ${running.length} running · ${done} done · ${failed} failed · ${formatDuration(Date.now() - started)}${waiting}`;
    return {
      text: `${line} on ${word} — ${status}`,
      blocks: [
        { type: 'text', text: title },
        { type: 'context', text: status },
      ],
    };
  };
  const push = () => {
    pending = null;
    if (finished || !ref) return;
    lastUpdate = Date.now();
    void inv.reply.update(ref, progress()).catch((err) => deps.logger.warn({ err }, 'fan-out update failed'));
  };
  const changed = () => {
    if (pending || finished) return;
    pending = setTimeout(push, Math.max(0, deps.updateEveryMs - (Date.now() - lastUpdate)));
  };
  ref = await inv.reply.post(progress());

  const notLive = new Set(targets.notLive);
  await mapLimit(allowed, deps.fanout, async ({ host, d }) => {
    const r = notLive.has(host) ? noWorker(host, d) : await runHost(deps, inv, host, line, d);
    results.set(host, r);
    changed();
  });
  finished = true;
  if (pending) clearTimeout(pending);

  const all = targets.hosts.map((h) => results.get(h)!);
  const blocks = gather(all);
  const failed = all.filter((r) => r.failed).length;
  const rules = [...new Set(allowed.map(({ d }) => d.rule).filter(Boolean))];
  const status = `${all.length} hosts: ${all.length - failed} ok · ${failed} failed · ${formatDuration(Date.now() - started)} · rule ${rules.join(', ')}`;
  const full = fullBlocks(blocks);
  const fits =
    blocks.length <= MAX_BLOCKS &&
    full.reduce((n, b) => n + ('text' in b ? b.text.length : 0), 0) <= deps.messageChars &&
    blocks.every((b) => b.output.length <= 2800);
  const body = fits ? full : summaryBlocks(blocks);
  const note = fits ? '' : ' · the whole output, each line prefixed `host: `, is in the attached file';
  await inv.reply.update(ref, {
    text: `${line} on ${word} — ${status}`,
    blocks: [{ type: 'text', text: title }, ...body, { type: 'context', text: `${status}${note}` }],
  });
  if (!fits) {
    await inv.reply.upload(ref, {
      filename: `${line.split(' ')[0]}-${all.length}-hosts-${new Date(started).toISOString().replace(/[:.]/g, '-')}.txt`,
      content: prefixedOutput(all),
      title: `${foldNodeSet(targets.hosts)}: ${line}`,
    });
  }
  const everyDenied = all.every((r) => r.outcome.status === 'denied');
  return {
    status: failed === 0 ? 'ok' : everyDenied ? 'denied' : 'failed',
    summary: `${foldNodeSet(targets.hosts)}: ${all.length - failed} ok, ${failed} failed`,
    rule: rules.join(',') || undefined,
    durationMs: Date.now() - started,
    jobs: all.map((r) => r.outcome),
  };
}

/** Each gathered block in full: its header, then its output. */
function fullBlocks(blocks: GatherBlock[]): Block[] {
  return blocks.flatMap((b): Block[] => [
    { type: 'text', text: `*${blockHeader(b)}*` },
    ...(b.output ? [{ type: 'code' as const, text: b.output }] : []),
  ]);
}

/** One line per gathered block (no output): for messages whose output went into a file. */
function summaryBlocks(blocks: GatherBlock[]): Block[] {
  const lines = blocks.map((b) => {
    const n = b.output ? b.output.replace(/\n$/, '').split('\n').length : 0;
    return `${blockHeader(b)}${n ? ` · ${n} line${n === 1 ? '' : 's'}` : ''}`;
  });
  const shown = lines.slice(0, MAX_SUMMARY_LINES);
  if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more (see the file)`);
  return [{ type: 'code', text: shown.join('\n') }];
}

function noWorker(host: string, d: RunDecision): HostResult {
  return {
    host,
    failed: true,
    status: 'no worker: not registered on the job servers',
    output: '',
    outcome: { status: 'failed', host, rule: d.rule, summary: `no worker for run@${host}` },
  };
}

/** One host's job, start to end; never throws (a host that fails is an answer, not an error). */
async function runHost(
  deps: FanoutDeps,
  inv: CommandInvocation,
  host: string,
  line: string,
  d: RunDecision,
): Promise<HostResult> {
  const fail = (status: string, summary: string, extra: Partial<CommandOutcome> = {}): HostResult => ({
    host,
    failed: true,
    status,
    output: '',
    outcome: { status: 'failed', host, rule: d.rule, summary, ...extra },
  });
  try {
    const result = await deps.limiter.schedule(host, () =>
      deps.dispatcher.submit({
        capability: 'run',
        host,
        args: { line },
        requester: requesterOf(inv.principal),
        timeoutMs: d.timeoutMs + deps.extraTimeoutMs,
        signal: inv.signal,
      }),
    );
    if (!result.ok || !result.value) {
      const reason = result.error?.message ?? 'the worker returned no result';
      if (result.error?.code === ErrorCode.PolicyDenied) {
        const rule = typeof result.error.data?.rule === 'string' ? result.error.data.rule : d.rule;
        return {
          host,
          failed: true,
          status: `denied by the worker: ${sameForEveryHost(reason, host)}`,
          output: '',
          outcome: { status: 'denied', host, rule, jobHandle: result.handle, summary: reason },
        };
      }
      return fail(`failed: ${reason}`, reason, { jobHandle: result.handle });
    }
    const v = result.value;
    const grepStage = (d.pipeline?.length ?? 1) > 1;
    const ok = !v.timedOut && v.signal === null && (v.exitCode === 0 || (v.exitCode === 1 && grepStage));
    const how = v.timedOut
      ? `killed after its time limit (${formatDuration(d.timeoutMs)})`
      : v.signal
        ? `killed by ${v.signal}`
        : `exit ${v.exitCode}`;
    const status = v.truncated ? `${how} · output cut at ${v.outputBytes} bytes` : how;
    return {
      host,
      failed: !ok,
      status,
      // Credentials in the output never reach the channel, gathered or not.
      output: redactSecrets(stripAnsi(v.output)),
      outcome: {
        status: ok ? 'ok' : 'failed',
        host,
        jobHandle: result.handle,
        exitCode: v.exitCode,
        durationMs: v.durationMs,
        outputBytes: v.outputBytes,
        rule: v.rule ?? d.rule,
        summary: `${how} · ${formatDuration(v.durationMs)}`,
      },
    };
  } catch (err) {
    const message = isGearopsError(err) ? err.message : (err as Error).message;
    if (isGearopsError(err) && err.code === ErrorCode.NoWorker) return { ...noWorker(host, d) };
    if (isGearopsError(err) && err.code === ErrorCode.JobTimeout)
      return fail(`timed out: no answer within ${formatDuration(d.timeoutMs + deps.extraTimeoutMs)}`, message);
    deps.logger.warn({ event: 'fanout_host_failed', host, err: message }, 'a host of a fan-out failed');
    return fail(`failed: ${sameForEveryHost(message, host)}`, message);
  }
}
