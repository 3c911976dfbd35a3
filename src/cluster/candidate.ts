/**
 * Which replica replaces a lost master, pure. A candidate is a reachable replica of the master whose SQL thread
 * can still apply what it received (no SQL error) and that replicates by GTID. The most advanced GTID it
 * *received* (Gtid_IO_Pos) wins: what is in its relay log will be applied before it is promoted. Among equals,
 * the one with the least relay log left to apply (fewest transactions received but not executed, then the
 * smaller Relay_Log_Space) is ready soonest. `to=` names one; it must be a candidate itself.
 */
import { compareGtids, gtidDistance, missingFrom, positionOf, type GtidRange } from '../core/gtid.js';
import type { NodeStatus } from '../core/ports/replication.js';
import type { ClusterNode } from '../core/ports/store.js';

/** What candidate choice knows of one replica. */
export interface ReplicaPosition {
  node: ClusterNode;
  status: NodeStatus;
  /** GTIDs received (MariaDB's Gtid_IO_Pos); null when unknown. */
  received: string | null;
  /** GTIDs executed (@@gtid_slave_pos). */
  executed: string | null;
  /** Replication by GTID (Using_Gtid Slave_Pos or Current_Pos); false: by file and position. */
  usingGtid: boolean;
  /** Relay_Log_Space in bytes, when known. */
  relayLogSpace?: number | null;
}

/** The choice, or why none could be made. */
export type CandidateChoice =
  | {
      ok: true;
      chosen: ReplicaPosition;
      /** The other replicas that will be repointed to it. */
      others: ReplicaPosition[];
      /** Replicas that cannot be chosen, and why. */
      excluded: Array<{ node: string; why: string }>;
      /** Per other replica, what it received that the chosen one never got (empty when none). */
      lostOnChosen: Array<{ node: string; ranges: GtidRange[] }>;
    }
  | { ok: false; reason: string; excluded: Array<{ node: string; why: string }> };

/** `host:port` of a node, as `to=` names it. */
export const nodeKey = (n: Pick<ClusterNode, 'host' | 'port'>): string => `${n.host}:${n.port}`;

/** Why a replica cannot be promoted, or null when it can. */
export function whyNotCandidate(r: ReplicaPosition): string | null {
  const s = r.status;
  if (!s.reachable) return `cannot be reached (${s.error ?? 'no answer'})`;
  if (!s.isReplica) return 'is not a replica';
  if ((s.lastSqlErrno ?? 0) > 0) return `its SQL thread failed (error ${s.lastSqlErrno}: ${s.lastSqlError ?? ''})`;
  if (s.sqlRunning !== 'Yes') return 'its SQL thread is stopped: it would not apply its relay log';
  if (!r.usingGtid) return 'replicates by binlog file and position, not by GTID';
  return null;
}

/** The total of a position's sequence numbers: an order consistent with "behind" over every domain. */
const weight = (g: string | null): bigint => [...positionOf(g).values()].reduce((t, x) => t + x.seq, 0n);
const receivedOf = (r: ReplicaPosition) => r.received ?? r.executed;

/** Orders candidates best first: most advanced received GTID, then least to apply, then smallest relay log. */
export function rankCandidates(cands: ReplicaPosition[]): ReplicaPosition[] {
  return [...cands].sort((a, b) => {
    const ra = receivedOf(a);
    const rb = receivedOf(b);
    const cmp = compareGtids(ra, rb);
    if (cmp === 'ahead') return -1;
    if (cmp === 'behind') return 1;
    if (cmp === 'incomparable') {
      const wa = weight(ra);
      const wb = weight(rb);
      if (wa !== wb) return wa > wb ? -1 : 1;
    }
    const ua = gtidDistance(a.executed, ra);
    const ub = gtidDistance(b.executed, rb);
    if (ua !== ub) return ua < ub ? -1 : 1;
    return (a.relayLogSpace ?? 0) - (b.relayLogSpace ?? 0);
  });
}

/** Chooses the replica to promote among `replicas` (the lost master's), or the one `to` names. */
export function chooseCandidate(replicas: ReplicaPosition[], to?: string): CandidateChoice {
  const excluded: Array<{ node: string; why: string }> = [];
  const cands: ReplicaPosition[] = [];
  for (const r of replicas) {
    const why = whyNotCandidate(r);
    if (why) excluded.push({ node: nodeKey(r.node), why });
    else cands.push(r);
  }
  let chosen: ReplicaPosition | undefined;
  if (to) {
    chosen = cands.find((c) => nodeKey(c.node) === to || `${c.node.address}:${c.node.port}` === to);
    if (!chosen) {
      const ex = excluded.find((x) => x.node === to);
      const known = replicas.some((r) => nodeKey(r.node) === to || `${r.node.address}:${r.node.port}` === to);
      const reason = ex
        ? `${to} cannot be promoted (${ex.why})`
        : known
          ? `${to} cannot be promoted`
          : `${to} is not a replica of this cluster's master (replicas: ${replicas.map((r) => nodeKey(r.node)).join(', ') || 'none'})`;
      return { ok: false, reason, excluded };
    }
  } else {
    chosen = rankCandidates(cands)[0];
    if (!chosen)
      return {
        ok: false,
        reason: `no replica can be promoted: ${excluded.map((x) => `${x.node} ${x.why}`).join('; ') || 'the master has no replica'}`,
        excluded,
      };
  }
  const others = replicas.filter((r) => r !== chosen);
  const lostOnChosen = others
    .map((o) => ({ node: nodeKey(o.node), ranges: missingFrom(receivedOf(o), receivedOf(chosen)) }))
    .filter((x) => x.ranges.length > 0);
  return { ok: true, chosen, others, excluded, lostOnChosen };
}

/**
 * The replica a master-lost alert offers to promote, from the monitor's statuses alone (executed GTID as the
 * position; the press re-checks everything with the full state); undefined when none could be.
 */
export function promoteCandidate(nodes: ClusterNode[], statuses: Array<NodeStatus | undefined>): string | undefined {
  const replicas: ReplicaPosition[] = [];
  nodes.forEach((node, i) => {
    const status = statuses[i];
    if (node.role !== 'replica' || !status) return;
    replicas.push({ node, status, received: status.gtid ?? null, executed: status.gtid ?? null, usingGtid: true });
  });
  const c = chooseCandidate(replicas);
  return c.ok ? nodeKey(c.chosen.node) : undefined;
}

/** Names a journaled address:port as the record shows the node (host:port); unknown ones as they are. */
export const nodeNamer =
  (c: { nodes: ClusterNode[] }) =>
  (addrPort: string): string => {
    const n = c.nodes.find((x) => `${x.address}:${x.port}` === addrPort);
    return n ? nodeKey(n) : addrPort;
  };
