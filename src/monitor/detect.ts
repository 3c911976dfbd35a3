/**
 * Pure fault detection: from the status of every node of a cluster (and the
 * incidents already open on it) to the faults that are active now.
 * Seconds_Behind_Master is NULL when replication is broken, so lag is judged
 * only on replicas whose threads both run.
 */
import type { NodeStatus } from '../core/ports/replication.js';
import type { ClusterNode, Incident, IncidentKind } from '../core/ports/store.js';

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

/** What detection needs to know of an incident already open on the cluster. */
export type OpenFault = Pick<Incident, 'host' | 'port' | 'kind' | 'errno' | 'error' | 'lag'>;

/** Human wording of each fault kind. */
export const FAULT_TITLES: Record<IncidentKind, string> = {
  io_stopped: 'IO thread stopped',
  sql_stopped: 'SQL thread stopped',
  lag: 'replication lag',
  unreachable: 'node unreachable',
  master_lost: "master lost (every replica's IO thread is failing)",
};

/** Added to an open "unreachable" of the master once every replica confirms it is gone. */
export const MASTER_LOST_TOO = "every replica's IO thread is failing too (master lost)";

/**
 * Detects the faults of one cluster.
 *
 * A master that is down is one incident, from the first poll to the last:
 * - down, and no replica's IO thread running: `master_lost` on the master,
 *   not `unreachable`; down while a replica still reads from it (it has not
 *   noticed yet, or only the monitor cannot reach it): `unreachable`;
 * - while the master is down, a replica retrying by itself (IO "Connecting"
 *   or "Preparing") is explained by it and gets no `io_stopped` of its own;
 * - an incident already open on the master (`master_lost`, or `unreachable`)
 *   is kept, with its own error, while the master is down, and after it
 *   answers again while a replica is still reconnecting by itself (up to
 *   MASTER_CONNECT_RETRY seconds): it never reads as resolved while the master
 *   is gone, and a restart is no storm of IO alerts. An open `unreachable` says
 *   once, by a changed error, that the replicas confirm the master lost.
 *   A replica that stopped or gave up (IO "No") gets its own `io_stopped`.
 *   The wait for reconnecting replicas is bounded (`masterBackGraceOver`, the
 *   monitor's clock): past it the master's incident resolves, and a replica
 *   still failing to connect gets an `io_stopped` of its own.
 * An open lag incident stays open while the lag cannot be measured (NULL):
 * it is resolved by a measured lag at or under the threshold, not by a break.
 * A node whose status is missing (undefined: it did not answer the monitor in
 * time) has no faults this poll; the monitor keeps its incidents as they are.
 */
