/**
 * Pure fault detection: from the status of every node of a cluster to the
 * faults that are active now. Seconds_Behind_Master is NULL when replication
 * is broken, so lag is judged only on replicas whose threads both run.
 */
import type { NodeStatus } from '../core/ports/replication.js';
import type { ClusterNode, IncidentKind } from '../core/ports/store.js';

/** One active fault of one node. */
export interface Fault {
  host: string;
  port: number;
  role: 'master' | 'replica';
  kind: IncidentKind;
  errno: number | null;
  error: string | null;
  lag: number | null;
}

/** Human wording of each fault kind. */
export const FAULT_TITLES: Record<IncidentKind, string> = {
  io_stopped: 'IO thread stopped',
  sql_stopped: 'SQL thread stopped',
  lag: 'replication lag',
  unreachable: 'node unreachable',
  master_lost: 'master lost (every replica\'s IO thread is failing)',
};

/** Detects the faults of one cluster. */
export function detectFaults(nodes: ClusterNode[], statuses: NodeStatus[], lagThresholdS: number): Fault[] {
  const faults: Fault[] = [];
  const at = (n: ClusterNode, kind: IncidentKind, errno: number | null, error: string | null, lag: number | null = null): Fault => ({ host: n.host, port: n.port, role: n.role, kind, errno, error, lag });
  const master = nodes.findIndex((n) => n.role === 'master');
  const replicas = nodes.map((n, i) => ({ n, s: statuses[i] })).filter((x) => x.n.role === 'replica');
  const ioFailing = (s: NodeStatus | undefined) => !!s && s.reachable && s.ioRunning !== 'Yes';
  const masterLost = master >= 0 && replicas.length > 0 && replicas.every((r) => ioFailing(r.s) && (r.s?.lastIoErrno ?? 0) > 0) && statuses[master]?.reachable === false;

  nodes.forEach((n, i) => {
    const s = statuses[i];
    if (!s) return;
    if (!s.reachable) {
      if (!(masterLost && i === master)) faults.push(at(n, 'unreachable', null, s.error ?? 'no answer'));
      return;
    }
    if (n.role !== 'replica') return;
    if (s.sqlRunning !== 'Yes') faults.push(at(n, 'sql_stopped', s.lastSqlErrno || null, s.lastSqlError || null));
    if (s.ioRunning !== 'Yes' && !masterLost) {
      // "Connecting" with no error is a replica between retries, not yet a fault.
      if (s.ioRunning !== 'Connecting' || (s.lastIoErrno ?? 0) > 0) faults.push(at(n, 'io_stopped', s.lastIoErrno || null, s.lastIoError || null));
    }
    if (s.ioRunning === 'Yes' && s.sqlRunning === 'Yes' && s.secondsBehind !== null && s.secondsBehind > lagThresholdS) {
      faults.push(at(n, 'lag', null, null, s.secondsBehind));
    }
  });
  if (masterLost) {
    const m = nodes[master]!;
    const first = replicas[0]?.s;
    faults.push(at(m, 'master_lost', first?.lastIoErrno ?? null, first?.lastIoError ?? statuses[master]?.error ?? null));
  }
  return faults;
}
