/**
 * "Master confirmed lost", pure: the master does not answer the bot, and every replica of it says its IO thread
 * cannot reach it either, for `failcount` probes in a row. A master that answers is never lost, whatever the
 * replicas say; a replica that cannot be read, still reads from the master, or had its IO thread stopped by hand
 * (no error: it is not trying the master) cannot confirm, and then the loss is not confirmed. The failover
 * command and the monitor (automatic failover) both judge with `assessMasterLoss`.
 */
import type { NodeStatus } from '../core/ports/replication.js';
import type { ClusterNode } from '../core/ports/store.js';

/** What one probe of a cluster says of its master. */
export interface LossAssessment {
  /** This probe: the bot cannot reach the master and every replica confirms. */
  lost: boolean;
  /** The master answered this probe. */
  masterAnswers: boolean;
  /** Replicas (host:port) whose IO thread fails to reach the master. */
  confirming: string[];
  /** Replicas that cannot confirm, and why. */
  notConfirming: Array<{ node: string; why: string }>;
  /** One sentence for a message. */
  reason: string;
}

const name = (n: ClusterNode) => `${n.host}:${n.port}`;

/** Whether a replica's status counts as "my IO thread cannot reach the master"; a reason when it does not. */
function confirms(s: NodeStatus | undefined): true | string {
  if (!s) return 'did not answer in time';
  if (!s.reachable) return `cannot be read (${s.error ?? 'no answer'}), so it cannot say whether the master answers`;
  if (!s.isReplica) return 'is not replicating';
  if (s.ioRunning === 'Yes') return 'its IO thread still reads from the master';
  if (s.ioRunning === 'Connecting' || s.ioRunning === 'Preparing') return true;
  if ((s.lastIoErrno ?? 0) > 0) return true;
  return 'its IO thread was stopped without an error: it is not trying the master';
}

/**
 * Judges one probe: `statuses[i]` is `nodes[i]`'s (undefined: no answer in time, which says nothing). Replicas
 * of another source (behind an intermediate master) are not asked.
 */
export function assessMasterLoss(nodes: ClusterNode[], statuses: Array<NodeStatus | undefined>): LossAssessment {
  const mi = nodes.findIndex((n) => n.role === 'master');
  const master = nodes[mi];
  const none = (reason: string, masterAnswers = false): LossAssessment => ({
    lost: false,
    masterAnswers,
    confirming: [],
    notConfirming: [],
    reason,
  });
  if (!master) return none('the cluster has no master on record');
  const ms = statuses[mi];
  if (!ms) return none(`the master ${name(master)} did not answer in time: that alone does not make it lost`);
  if (ms.reachable) return none(`the master ${name(master)} answers`, true);
  const self = `${master.address}:${master.port}`;
  const confirming: string[] = [];
  const notConfirming: Array<{ node: string; why: string }> = [];
  nodes.forEach((n, i) => {
    if (i === mi || n.role !== 'replica') return;
    if (n.replicatesFrom && n.replicatesFrom !== self) return;
    const s = statuses[i];
    const from = s?.reachable && s.masterHost ? `${s.masterHost}:${s.masterPort ?? ''}` : null;
    if (from && from !== self && from !== `${master.host}:${master.port}`) return;
    const c = confirms(s);
    if (c === true) confirming.push(name(n));
    else notConfirming.push({ node: name(n), why: c });
  });
  const down = `the bot cannot reach the master ${name(master)} (${ms.error ?? 'no answer'})`;
  if (confirming.length === 0 && notConfirming.length === 0)
    return {
      lost: false,
      masterAnswers: false,
      confirming,
      notConfirming,
      reason: `${down}, and it has no replica to confirm`,
    };
  if (notConfirming.length)
    return {
      lost: false,
      masterAnswers: false,
      confirming,
      notConfirming,
      reason: `${down}, but not every replica confirms: ${notConfirming.map((x) => `${x.node} ${x.why}`).join('; ')}`,
    };
  return {
    lost: true,
    masterAnswers: false,
    confirming,
    notConfirming,
    reason: `${down}, and every replica's IO thread fails to reach it (${confirming.join(', ')})`,
  };
}

/** Counts probes in a row that judged the master lost, per cluster (the monitor keeps one across polls). */
export function createLossCounter(): {
  observe(cluster: string, a: LossAssessment): number;
  reset(cluster: string): void;
} {
  const counts = new Map<string, number>();
  return {
    observe(cluster, a) {
      const n = a.lost ? (counts.get(cluster) ?? 0) + 1 : 0;
      counts.set(cluster, n);
      return n;
    },
    reset(cluster) {
      counts.delete(cluster);
    },
  };
}

/** What `confirmMasterLost` found. */
export interface LossConfirmation {
  confirmed: boolean;
  /** The last probe's judgement (the one that ended it). */
  last: LossAssessment;
  /** Probes in a row that judged the master lost. */
  held: number;
}

/**
 * For a command: probes the cluster up to `failcount` times, `intervalMs` apart, and confirms the loss only when
 * every probe judged it lost; it stops at the first probe that does not (a master that answers is refused at once).
 */
export async function confirmMasterLost(
  nodes: ClusterNode[],
  read: () => Promise<Array<NodeStatus | undefined>>,
  opts: { failcount: number; intervalMs: number; sleep?: (ms: number) => Promise<void> },
): Promise<LossConfirmation> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const failcount = Math.max(1, opts.failcount);
  let held = 0;
  for (;;) {
    const last = assessMasterLoss(nodes, await read());
    if (!last.lost) return { confirmed: false, last, held };
    held++;
    if (held >= failcount) return { confirmed: true, last, held };
    await sleep(opts.intervalMs);
  }
}
