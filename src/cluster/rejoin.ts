/**
 * Rejoin: a former master (or any node of the record that is not the master) made a replica of the current master,
 * but only when everything in its binary log is in the master's: compared by binlog *state* (per domain and
 * server), which also sees a transaction the old master wrote alone before it died at a sequence number the new
 * master has since passed with its own. Otherwise it refuses, naming the diverged GTIDs, and changes nothing.
 * Steps, journaled (kind `rejoin`) and told with their time: read_only=1, pointed at the master with
 * MASTER_USE_GTID=slave_pos (its slave position set from its binlog: it asks for what comes after its own
 * writes), started, and seen replicating. Every step is safe to run again. A node refused for a diverged history
 * is made read_only=1 before the refusal (it may have come back writable): never two writable masters.
 */
import { ErrorCode, isGearopsError } from '../errors.js';
import { describeRanges, missingFrom } from '../core/gtid.js';
import type { NodeAddress } from '../core/ports/replication.js';
import type { GtidState } from '../core/ports/replication-control.js';
import type { ClusterNode, ClusterRecord, TopologyChange } from '../core/ports/store.js';
import { nodeAddress } from '../core/cluster.js';
import { nodeKey } from './candidate.js';
import type { FailoverDeps, Reporter } from './failover-steps.js';
import { withTopologyLock } from './topology-lock.js';
import { resolveNode } from './node-spec.js';

/** What rejoin runs over: the failover's ports. */
export type RejoinDeps = Pick<FailoverDeps, 'clusters' | 'probe' | 'control' | 'journal' | 'locks' | 'logger' | 'now'>;

/** How it ended; `refused`: nothing was changed. */
export interface RejoinResult {
  ok: boolean;
  refused?: boolean;
  summary: string;
  /** The diverged GTID ranges, when refused for them. */
  diverged?: string;
}

/** What a node's binlog holds, per domain and server (@@gtid_binlog_state, else its positions). */
const history = (s: GtidState) => s.binlogState || s.binlogPos || s.currentPos;

/** Checks whether `node` may rejoin; null when it may, else the refusal. */
export async function checkRejoin(
  deps: RejoinDeps,
  node: NodeAddress,
  nodeName: string,
  master: NodeAddress,
  masterName: string,
): Promise<RejoinResult | null> {
  const [ns, ms] = await Promise.all([deps.control.gtidState(node), deps.control.gtidState(master)]);
  const missing = missingFrom(history(ns), history(ms));
  if (!missing.length) return null;
  const diverged = describeRanges(missing);
  return {
    ok: false,
    refused: true,
    diverged,
    summary:
      `not rejoined: ${nodeName} has transactions the master ${masterName} never got: ${diverged}. ` +
      `Its data has diverged; replicating would skip or clash with them. Rebuild it from ${masterName} ` +
      '(a fresh copy), or remove those transactions by hand first.',
  };
}

const refuse = (summary: string): RejoinResult => ({ ok: false, refused: true, summary });

/**
 * Makes `target` (host:port or address:port of a node in the record) a replica of the cluster's master, holding
 * the cluster's topology-change lock throughout (refused at once, nothing changed, while another holds it).
 */
export async function runRejoin(
  deps: RejoinDeps,
  clusterName: string,
  target: string,
  o: { actor: string; report: (text: string) => Promise<void> },
): Promise<RejoinResult> {
  return withTopologyLock(
    deps.locks,
    deps.journal,
    clusterName,
    (busy) => refuse(`not rejoined: ${busy}`),
    () => rejoin(deps, clusterName, target, o),
  );
}

/** The rejoin, under the lock. */
async function rejoin(
  deps: RejoinDeps,
  clusterName: string,
  target: string,
  o: { actor: string; report: (text: string) => Promise<void> },
): Promise<RejoinResult> {
  const tell: Reporter = async (text) => {
    const t = (deps.now?.() ?? new Date()).toISOString().slice(11, 19);
    await o.report(`\`${t}Z\` ${text}`).catch((err) => deps.logger.warn({ err }, 'rejoin report failed'));
  };
  const c = await deps.clusters.get(clusterName);
  if (!c) return refuse(`no cluster named ${clusterName}`);
  const named = resolveNode(c, target);
  if (!named.ok) return refuse(named.reason);
  const node = named.node;
  const master = c.nodes.find((n) => n.role === 'master');
  if (!master) return refuse(`cluster ${clusterName} has no master on record`);
  if (node === master) return refuse(`${target} is the master of ${clusterName}: there is nothing to rejoin`);
  const running = await deps.journal.running(clusterName);
  if (running)
    return refuse(
      `cluster ${clusterName} has a ${running.kind} running (#${running.id}, at step ${running.step}): finish it first` +
        (running.kind === 'failover' ? ` (/replica failover ${clusterName})` : ''),
    );
  const na = nodeAddress(c, node);
  const ma = nodeAddress(c, master);
  let ns: GtidState;
  try {
    ns = await deps.control.gtidState(na);
    await deps.control.gtidState(ma);
  } catch (err) {
    return refuse(`not rejoined: ${(err as Error).message}. Nothing was changed.`);
  }
  if (
    ns.master?.host === master.address &&
    ns.master.port === master.port &&
    ns.ioRunning === 'Yes' &&
    ns.sqlRunning === 'Yes'
  )
    return { ok: true, summary: `${nodeKey(node)} already replicates from ${nodeKey(master)}` };
  const refused = await checkRejoin(deps, na, nodeKey(node), ma, nodeKey(master));
  if (refused) {
    // Refused, but never left writable beside the master: fenced first (a no-op when it is read-only already).
    const fenced = await fence(deps, na, nodeKey(node), ns.readOnly);
    await tell(`${fenced.ok ? '✓' : '⚠'} ${fenced.text}`);
    return { ...refused, summary: `${refused.summary} ${fenced.text}` };
  }

  let change: TopologyChange;
  try {
    change = await deps.journal.begin({
      cluster: c.name,
      kind: 'rejoin',
      from: `${node.address}:${node.port}`,
      to: `${master.address}:${master.port}`,
      actor: o.actor,
      step: 'checked',
      detail: { history: history(ns) },
    });
  } catch (err) {
    if (isGearopsError(err, ErrorCode.Conflict)) return refuse(err.message);
    throw err;
  }
  return rejoinSteps(deps, { c, node, master, ns, change, tell });
}

