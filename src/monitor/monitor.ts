/**
 * The replication monitor: polls every node of every cluster in the store,
 * keeps one incident per node and fault in the store, and tells the alert
 * channel — one thread per incident, from the break to the fix. Only the
 * instance holding the store lock monitors; another takes over if it dies.
 * Over ~300 lines because the poll cycle and the incident lifecycle share
 * one closure's state (lag seen, misses, probes in flight, master clocks);
 * automatic failover and fencing live in auto-failover.ts and fencing.ts.
 */
import Bottleneck from 'bottleneck';
import type { Logger } from '../log.js';
import { textMessage } from '../core/message.js';
import type { ChatSink } from '../core/ports/chat.js';
import type { Policy } from '../core/ports/policy.js';
import { unreachableStatus, type NodeStatus, type ReplicationProbe } from '../core/ports/replication.js';
import type { ClusterNode, ClusterRecord, Incident, PoolRole, Store } from '../core/ports/store.js';
import { checkAutomaticChange } from '../core/pool-guard.js';
import { poolChangeMessage, showPoolType } from '../core/pool-message.js';
import { alertMessage, describeError, humanDuration } from './alert-message.js';
import { confirmLag, detectFaults, FAULT_TITLES, type Fault } from './detect.js';
import { nodeAddress } from '../core/cluster.js';
import { promoteCandidate } from '../cluster/candidate.js';
import type { Metrics } from '../core/ports/metrics.js';
import { createAutoFailover, type AutoFailoverDeps } from './auto-failover.js';
import { createFencing, type FencingDeps } from './fencing.js';

/** Dependencies and settings of the monitor. */
export interface MonitorDeps {
  store: Pick<Store, 'clusters' | 'incidents' | 'pool' | 'lock'> & Partial<Pick<Store, 'changes'>>;
  probe: ReplicationProbe;
  chat: ChatSink;
  alertChannel: string;
  poolChannel?: string;
  policy: Policy;
  logger: Logger;
  intervalMs: number;
  lagThresholdS: number;
  /**
   * Seconds an open lag incident's lag must grow or shrink by before its thread says so (default 5, or half the
   * threshold when that is more).
   */
  lagStepS?: number;
  /** Times each poll cycle. */
  metrics?: Metrics;
  /**
   * How long after a lost master answers again its incident waits for replicas still reconnecting by themselves
   * (default 120 s: twice MySQL's default MASTER_CONNECT_RETRY). Past it the incident resolves, and a replica that
   * still cannot connect gets an IO alert of its own.
   */
  masterReturnGraceMs?: number;
  /** Nodes polled at once (one slow node never delays the others beyond its own slot). */
  concurrency?: number;
  /**
   * How long one node's status may take (default: the poll interval, at most 5 s). A node that does not answer in
   * time is unknown for that cycle (its incidents stay as they are), and it is not asked again while that probe is
   * still out; after `missesBeforeUnreachable` cycles in a row (default 3) it is unreachable.
   */
  nodeDeadlineMs?: number;
  missesBeforeUnreachable?: number;
  lockName?: string;
  /** Compares each watched cluster's topology with its record every cycle (new replicas, changed sources). */
  topology?: { check(c: ClusterRecord, open: Incident[]): Promise<void> };
  /** Automatic failover (the policy's auto_failover) over the one failover sequence; absent: never automatic. */
  failover?: AutoFailoverDeps;
  /** Fences a former master that comes back after a failover (read_only=1, out of the pool). */
  fencing?: FencingDeps;
}

/** What one poll cycle did (for tests, the benchmark and logs). */
export interface MonitorCycle {
  /** Cycles started so far by this monitor, this one included. */
  n: number;
  /** False when another instance holds the lock (nothing was polled). */
  leader: boolean;
  /** Nodes that did not answer within the deadline this cycle (still answering an earlier probe, or too slow). */
  missed: Array<{ cluster: string; host: string; port: number }>;
}

/** A running monitor. */
export interface ReplicationMonitor {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One poll cycle (tests and the benchmark call it directly). Returns false when another instance holds the lock. */
  pollOnce(): Promise<boolean>;
  /** Calls `listener` at the end of every poll cycle; returns a function that stops it. */
  onCycle(listener: (c: MonitorCycle) => void): () => void;
  readonly leader: boolean;
}

