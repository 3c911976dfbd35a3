/**
 * What a switchover may do, decided from the nodes' GTID state before anything changes (pure): every node must
 * answer (directly, or through its host's worker) and replicate by GTID; the target must be a healthy replica of the master within
 * the lag threshold, with the binary log others will read from it. Without `to=`, the most up-to-date healthy
 * replica is picked (most advanced gtid_slave_pos, then the least relay log left to apply).
 */
import type { ClusterNode, ClusterRecord } from '../core/ports/store.js';
import type { GtidState } from '../core/ports/replication-control.js';
import { compareGtid, parseGtidPosition } from '../core/gtid.js';

/** address:port, as journals, pool rows and `to=` name a node. */
export const nodeKey = (n: { address: string; port: number }): string => `${n.address}:${n.port}`;

/** A node's state as read: its GTID state, or why it could not be read. */
export type NodeReading = { node: ClusterNode; state: GtidState } | { node: ClusterNode; error: string };

/** An accepted plan. */
export interface SwitchoverPlan {
  master: ClusterNode;
  target: ClusterNode;
  /** Every node but the master and the target: each is pointed at the target. */
  others: ClusterNode[];
  /** The states the plan was made from, by nodeKey. */
  states: Map<string, GtidState>;
  /** Why this target, for the thread. */
  why: string;
}

const isHealthy = (s: GtidState) =>
  s.ioRunning === 'Yes' && s.sqlRunning === 'Yes' && !s.lastIoError && !s.lastSqlError;

/** Why `s` cannot be the new master (null when it can): a reason people act on. */
export function targetProblem(n: ClusterNode, s: GtidState, master: ClusterNode, lagThresholdS: number): string | null {
  const name = nodeKey(n);
  if (!s.replicating || !s.master) return `${name} does not replicate`;
  if (`${s.master.host}:${s.master.port}` !== nodeKey(master))
    return `${name} replicates from ${s.master.host}:${s.master.port}, not from the master ${nodeKey(master)}`;
  if (!isHealthy(s))
    return `${name} does not replicate cleanly (IO ${s.ioRunning ?? '?'}, SQL ${s.sqlRunning ?? '?'}${s.lastIoError ? `, ${s.lastIoError}` : ''}${s.lastSqlError ? `, ${s.lastSqlError}` : ''})`;
  if (s.secondsBehind === null || s.secondsBehind > lagThresholdS)
    return `${name} is ${s.secondsBehind ?? 'an unknown number of'} s behind (GEAROPS_LAG_THRESHOLD_S is ${lagThresholdS})`;
  if (!s.logBin || !s.logSlaveUpdates)
    return `${name} has no ${!s.logBin ? 'log_bin' : 'log_slave_updates'}: the others could not replicate from it`;
  return null;
}

/**
 * Checks the cluster and picks the target. `to` is address:port (or host:port as recorded). Returns the plan, or
 * every reason to refuse (nothing has changed then).
 */
export function planSwitchover(
  c: ClusterRecord,
  readings: NodeReading[],
  opts: { to?: string; lagThresholdS: number },
): { ok: true; plan: SwitchoverPlan } | { ok: false; reasons: string[] } {
  const reasons: string[] = [];
  const states = new Map<string, GtidState>();
  for (const r of readings) {
    if ('error' in r) reasons.push(`${nodeKey(r.node)} does not answer: ${r.error}`);
    else states.set(nodeKey(r.node), r.state);
  }
  if (c.nodes.length < 2) reasons.push(`cluster ${c.name} has a single node`);
  const masters = c.nodes.filter((n) => n.role === 'master');
  const master = masters[0];
  if (masters.length !== 1 || !master) reasons.push(`cluster ${c.name} has ${masters.length} masters on record`);
  if (reasons.length || !master) return { ok: false, reasons };
  const ms = states.get(nodeKey(master))!;
  if (ms.replicating)
    reasons.push(`the master ${nodeKey(master)} itself replicates from ${ms.master?.host}:${ms.master?.port}`);
  if (ms.readOnly) reasons.push(`the master ${nodeKey(master)} is read-only already (a change cut half-way?)`);
  if (!ms.logBin) reasons.push(`the master ${nodeKey(master)} has no binary log`);
  for (const n of c.nodes) {
    if (n === master) continue;
    const s = states.get(nodeKey(n))!;
    if (!s.replicating) reasons.push(`${nodeKey(n)} does not replicate (a second master?)`);
    else if (s.usingGtid !== 'Slave_Pos' && s.usingGtid !== 'Current_Pos')
      reasons.push(`${nodeKey(n)} replicates by binlog file and position, not GTID (Using_Gtid ${s.usingGtid})`);
  }
  if (reasons.length) return { ok: false, reasons };
  const candidates = c.nodes.filter((n) => n !== master);
  let target: ClusterNode | undefined;
  let why: string;
  if (opts.to) {
    target = c.nodes.find((n) => nodeKey(n) === opts.to || `${n.host}:${n.port}` === opts.to);
    if (!target) return { ok: false, reasons: [`${opts.to} is not a node of cluster ${c.name}`] };
    if (target === master) return { ok: false, reasons: [`${opts.to} is the master already`] };
    const p = targetProblem(target, states.get(nodeKey(target))!, master, opts.lagThresholdS);
    if (p) return { ok: false, reasons: [p] };
    why = 'asked for';
  } else {
    const fit = candidates.filter((n) => !targetProblem(n, states.get(nodeKey(n))!, master, opts.lagThresholdS));
    if (!fit.length)
      return {
        ok: false,
        reasons: candidates.map((n) => targetProblem(n, states.get(nodeKey(n))!, master, opts.lagThresholdS)!),
      };
    const rank = (a: ClusterNode, b: ClusterNode) => {
      const [sa, sb] = [states.get(nodeKey(a))!, states.get(nodeKey(b))!];
      return (
        compareGtid(parseGtidPosition(sb.slavePos), parseGtidPosition(sa.slavePos)) || sa.relayBacklog - sb.relayBacklog
      );
    };
    target = [...fit].sort(rank)[0]!;
    why = fit.length > 1 ? 'the most up-to-date healthy replica' : 'the only healthy replica';
  }
  return { ok: true, plan: { master, target, others: candidates.filter((n) => n !== target), states, why } };
}

/**
 * The cluster's nodes after the switch: the target the master, everyone else (the old master too) its replica.
 */
export function switchedNodes(nodes: ClusterNode[], target: ClusterNode): ClusterNode[] {
  return nodes.map(({ replicatesFrom: _was, ...n }) =>
    nodeKey(n) === nodeKey(target)
      ? { ...n, role: 'master' as const }
      : { ...n, role: 'replica' as const, replicatesFrom: nodeKey(target) },
  );
}