export function detectFaults(
  nodes: ClusterNode[],
  statuses: Array<NodeStatus | undefined>,
  lagThresholdS: number,
  open: OpenFault[] = [],
  opts: { masterBackGraceOver?: boolean } = {},
): Fault[] {
  const faults: Fault[] = [];
  const at = (
    n: ClusterNode,
    kind: IncidentKind,
    errno: number | null,
    error: string | null,
    lag: number | null = null,
  ): Fault => ({ host: n.host, port: n.port, role: n.role, kind, errno, error, lag });
  const openOn = (n: ClusterNode, kind: IncidentKind) =>
    open.find((i) => i.host === n.host && i.port === n.port && i.kind === kind);
  const master = nodes.findIndex((n) => n.role === 'master');
  const m = master >= 0 ? nodes[master] : undefined;
  const masterDown = statuses[master]?.reachable === false;
  const replicas = nodes.map((n, i) => ({ n, s: statuses[i] })).filter((x) => x.n.role === 'replica');
  const ioFailing = (s: NodeStatus | undefined) => !!s && s.reachable && s.ioRunning !== 'Yes';
  // On its way to the master by itself: retrying (Connecting) or connected and registering (MariaDB's Preparing).
  const onItsWay = (s: NodeStatus) => s.ioRunning === 'Connecting' || s.ioRunning === 'Preparing';
  const masterLost = !!m && replicas.length > 0 && masterDown && replicas.every((r) => ioFailing(r.s));
  const held = m ? (openOn(m, 'master_lost') ?? openOn(m, 'unreachable')) : undefined;
  // Replicas whose IO failure belongs to the master's incident rather than to themselves.
  let excused: (s: NodeStatus) => boolean = () => false;
  let masterFault: Fault | null = null;
  if (m && held && masterDown) {
    const escalate = held.kind === 'unreachable' && masterLost && !(held.error ?? '').includes(MASTER_LOST_TOO);
    masterFault = at(
      m,
      held.kind,
      held.errno,
      escalate ? `${held.error ?? 'no answer'} — ${MASTER_LOST_TOO}` : held.error,
    );
    excused = onItsWay;
  } else if (m && held && !opts.masterBackGraceOver && replicas.some((r) => r.s?.reachable && onItsWay(r.s))) {
    masterFault = at(m, held.kind, held.errno, held.error);
    excused = onItsWay;
  } else if (m && masterLost) {
    const said = replicas.map((r) => r.s).find((s) => (s?.lastIoErrno ?? 0) > 0);
    masterFault = at(m, 'master_lost', said?.lastIoErrno ?? null, said?.lastIoError ?? statuses[master]?.error ?? null);
    excused = onItsWay;
  } else if (masterDown) {
    excused = onItsWay;
  }
  // A master that did not answer this poll (unknown, not down) may be why replicas are retrying: not their fault yet.
  if (m && !statuses[master]) excused = onItsWay;

  nodes.forEach((n, i) => {
    const s = statuses[i];
    if (!s) return;
    const heldLag = n.role === 'replica' ? openOn(n, 'lag') : undefined;
    if (!s.reachable) {
      if (i !== master || !masterFault) faults.push(at(n, 'unreachable', null, s.error ?? 'no answer'));
      if (heldLag) faults.push(at(n, 'lag', null, null, heldLag.lag));
      return;
    }
    if (n.role !== 'replica') return;
    if (s.sqlRunning !== 'Yes') faults.push(at(n, 'sql_stopped', s.lastSqlErrno || null, s.lastSqlError || null));
    if (s.ioRunning !== 'Yes' && !excused(s)) {
      // On its way with no error (between retries, or registering) is not yet a fault.
      if (!onItsWay(s) || (s.lastIoErrno ?? 0) > 0)
        faults.push(at(n, 'io_stopped', s.lastIoErrno || null, s.lastIoError || null));
    }
    const working = s.ioRunning === 'Yes' && s.sqlRunning === 'Yes' && s.secondsBehind !== null;
    if (working && s.secondsBehind! > lagThresholdS) faults.push(at(n, 'lag', null, null, s.secondsBehind));
    else if (!working && heldLag) faults.push(at(n, 'lag', null, null, heldLag.lag));
  });
  if (masterFault) faults.push(masterFault);
  return faults;
}

/** Where a lag fault was seen: cluster-independent node identity. */
const lagId = (f: Pick<Fault, 'host' | 'port'>) => `${f.host}:${f.port}`;

/**
 * Opens lag only on a second look: a new lag fault is kept when the previous
 * poll saw the same replica lagging too (or its incident is already open).
 * MariaDB reports a Seconds_Behind_Master of the whole idle time for an
 * instant when a replica reconnects to a restarted master; one reading is
 * not lag. Returns the faults to act on and what this poll saw, for the next.
 */
export function confirmLag(
  faults: Fault[],
  open: OpenFault[],
  seenBefore: ReadonlySet<string>,
): { faults: Fault[]; seen: Set<string> } {
  const seen = new Set(faults.filter((f) => f.kind === 'lag').map(lagId));
  const known = (f: Fault) =>
    seenBefore.has(lagId(f)) || open.some((i) => i.kind === 'lag' && i.host === f.host && i.port === f.port);
  return { faults: faults.filter((f) => f.kind !== 'lag' || known(f)), seen };
}
