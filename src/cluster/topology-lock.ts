/**
 * The per-cluster topology-change lock: every switchover, failover (the command, the Promote button, the monitor's
 * automatic one) and rejoin of a cluster holds it for its whole sequence, resuming a cut one included, so that two
 * bot instances (or two commands in one) never change one cluster's topology at once — never promote two replicas.
 * It is the store's named lock (MySQL GET_LOCK on a connection of its own): a holder that dies, or is cut off from
 * the store for the lock's idle time-out, loses it, so a crashed instance never blocks the cluster for good. While
 * held, the hold is renewed well within that time-out (a long relay-log wait is not mistaken for a dead holder).
 */
import type { Logger } from '../log.js';
import { mention } from '../core/message.js';
import type { ChangeJournal, Store } from '../core/ports/store.js';

/** One holding of a cluster's lock. */
export interface TopologyHold {
  release(): Promise<void>;
}

/** Takes clusters' topology-change locks. */
export interface TopologyLocks {
  /** Takes `cluster`'s lock at once, without waiting; null when another holds it. */
  take(cluster: string): Promise<TopologyHold | null>;
}

/** The store lock's name for a cluster (cluster names are at most 31 characters: well within GET_LOCK's 64). */
export const topologyLockName = (cluster: string): string => `gearops.topology.${cluster}`;

/** A holder silent for this long (cut off from the store) loses the lock; the hold is renewed 4 times as often. */
const IDLE_TIMEOUT_S = 60;

/** The topology locks over the store's named locks. */
export function storeTopologyLocks(
  store: Pick<Store, 'lock'>,
  o: { logger?: Logger; idleTimeoutS?: number } = {},
): TopologyLocks {
  const idleTimeoutS = o.idleTimeoutS ?? IDLE_TIMEOUT_S;
  return {
    async take(cluster) {
      const name = topologyLockName(cluster);
      const lock = store.lock(name, { idleTimeoutS });
      if (!(await lock.tryAcquire().catch(() => false))) {
        await lock.release().catch(() => undefined);
        return null;
      }
      const renew = setInterval(
        () =>
          void lock
            .tryAcquire()
            .catch(() => false)
            .then((ok) => {
              if (!ok)
                o.logger?.error({ event: 'topology_lock_lost', cluster }, 'topology-change lock lost mid-sequence');
            }),
        (idleTimeoutS * 1000) / 4,
      );
      renew.unref();
      return {
        async release() {
          clearInterval(renew);
          await lock.release().catch(() => undefined);
        },
      };
    },
  };
}

/**
 * The answer to a change refused because the cluster's lock is held: names the running change when the journal has
 * one (what, by whom, at which step), and says that nothing was changed.
 */
export async function lockedAnswer(journal: Pick<ChangeJournal, 'running'>, cluster: string): Promise<string> {
  const ch = await journal.running(cluster).catch(() => null);
  const who = (actor: string) => (actor === 'gearops-monitor' ? 'the monitor (automatic failover)' : mention(actor));
  return ch
    ? `a ${ch.kind} of ${cluster} is running on another gearops instance (or another command here): #${ch.id}, ` +
        `started by ${who(ch.actor)} at ${ch.startedAt.toISOString()}, now at step ${ch.step}. Nothing was changed; ` +
        `/replica status ${cluster} shows where it is`
    : `a topology change of ${cluster} is running on another gearops instance (or another command here). ` +
        'Nothing was changed; try again once it has ended';
}

/**
 * Runs `fn` holding `cluster`'s lock, released whatever happens (a throw included: the bot "dying" in a test, or a
 * step that throws); when another holds it, returns `busy(answer)` without running `fn`.
 */
export async function withTopologyLock<T>(
  locks: TopologyLocks,
  journal: Pick<ChangeJournal, 'running'>,
  cluster: string,
  busy: (answer: string) => T | Promise<T>,
  fn: () => Promise<T>,
): Promise<T> {
  const hold = await locks.take(cluster);
  if (!hold) return busy(await lockedAnswer(journal, cluster));
  try {
    return await fn();
  } finally {
    await hold.release();
  }
}
