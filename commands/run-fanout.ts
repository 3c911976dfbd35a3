/**
 * `/run <targets> <command line>` over many hosts: the target word resolves
 * to hosts, the policy decides for each host on its own, every allowed host
 * gets its own signed job (at most GEAROPS_FANOUT at once, each with its own
 * time limit; run-fanout-host.ts), and one channel message counts the hosts as
 * they answer, then gathers identical answers under folded host names,
 * failures first (run-fanout-render.ts).
 */
import { tryAuthorize } from '../src/core/authorize.js';
import { textMessage } from '../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { HostInfo } from '../src/core/ports/dispatcher.js';
import type { Policy, RunDecision } from '../src/core/ports/policy.js';
import type { MessageRef } from '../src/core/ports/chat.js';
import { mapLimit } from '../src/core/fanout.js';
import { gather, prefixedOutput } from '../src/core/gather.js';
import { foldNodeSet } from '../src/core/nodeset.js';
import { describeGroups, resolveTargets, workerGroups, type TargetContext } from '../src/core/targets.js';
import { formatDuration, mention } from './shared.js';
import { deniedHost, noWorker, runFanoutHost, type FanoutHostDeps, type HostResult } from './run-fanout-host.js';
import { fanoutFinal, fanoutProgress, summaryBlocks, type FanoutView } from './run-fanout-render.js';

/** What the fan-out needs (a subset of /run's dependencies). */
export interface FanoutDeps extends FanoutHostDeps {
  policy: Policy;
  /** Host jobs in flight at once (GEAROPS_FANOUT). */
  fanout: number;
  /** Gathered output longer than this goes up as a file; the message keeps a summary. */
  messageChars: number;
  updateEveryMs: number;
}

/** Default policy cap when a decision carries none (policies written before max_hosts). */
const DEFAULT_MAX_HOSTS = 100;

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

/** The hosts a fan-out reaches and the policy's word on each; or the refusal the requester alone is told. */
type FanoutPlan =
  | { refused: CommandOutcome }
  | {
      hosts: string[];
      notLive: Set<string>;
      allowed: Array<{ host: string; d: RunDecision }>;
      denials: HostResult[];
    };

/** Resolves the target word and asks the policy for each host; refuses what no host or max_hosts allows. */
async function planFanout(deps: FanoutDeps, inv: CommandInvocation, word: string, line: string): Promise<FanoutPlan> {
  const live = await deps.dispatcher.hosts();
  const ctx = targetContext(deps.policy, live);
  const targets = resolveTargets(word, ctx);
  const liveList = ctx.live.length ? `${foldNodeSet(ctx.live)} (${ctx.live.length})` : 'none';
  if (targets.hosts.length === targets.notLive.length) {
    const named = targets.hosts.length ? ` (it names ${foldNodeSet(targets.hosts)})` : '';
    await inv.reply.ephemeral(textMessage(`\`${word}\` matches no live host${named}. Live hosts: ${liveList}.`));
    return { refused: { status: 'refused', summary: `no live host matches ${word}` } };
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
    return { refused: { status: 'refused', rule, summary: why } };
  }
  const denials = decisions.flatMap(({ host, a }) => (a.ok ? [] : [deniedHost(host, a.denial)]));
  return { hosts: targets.hosts, notLive: new Set(targets.notLive), allowed, denials };
}

/** Runs the fan-out for an already split target word and command line. */
export async function runFanout(
  deps: FanoutDeps,
  inv: CommandInvocation,
  word: string,
  line: string,
): Promise<CommandOutcome> {
  const plan = await planFanout(deps, inv, word, line);
  if ('refused' in plan) return plan.refused;
  const { hosts, notLive, allowed, denials } = plan;
  const who = mention(inv.principal.userId);
  const title = `${who} ran \`${line}\` on *${foldNodeSet(hosts)}* (${hosts.length} hosts)`;
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
      summary: `denied on ${foldNodeSet(hosts)}`,
      jobs: denials.map((r) => r.outcome),
    };
  }

  const started = Date.now();
  const view: FanoutView = { line, word, title, hosts, started };
  const results = new Map<string, HostResult>(denials.map((r) => [r.host, r]));
  let ref: MessageRef | null = null;
  let finished = false;
  let pending: ReturnType<typeof setTimeout> | null = null;
  let lastUpdate = 0;
  const push = () => {
    pending = null;
    if (finished || !ref) return;
    lastUpdate = Date.now();
    void inv.reply
      .update(ref, fanoutProgress(view, results))
      .catch((err) => deps.logger.warn({ err }, 'fan-out update failed'));
  };
  const changed = () => {
    if (pending || finished) return;
    pending = setTimeout(push, Math.max(0, deps.updateEveryMs - (Date.now() - lastUpdate)));
  };
  ref = await inv.reply.post(fanoutProgress(view, results));

  await mapLimit(allowed, deps.fanout, async ({ host, d }) => {
    const r = notLive.has(host) ? noWorker(host, d) : await runFanoutHost(deps, inv, host, line, d);
    results.set(host, r);
    changed();
  });
  finished = true;
  if (pending) clearTimeout(pending);

  const all = hosts.map((h) => results.get(h)!);
  const failed = all.filter((r) => r.failed).length;
  const rules = [...new Set(allowed.map(({ d }) => d.rule).filter(Boolean))];
  const status = `${all.length} hosts: ${all.length - failed} ok · ${failed} failed · ${formatDuration(Date.now() - started)} · rule ${rules.join(', ')}`;
  const { msg, fits } = fanoutFinal(view, gather(all), status, deps.messageChars);
  await inv.reply.update(ref, msg);
  if (!fits) {
    await inv.reply.upload(ref, {
      filename: `${line.split(' ')[0]}-${all.length}-hosts-${new Date(started).toISOString().replace(/[:.]/g, '-')}.txt`,
      content: prefixedOutput(all),
      title: `${foldNodeSet(hosts)}: ${line}`,
    });
  }
  const everyDenied = all.every((r) => r.outcome.status === 'denied');
  return {
    status: failed === 0 ? 'ok' : everyDenied ? 'denied' : 'failed',
    summary: `${foldNodeSet(hosts)}: ${all.length - failed} ok, ${failed} failed`,
    rule: rules.join(',') || undefined,
    durationMs: Date.now() - started,
    jobs: all.map((r) => r.outcome),
  };
}
