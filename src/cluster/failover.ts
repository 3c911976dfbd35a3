/**
 * Failover: a lost master replaced by its most advanced replica, over the ports only (cluster store, probe,
 * replication control, change journal, pool). Used by `/replica failover`, the alert's Promote button and the
 * monitor's automatic failover. The steps, each journaled and reported with its time:
 *   chosen → relay_applied → others_detached → promoted → repointed → pool → recorded → done.
 * It acts only on a master confirmed lost (master-loss.ts) and refuses one that answers. The chosen replica is
 * made writable only once every other replica is detached from the dead master (pointed at the chosen one, not
 * started), so no instant has two writable masters or a replica fed by two. A run cut half-way (the bot killed)
 * leaves its journal row running; running the failover again finishes it, every step re-derived from what the
 * servers say (failover-steps.ts), so a step already done is done again harmlessly or skipped.
 */
import { ErrorCode, isGearopsError } from '../errors.js';
import { describeRanges } from '../core/gtid.js';
import type { ClusterRecord, TopologyChange } from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { chooseCandidate, nodeKey, nodeNamer } from './candidate.js';
import { confirmMasterLost } from './master-loss.js';
import {
  finishFailover,
  positionsOf,
  type FailoverDeps,
  type FailoverResult,
  type FailoverStep,
  type Reporter,
} from './failover-steps.js';
import { withTopologyLock } from './topology-lock.js';
import { resolveNode } from './node-spec.js';
import { resumeFailover } from './failover-resume.js';

export type { FailoverDeps, FailoverResult, FailoverStep } from './failover-steps.js';

/** How one failover is asked for. */
export interface FailoverOptions {
  /** The replica to promote: host:port, address:port or its host name alone (node-spec.ts); default the best. */
  to?: string;
  /** Who asked (a Slack user id, or `monitor`). */
  actor: string;
  automatic: boolean;
  /** Posts one line of the story (the alert thread, the command's thread); never throws into the sequence. */
  report: (text: string) => Promise<void>;
  /** Where the story is told, kept in the journal (fencing tells a returning old master there). */
  thread?: { channel: string; ts: string };
}

const refuse = (summary: string): FailoverResult => ({ ok: false, refused: true, summary });

/**
 * Runs, or finishes, the failover of `clusterName`, holding the cluster's topology-change lock throughout: while
 * another instance (or command) holds it, refuses at once and changes nothing. Throws only what the bot dying would
 * (the test hook).
 */
export async function runFailover(
  deps: FailoverDeps,
  clusterName: string,
  o: FailoverOptions,
): Promise<FailoverResult> {
  return withTopologyLock(
    deps.locks,
    deps.journal,
    clusterName,
    (busy) => refuse(`not failing over ${clusterName}: ${busy}`),
    () => failOver(deps, clusterName, o),
  );
}

/**
 * The failover, under the lock. About 80 lines: the refusals before any step (cut run, confirmation of the loss,
 * nodes its worker cannot change, the candidate), each beside its reason, then the steps.
 */