/** A running topology change that journaled nothing for this long is taken as cut (its bot died): judged again. */
const CHANGE_QUIET_MS = 60_000;

const key = (cluster: string, host: string, port: number, kind: string) =>
  `${cluster}\u0000${host}\u0000${port}\u0000${kind}`;

/** Creates the monitor. */
export function createReplicationMonitor(deps: MonitorDeps): ReplicationMonitor {
  const log = deps.logger.child({ component: 'monitor' });
  const lock = deps.store.lock(deps.lockName ?? 'gearops.monitor', {
    idleTimeoutS: Math.max(60, Math.ceil((3 * deps.intervalMs) / 1000)),
  });
  const limiter = new Bottleneck({ maxConcurrent: deps.concurrency ?? 16 });
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running = false;
  let cycle: Promise<boolean> | null = null;
  /** Replicas over the lag threshold at the last poll, by cluster. */
  const lagSeen = new Map<string, Set<string>>();
  /** When a master with an open incident was first seen answering again, by cluster. */
  const masterBackAt = new Map<string, number>();
  const graceMs = deps.masterReturnGraceMs ?? 120_000;
  const deadlineMs = deps.nodeDeadlineMs ?? Math.min(deps.intervalMs, 5000);
  const missesBeforeUnreachable = deps.missesBeforeUnreachable ?? 3;
  const within = deadlineMs < 1000 ? `${deadlineMs} ms` : humanDuration(deadlineMs);
  /** Status probes still out, by node (cluster, host, port): a node is never asked twice at once. */
  const inFlight = new Set<string>();
  /** Cycles in a row a node did not answer in time. */
  const misses = new Map<string, number>();
  const listeners = new Set<(c: MonitorCycle) => void>();
  let cycles = 0;
  const auto = deps.failover
    ? createAutoFailover({
        failover: deps.failover,
        policy: deps.policy,
        incidents: deps.store.incidents,
        chat: deps.chat,
        alertChannel: deps.alertChannel,
        holdsLock: () => lock.tryAcquire(),
        logger: deps.logger,
      })
    : null;
  const fencing = deps.fencing
    ? createFencing({
        fencing: deps.fencing,
        probe: deps.probe,
        pool: deps.store.pool,
        chat: deps.chat,
        alertChannel: deps.alertChannel,
        poolChannel: deps.poolChannel,
        logger: deps.logger,
        deadlineMs: deadlineMs,
      })
    : null;
  /** Per cluster, the replica its master-lost alert offers to promote (from the last poll). */
  const promotable = new Map<string, string | undefined>();
  const alertOpts = (i: Incident, role: string | undefined) => ({
    role,
    pool: !!deps.store.pool,
    pooledOut: i.pooledOut,
    promote: promotable.get(i.cluster),
  });

  async function thread(i: Incident, text: string): Promise<void> {
    if (!i.alertChannel || !i.alertTs) return;
    await deps.chat.post(i.alertChannel, textMessage(text), { threadTs: i.alertTs });
  }

  async function refreshParent(i: Incident, role: string | undefined): Promise<void> {
    if (!i.alertChannel || !i.alertTs) return;
    await deps.chat.update({ channel: i.alertChannel, ts: i.alertTs }, alertMessage(i, alertOpts(i, role)));
  }

  /** Posts the parent message of an incident that has none yet (new, or a post that failed last time). */
  async function announce(i: Incident, role: string | undefined): Promise<Incident> {
    const ref = await deps.chat.post(deps.alertChannel, alertMessage(i, alertOpts(i, role)));
    await deps.store.incidents.update(i.id, { alertChannel: ref.channel, alertTs: ref.ts });
    return { ...i, alertChannel: ref.channel, alertTs: ref.ts };
  }

  async function autoPool(i: Incident, out: boolean): Promise<Incident> {
    if (!deps.policy.settings.autoOffline || !deps.store.pool) return i;
    const row = await deps.store.pool.get(i.host, i.port).catch(() => null);
    const cluster = await deps.store.clusters.get(i.cluster);
    const node = cluster?.nodes.find((n) => n.host === i.host && n.port === i.port);
    const address = node ? { host: node.address, port: node.port } : { host: i.host, port: i.port };
    const pooled = row ?? (await deps.store.pool.get(address.host, address.port).catch(() => null));
    if (!pooled) return i;
    const after: PoolRole[] = out
      ? pooled.type.filter((t) => t !== 'READ')
      : [...new Set<PoolRole>([...pooled.type, 'READ'])];
    if (out && !pooled.type.includes('READ')) return i;
    if (!out && !i.pooledOut) return i;
    const verdict = out
      ? checkAutomaticChange(await deps.store.pool.list(), { host: pooled.host, port: pooled.port, after })
      : { allowed: true, reason: '' };
    if (!verdict.allowed) {
      await thread(i, `Not taking ${pooled.host}:${pooled.port} out of the pool automatically: ${verdict.reason}`);
      return i;
    }
    const reason = out ? `monitor: ${FAULT_TITLES[i.kind]}` : 'monitor: healthy and caught up';
    const change = await deps.store.pool.set(pooled.host, pooled.port, after, 'gearops-monitor', reason);
    if (showPoolType(change.before) === showPoolType(change.after)) {
      // Someone already made this change (a DBA by hand, or another bot): nothing to announce.
      await deps.store.incidents.update(i.id, { pooledOut: out });
      return { ...i, pooledOut: out };
    }
    const msg = poolChangeMessage(change, 'the monitor');
    if (deps.poolChannel)
      await deps.chat.post(deps.poolChannel, msg).catch((err) => log.warn({ err }, 'pool announcement failed'));
    await thread(i, msg.text);
    await deps.store.incidents.update(i.id, { pooledOut: out });
    return { ...i, pooledOut: out };
  }

  async function openOrFollow(c: ClusterRecord, f: Fault, existing: Incident | undefined): Promise<void> {
    let i = existing;
    if (!i) {
      const opened = await deps.store.incidents.open({
        cluster: c.name,
        host: f.host,
        port: f.port,
        kind: f.kind,
        errno: f.errno,
        error: f.error,
        lag: f.lag,
      });
      i = opened.incident;
      if (!opened.created) return; // another instance opened it in the same instant; it owns the thread.
      log.info(
        {
          event: 'incident_opened',
          id: i.id,
          cluster: c.name,
          host: f.host,
          port: f.port,
          kind: f.kind,
          errno: f.errno,
        },
        'incident opened',
      );
      i = await announce(i, f.role);
      if (
        f.role === 'replica' &&
        (f.kind === 'sql_stopped' || f.kind === 'io_stopped' || f.kind === 'lag' || f.kind === 'unreachable')
      )
        await autoPool(i, true);
      return;
    }
    if (!i.alertTs) i = await announce(i, f.role);
    if (f.kind === 'lag') {
      const before = i.lag ?? 0;
      const now = f.lag ?? 0;
      if (Math.abs(now - before) >= (deps.lagStepS ?? Math.max(5, deps.lagThresholdS / 2))) {
        await deps.store.incidents.update(i.id, { lag: now });
        await thread(i, `Lag ${now > before ? 'grew' : 'shrank'}: ${before} s → ${now} s behind the master`);
      }
    } else if ((f.errno ?? null) !== (i.errno ?? null) || (f.error ?? null) !== (i.error ?? null)) {
      await deps.store.incidents.update(i.id, { errno: f.errno, error: f.error });
      await thread(i, `The error changed: ${describeError({ ...i, errno: f.errno, error: f.error })}`);
      await refreshParent({ ...i, errno: f.errno, error: f.error }, f.role);
    }
  }

  /** Ends an incident; `replaced`: its node is a former master a failover replaced (not "cleared"). */
  async function resolve(c: ClusterRecord, i: Incident, replaced = false): Promise<void> {
    const done = await deps.store.incidents.resolve(i.id);
    if (!done) return;
    const role = c.nodes.find((n) => n.host === i.host && n.port === i.port)?.role;
    log.info(
      { event: 'incident_resolved', id: i.id, cluster: c.name, host: i.host, kind: i.kind },
      'incident resolved',
    );
    const took = humanDuration((done.resolvedAt ?? new Date()).getTime() - done.openedAt.getTime());
    if (!done.alertTs) return;
    // A lost master's incident ends when a failover replaced it (the record names another master): not "cleared".
    const now = c.nodes.find((n) => n.role === 'master');
    const failedOver = (replaced || i.kind === 'master_lost') && role !== 'master' && now;
    await thread(
      done,
      failedOver
        ? `Closed after ${took}: ${c.name} failed over, ${now.host}:${now.port} is its master now; ${i.host}:${i.port} ` +
            'is followed as a former master from here on (fenced read-only when it comes back).'
        : `✅ Resolved: ${FAULT_TITLES[i.kind]} on ${i.host}:${i.port} cleared after ${took}.`,
    );
    await refreshParent(done, role);
    if (done.pooledOut) await autoPool(done, false);
  }

  /**
   * One node's status within the deadline, or undefined (unknown this cycle) when it did not answer in time or is
   * still answering an earlier probe. Its slot in the limiter is held only up to the deadline.
   */
  async function nodeStatus(c: ClusterRecord, n: ClusterNode, missed: MonitorCycle['missed']) {
    const k = key(c.name, n.host, n.port, '');
    const miss = (): NodeStatus | undefined => {
      const count = (misses.get(k) ?? 0) + 1;
      misses.set(k, count);
      missed.push({ cluster: c.name, host: n.host, port: n.port });
      if (count < missesBeforeUnreachable) return undefined;
      return unreachableStatus(`did not answer the monitor within ${within}, ${count} polls in a row`);
    };
    if (inFlight.has(k)) return miss();
    inFlight.add(k);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The deadline runs from the probe's start, inside its limiter slot; the slot is held at most that long.
    const s = await limiter
      .schedule(() => {
        const probe = deps.probe
          .status(nodeAddress(c, n))
          .catch((err: Error) => unreachableStatus(err.message))
          .finally(() => inFlight.delete(k));
        const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), deadlineMs)));
        return Promise.race([probe, late]);
      })
      .finally(() => clearTimeout(timer));
    if (s === null) return miss();
    misses.delete(k);
    return s;
  }

  async function pollCluster(c: ClusterRecord, open: Incident[], missed: MonitorCycle['missed']): Promise<void> {
    const statuses: Array<NodeStatus | undefined> = await Promise.all(c.nodes.map((n) => nodeStatus(c, n, missed)));
    promotable.set(c.name, promoteCandidate(c.nodes, statuses));
    const mine = open.filter((i) => i.cluster === c.name);
    const mi = c.nodes.findIndex((n) => n.role === 'master');
    const masterHeld =
      mi >= 0 &&
      mine.some(
        (i) =>
          i.host === c.nodes[mi]!.host &&
          i.port === c.nodes[mi]!.port &&
          (i.kind === 'master_lost' || i.kind === 'unreachable'),
      );
    if (masterHeld && statuses[mi]?.reachable) {
      if (!masterBackAt.has(c.name)) masterBackAt.set(c.name, Date.now());
    } else if (mi < 0 || statuses[mi]) masterBackAt.delete(c.name); // an unknown master leaves the clock as it is
    const masterBackGraceOver = masterBackAt.has(c.name) && Date.now() - masterBackAt.get(c.name)! >= graceMs;
    const confirmed = confirmLag(
      detectFaults(c.nodes, statuses, deps.lagThresholdS, mine, { masterBackGraceOver }),
      mine,
      lagSeen.get(c.name) ?? new Set(),
    );
    lagSeen.set(c.name, confirmed.seen);
    // A former master not rejoined yet is not a replica to alert on: the failover's thread tells its story.
    const former = new Set((await (fencing?.former(c) ?? Promise.resolve([]))).map((x) => `${x.host}:${x.port}`));
    const fenced = (n: { host: string; port: number }) =>
      former.has(`${n.host}:${n.port}`) && !(n.host === c.nodes[mi]?.host && n.port === c.nodes[mi]?.port);
    const faults = confirmed.faults.filter((f) => !(f.role === 'replica' && former.has(`${f.host}:${f.port}`)));
    const openByKey = new Map(mine.map((i) => [key(i.cluster, i.host, i.port, i.kind), i]));
    const active = new Set<string>();
    // A node that did not answer this cycle keeps its incidents as they are: no answer is not a fix. Nor is a
    // replica's IO fault fixed while its master did not answer (detection excuses retrying replicas then).
    const masterUnknown = mi >= 0 && !statuses[mi];
    c.nodes.forEach((n, i) => {
      if ((statuses[i] && !masterUnknown) || fenced(n)) return;
      for (const o of mine) {
        if (o.host !== n.host || o.port !== n.port) continue;
        if (!statuses[i] || o.kind === 'io_stopped') active.add(key(o.cluster, o.host, o.port, o.kind));
      }
    });
    for (const f of faults) {
      const k = key(c.name, f.host, f.port, f.kind);
      active.add(k);
      await openOrFollow(c, f, openByKey.get(k)).catch((err) =>
        log.error(
          { err, cluster: c.name, host: f.host, kind: f.kind },
          'incident update failed; will retry next cycle',
        ),
      );
    }
    for (const [k, i] of openByKey) {
      if (!active.has(k))
        await resolve(c, i, fenced(i)).catch((err) =>
          log.error({ err, id: i.id }, 'resolving failed; will retry next cycle'),
        );
    }
    await auto?.observe(c, statuses);
    await fencing?.check(c, statuses);
  }

  function tell(c: MonitorCycle): void {
    for (const l of listeners) {
      try {
        l(c);
      } catch (err) {
        log.warn({ err }, 'a poll-cycle listener failed');
      }
    }
  }

  async function pollOnce(): Promise<boolean> {
    const n = ++cycles;
    const missed: MonitorCycle['missed'] = [];
    let leader = false;
    try {
      leader = await pollCycle(missed);
      return leader;
    } finally {
      if (missed.length) log.warn({ event: 'monitor_nodes_missed', cycle: n, missed }, 'nodes did not answer in time');
      log.debug({ event: 'monitor_cycle', cycle: n, leader }, 'poll cycle done');
      tell({ n, leader, missed });
    }
  }

  /** True while a topology change of the cluster is running and moved on recently (a cut one is judged again). */
  async function changing(cluster: string): Promise<boolean> {
    const ch = await deps.store.changes?.running(cluster).catch(() => null);
    return !!ch && Date.now() - ch.updatedAt.getTime() < CHANGE_QUIET_MS;
  }

  async function pollCycle(missed: MonitorCycle['missed']): Promise<boolean> {
    // Every cycle: take the lock, or check it is still ours (a store restart releases it).
    if (!(await lock.tryAcquire().catch(() => false))) return false;
    const [all, open] = await Promise.all([deps.store.clusters.list(), deps.store.incidents.listOpen()]);
    // Only ready clusters are watched: one being built is not up yet, one being removed is going down on purpose.
    const clusters = all.filter((c) => (c.state ?? 'ready') === 'ready');
    await Promise.all(
      clusters.map(async (c) => {
        // A failover, switchover or rejoin is changing the cluster (this instance's, or any that journaled a step
        // within the last minute): its steps are told in its thread, not judged here as faults.
        if (auto?.busy(c.name) || (await changing(c.name))) return;
        await pollCluster(c, open, missed);
        if (c.kind === 'watched') await deps.topology?.check(c, open);
      }),
    );
    // Incidents of clusters that were removed: resolve them so no thread stays open forever.
    const names = new Set(all.map((c) => c.name));
    for (const i of open) {
      if (!names.has(i.cluster)) {
        const done = await deps.store.incidents.resolve(i.id);
        if (done?.alertTs) await thread(done, `Closed: cluster ${i.cluster} was removed.`).catch(() => undefined);
      }
    }
    return true;
  }

  const loop = async () => {
    if (!running) return;
    const started = Date.now();
    cycle = pollOnce().catch((err) => {
      log.error({ err }, 'poll cycle failed');
      return false;
    });
    await cycle;
    deps.metrics?.monitorPoll((Date.now() - started) / 1000);
    cycle = null;
    if (running) timer = setTimeout(loop, Math.max(0, deps.intervalMs - (Date.now() - started)));
  };

  return {
    get leader() {
      return lock.held;
    },
    pollOnce,
    onCycle(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start() {
      if (running) return;
      running = true;
      log.info(
        { event: 'monitor_started', intervalMs: deps.intervalMs, lagThresholdS: deps.lagThresholdS },
        'replication monitor started',
      );
      void loop();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await cycle;
      await auto?.idle();
      await lock.release().catch(() => undefined);
    },
  };
}