/** How long fencing waits for running commits when it sets read_only=1, before it ends the writers and retries. */
const FENCE_WAIT_MS = 2000;

/** Makes a node that is refused read_only=1 (idempotent); what to say of it. */
async function fence(
  deps: RejoinDeps,
  a: NodeAddress,
  name: string,
  readOnly: boolean,
): Promise<{ ok: boolean; text: string }> {
  if (readOnly) return { ok: true, text: `${name} stays read_only=1; nothing was changed.` };
  try {
    await deps.control.setReadOnly(a, true, { timeoutMs: FENCE_WAIT_MS }).catch(async () => {
      // A writer's commit holds the read lock: end the writers, then it cannot be held up.
      await deps.control.killWriters(a, { timeoutMs: FENCE_WAIT_MS });
      await deps.control.setReadOnly(a, true, { timeoutMs: FENCE_WAIT_MS });
    });
  } catch (err) {
    return {
      ok: false,
      text:
        `${name} is still WRITABLE beside the master: making it read_only=1 failed (${(err as Error).message}). ` +
        'Set it by hand now (SET GLOBAL read_only=1); nothing else was changed.',
    };
  }
  return {
    ok: true,
    text: `${name} was writable: it was made read_only=1 (fenced), so that the cluster has one writable master; nothing else was changed.`,
  };
}

/** The journaled steps of a rejoin whose containment was checked: read_only, pointed and started, recorded. */
async function rejoinSteps(
  deps: RejoinDeps,
  r: {
    c: ClusterRecord;
    node: ClusterNode;
    master: ClusterNode;
    ns: GtidState;
    change: TopologyChange;
    tell: Reporter;
  },
): Promise<RejoinResult> {
  const { c, node, master, ns, change, tell } = r;
  const na = nodeAddress(c, node);
  let step = 'checked';
  const mark = async (s: string, note: string) => {
    await deps.journal.step(change.id, s, { note });
    step = s;
    await tell(`✓ ${note}`);
  };
  try {
    await tell(`✓ ${nodeKey(node)}'s history (${history(ns) || 'empty'}) is contained in ${nodeKey(master)}'s`);
    if (!ns.readOnly) await deps.control.setReadOnly(na, true);
    await mark('read_only', `${nodeKey(node)} is read_only=1`);
    // A node that was a master has its own writes in its binlog, not in its slave position: start after them.
    const to = { address: master.address, port: master.port };
    await deps.control.pointAt(na, to, { slavePosFromBinlog: !ns.replicating });
    await deps.control.startReplication(na);
    await mark('pointed', `${nodeKey(node)} replicates from ${nodeKey(master)} (MASTER_USE_GTID=slave_pos)`);
    const state = await replicating(deps, na);
    if (state.ioRunning !== 'Yes' || state.sqlRunning !== 'Yes')
      throw new Error(
        `replication did not start: IO ${state.ioRunning ?? '?'}, SQL ${state.sqlRunning ?? '?'}${state.lastIoError ? `, ${state.lastIoError}` : ''}${state.lastSqlError ? `, ${state.lastSqlError}` : ''}`,
      );
    const from = `${master.address}:${master.port}`;
    await deps.clusters.setNodes(
      c.name,
      c.nodes.map((n): ClusterNode => (n === node ? { ...n, role: 'replica', replicatesFrom: from } : n)),
    );
    await deps.journal.finish(change.id, 'done', { note: `${nodeKey(node)} replicates from ${nodeKey(master)}` });
    const summary = `${nodeKey(node)} rejoined ${c.name} as a replica of ${nodeKey(master)} (IO Yes, SQL Yes); it is not in the pool: /pool add it when it has caught up`;
    await tell(`✅ ${summary}`);
    return { ok: true, summary };
  } catch (err) {
    const why = (err as Error).message;
    await deps.journal.finish(change.id, 'failed', { note: `failed after ${step}: ${why}` }).catch(() => false);
    await tell(
      `✗ rejoin of ${nodeKey(node)} stopped after ${step}: ${why}. It stays read_only=1; /replica rejoin tries again.`,
    );
    return { ok: false, summary: `rejoin of ${nodeKey(node)} stopped after ${step}: ${why}` };
  }
}

/** The node's state once both threads run, or after 15 s. */
async function replicating(deps: RejoinDeps, a: NodeAddress): Promise<GtidState> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await deps.control.gtidState(a);
    if ((s.ioRunning === 'Yes' && s.sqlRunning === 'Yes') || s.lastSqlError || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}
