/**
 * Slack user-group membership for the policy's roles: which of the groups the
 * policy names a user belongs to. Each group's member list is cached for a
 * TTL and refreshed in the background before it expires; concurrent lookups
 * of one group share one call. Security is the point, so failures deny: when
 * Slack cannot answer, a stale list serves until it is 3×TTL old and is then
 * dropped, and with no usable list the user gets no roles from that group.
 */
import type { Logger } from '../../log.js';

/** Fetches every member (user id) of one user group; throws when Slack cannot answer. */
export type FetchGroupMembers = (groupId: string) => Promise<string[]>;

/** Options of the group directory. */
export interface GroupDirectoryOptions {
  /** The user-group ids the policy names (policy.groupIds()); none means no lookup ever. */
  groupIds: readonly string[];
  fetchMembers: FetchGroupMembers;
  /** How long a member list counts as fresh. */
  ttlMs: number;
  logger: Logger;
  /** How long a command waits for a lookup before going on without that group (the lookup still fills the cache). */
  waitMs?: number;
  now?: () => number;
}

/** Resolves a user's groups among those the policy names. */
export interface GroupDirectory {
  /** The policy's groups this user belongs to, sorted; never throws (a group that cannot be resolved is left out). */
  groupsOf(userId: string): Promise<string[]>;
  /** The policy was reloaded: from now on these are the groups looked up (lists of dropped groups are forgotten). */
  setGroupIds(groupIds: readonly string[]): void;
  /** Stops the background refresh. */
  stop(): void;
}

interface Entry {
  members: ReadonlySet<string>;
  at: number;
}

interface GroupState {
  entry?: Entry;
  inflight?: Promise<Entry | null>;
  /** Failed lookups since the last success: the first of a streak is logged, the rest are not. */
  failures: number;
  /** Whether the drop of the stale list was logged in this streak. */
  droppedLogged: boolean;
  lastUsed: number;
}

/**
 * Creates the directory; with no group ids it answers [] and never calls fetchMembers. Over 80 lines as a factory: its methods share the member cache and the refresh timer; each is short.
 */
export function createGroupDirectory(opts: GroupDirectoryOptions): GroupDirectory {
  let ids = [...new Set(opts.groupIds)].sort();
  const now = opts.now ?? Date.now;
  const ttl = opts.ttlMs;
  const maxStale = ttl * 3;
  const waitMs = opts.waitMs ?? 10_000;
  const log = opts.logger;
  const states = new Map<string, GroupState>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  const stateOf = (g: string): GroupState => {
    let s = states.get(g);
    if (!s) {
      s = { failures: 0, droppedLogged: false, lastUsed: now() };
      states.set(g, s);
    }
    return s;
  };

  /** One lookup of a group at a time; callers that arrive meanwhile share it. Resolves null on failure. */
  function refresh(g: string): Promise<Entry | null> {
    const s = stateOf(g);
    if (s.inflight) return s.inflight;
    const p = (async (): Promise<Entry | null> => {
      try {
        const list = await opts.fetchMembers(g);
        if (!Array.isArray(list) || !list.every((u) => typeof u === 'string'))
          throw new Error('the answer has no list of user ids');
        const entry: Entry = { members: new Set(list), at: now() };
        s.entry = entry;
        if (s.failures > 0)
          log.info(
            { event: 'slack_group_lookup_recovered', group: g, failures: s.failures, members: list.length },
            `user group ${g}: Slack answers again after ${s.failures} failed lookup(s)`,
          );
        s.failures = 0;
        s.droppedLogged = false;
        return entry;
      } catch (err) {
        s.failures++;
        if (s.failures === 1) {
          const stale = s.entry && now() - s.entry.at < maxStale;
          log.warn(
            { event: 'slack_group_lookup_failed', group: g, err: (err as Error).message, stale: !!stale },
            stale
              ? `user group ${g}: membership lookup failed; using the list from ${Math.round((now() - s.entry!.at) / 1000)} s ago until it is ${Math.round(maxStale / 1000)} s old`
              : `user group ${g}: membership lookup failed; its members get no roles from it until Slack answers`,
          );
        }
        return null;
      }
    })();
    s.inflight = p;
    // Cleared after it settles (even when fetchMembers threw at once), so the next lookup asks again.
    void p.then(() => {
      if (s.inflight === p) s.inflight = undefined;
    });
    return p;
  }

  /** Waits for a lookup at most waitMs (null after that; the lookup goes on and fills the cache). */
  function waitFor(p: Promise<Entry | null>): Promise<Entry | null> {
    let t: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((resolve) => {
      t = setTimeout(() => resolve(null), waitMs);
      t.unref?.();
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(t));
  }

  /** A group's members as far as they can be trusted now; null: unknown, so no membership. */
  async function membersOf(g: string): Promise<ReadonlySet<string> | null> {
    const s = stateOf(g);
    s.lastUsed = now();
    if (s.entry && now() - s.entry.at < ttl) return s.entry.members;
    // Expired or never known: ask Slack so that a removal takes effect at the TTL, not 3×TTL.
    const fresh = await waitFor(refresh(g));
    if (fresh) return fresh.members;
    if (s.entry && now() - s.entry.at < maxStale) return s.entry.members;
    if (s.entry) {
      s.entry = undefined;
      if (!s.droppedLogged) {
        s.droppedLogged = true;
        log.warn(
          { event: 'slack_group_cache_dropped', group: g },
          `user group ${g}: the cached member list is over ${Math.round(maxStale / 1000)} s old and Slack still does not answer; dropped`,
        );
      }
    }
    return null;
  }

  /** Refreshes, ahead of expiry, the lists of groups used in the last 3×TTL (an idle bot stops calling Slack). */
  function tick(): void {
    const t = now();
    for (const [g, s] of states) {
      if (t - s.lastUsed >= maxStale) continue;
      if (!s.entry || t - s.entry.at >= ttl / 2) void refresh(g);
    }
  }

  return {
    async groupsOf(userId) {
      if (ids.length === 0) return [];
      if (!timer && !stopped) {
        timer = setInterval(tick, Math.max(1000, Math.floor(ttl / 4)));
        timer.unref?.();
      }
      const lists = await Promise.all(ids.map(async (g) => ({ g, members: await membersOf(g) })));
      return lists.filter((l) => l.members?.has(userId)).map((l) => l.g);
    },
    setGroupIds(groupIds) {
      ids = [...new Set(groupIds)].sort();
      for (const g of [...states.keys()]) if (!ids.includes(g)) states.delete(g);
    },
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