async function failOver(deps: FailoverDeps, clusterName: string, o: FailoverOptions): Promise<FailoverResult> {
  const tell = reporterOf(deps, o.report);
  const c = await deps.clusters.get(clusterName);
  if (!c) return refuse(`no cluster named ${clusterName}`);
  if ((c.state ?? 'ready') !== 'ready') return refuse(`cluster ${clusterName} is ${c.state}, not ready`);
  const running = await deps.journal.running(clusterName);
  if (running && running.kind !== 'failover')
    return refuse(
      `cluster ${clusterName} has a ${running.kind} running (#${running.id} by ${running.actor}, at step ${running.step}): ` +
        'it must end first',
    );
  // to= names a node by host:port, address:port or its host name alone (node-spec.ts).
  const asked = o.to ? resolveNode(c, o.to) : undefined;
  if (asked && !asked.ok) return refuse(`not failing over ${clusterName}: ${asked.reason}`);
  const to = asked?.ok ? asked.node : undefined;
  if (running) {
    if (to && `${to.address}:${to.port}` !== running.to && (await answers(deps, c, running.to)))
      return refuse(
        `failover #${running.id} of ${clusterName} to ${nodeNamer(c)(running.to)} did not finish: run it again without to= to finish it`,
      );
    await tell(
      `↻ finishing failover #${running.id} (started ${running.startedAt.toISOString()} by ${running.actor}, stopped after step ${running.step})`,
    );
    return resumeFailover(deps, c, running, tell, { actor: o.actor, ...(to ? { to } : {}) });
  }

  const master = c.nodes.find((n) => n.role === 'master');
  if (!master) return refuse(`cluster ${clusterName} has no master on record`);
  // A replica the control cannot change (read through a worker that does no topology changes) could be neither
  // chosen nor repointed and would be left behind: refuse before anything changes, naming it and its worker.
  const cannot = await Promise.all(
    c.nodes.filter((n) => n !== master).map((n) => deps.control.problem?.(nodeAddress(c, n))),
  );
  if (cannot.some(Boolean)) return refuse(`not failing over ${clusterName}: ${cannot.filter(Boolean).join('; ')}`);
  const addr = (n: (typeof c.nodes)[number]) => nodeAddress(c, n);
  const read = () => Promise.all(c.nodes.map((n) => deps.probe.status(addr(n))));
  const loss = await confirmMasterLost(c.nodes, read, {
    failcount: deps.failcount ?? 3,
    intervalMs: deps.intervalMs ?? 1000,
  });
  if (!loss.confirmed) {
    const hint = loss.last.masterAnswers ? ' A master that answers is changed with /replica switchover.' : '';
    return refuse(`not failing over ${clusterName}: ${loss.last.reason}.${hint}`);
  }
  const replicas = c.nodes.filter((n) => n !== master && n.role === 'replica');
  const positions = await positionsOf(deps, c, replicas);
  const choice = chooseCandidate(positions, to && nodeKey(to));
  if (!choice.ok) return refuse(`not failing over ${clusterName}: ${choice.reason}`);
  const chosen = choice.chosen.node;
  const lost = choice.lostOnChosen.map((x) => `${x.node}: ${describeRanges(x.ranges)}`);
  let change: TopologyChange;
  try {
    change = await deps.journal.begin({
      cluster: c.name,
      kind: 'failover',
      from: `${master.address}:${master.port}`,
      to: `${chosen.address}:${chosen.port}`,
      actor: o.actor,
      step: 'chosen',
      detail: {
        automatic: o.automatic,
        confirmedBy: loss.last.confirming,
        held: loss.held,
        positions: Object.fromEntries(positions.map((p) => [nodeKey(p.node), p.received ?? p.executed])),
        lostOnChosen: lost,
        ...(o.thread ? { thread: o.thread } : {}),
      },
    });
  } catch (err) {
    if (isGearopsError(err, ErrorCode.Conflict)) return refuse(err.message);
    throw err;
  }
  await tell(
    `✓ master ${nodeKey(master)} confirmed lost (${loss.held} probe(s) in a row: ${loss.last.confirming.join(', ')} cannot reach it either); ` +
      `promoting ${nodeKey(chosen)}${to ? ' (asked for)' : ' (most advanced GTID)'} — failover #${change.id}` +
      (choice.excluded.length
        ? `; not candidates: ${choice.excluded.map((x) => `${x.node} ${x.why}`).join('; ')}`
        : ''),
  );
  if (lost.length)
    await tell(
      `⚠ transactions other replicas received that ${nodeKey(chosen)} never got (they are lost): ${lost.join('; ')}`,
    );
  await deps.afterStep?.('chosen');
  return finishFailover(deps, c, change, tell, { actor: o.actor });
}

/** Whether the node journaled as `addrPort` answers the probe now. */
async function answers(deps: FailoverDeps, c: ClusterRecord, addrPort: string): Promise<boolean> {
  const n = c.nodes.find((x) => `${x.address}:${x.port}` === addrPort);
  return !!n && (await deps.probe.status(nodeAddress(c, n))).reachable;
}

/** Lines of the story with the time they happened; a report that fails is logged, never fatal. */
function reporterOf(deps: FailoverDeps, report: (text: string) => Promise<void>): Reporter {
  return async (text: string) => {
    const t = (deps.now?.() ?? new Date()).toISOString().slice(11, 19);
    await report(`\`${t}Z\` ${text}`).catch((err) => deps.logger.warn({ err }, 'failover report failed'));
  };
}

/** Steps in order (for explaining a journal row). */
export const FAILOVER_STEPS: FailoverStep[] = [
  'chosen',
  'relay_applied',
  'others_detached',
  'promoted',
  'repointed',
  'pool',
  'recorded',
];

/** What `/replica status` says of a failover that did not finish. */
export function explainFailover(ch: TopologyChange, names: (addrPort: string) => string = (s) => s): string {
  const at = FAILOVER_STEPS.indexOf(ch.step as FailoverStep);
  const next = FAILOVER_STEPS[at + 1];
  const promoted = at >= FAILOVER_STEPS.indexOf('promoted');
  return (
    `⚠ failover #${ch.id} from ${names(ch.from)} to ${names(ch.to)} (started ${ch.startedAt.toISOString()} by ${ch.actor}) ` +
    `stopped after step *${ch.step}* (${ch.updatedAt.toISOString()})${next ? `, before *${next}*` : ''}: ` +
    (promoted
      ? `${names(ch.to)} is already the writable master; `
      : `${names(ch.to)} is not writable yet and no server is writable; `) +
    `/replica failover ${ch.cluster} finishes it.`
  );
}
