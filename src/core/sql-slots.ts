/**
 * How many /replica sql statements may run at once, per user and per cluster. Sixty slow statements once took
 * every connection the bot had to a node; with these limits a user, or a cluster, holds only a few at a time, and
 * every one of them ends at its time-out. Counted in this process (each bot instance counts its own).
 */

/** The limits. */
export interface SqlSlotLimits {
  perUser: number;
  perCluster: number;
}

/** A slot taken, or which limit refused it. */
export type SqlSlot =
  { ok: true; release(): void } | { ok: false; limit: 'user' | 'cluster'; max: number; running: number };

/** Slots for running statements. */
export interface SqlSlots {
  /** Takes a slot for `user` on `cluster`, or says which limit is reached. Release it exactly once. */
  acquire(user: string, cluster: string): SqlSlot;
  /** Statements running now, in all. */
  running(): number;
}

/** Creates the slot counter. */
export function createSqlSlots(limits: SqlSlotLimits): SqlSlots {
  const byUser = new Map<string, number>();
  const byCluster = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  return {
    acquire(user, cluster) {
      const u = byUser.get(user) ?? 0;
      if (u >= limits.perUser) return { ok: false, limit: 'user', max: limits.perUser, running: u };
      const c = byCluster.get(cluster) ?? 0;
      if (c >= limits.perCluster) return { ok: false, limit: 'cluster', max: limits.perCluster, running: c };
      bump(byUser, user, 1);
      bump(byCluster, cluster, 1);
      let released = false;
      return {
        ok: true,
        release() {
          if (released) return;
          released = true;
          bump(byUser, user, -1);
          bump(byCluster, cluster, -1);
        },
      };
    },
    running() {
      let n = 0;
      for (const v of byCluster.values()) n += v;
      return n;
    },
  };
}
