/**
 * Where a function's workers are, from gearmand's admin `status` on every job server: a cached look (trusted for
 * the preset's TTL) or a fresh one, the live hosts and their capabilities, and a wait for a worker to come back
 * after its job server went away.
 */
import { ErrorCode, GearopsError } from '../errors.js';
import type { HostInfo } from '../core/ports/dispatcher.js';
import { adminStatus, type FunctionStatus } from './admin.js';
import { functionName, parseFunctionName } from './names.js';

/** The job servers' functions, by server (those that answered). */
export type StatusByServer = Map<string, FunctionStatus[]>;

/** The servers that have a worker for `fn`. */
export function serversWith(map: StatusByServer, fn: string): string[] {
  return [...map].filter(([, list]) => list.some((f) => f.fn === fn && f.availableWorkers > 0)).map(([s]) => s);
}

/** The live hosts in a status answer: each with its capabilities and the servers it is on, sorted. */
export function hostsFrom(map: StatusByServer): HostInfo[] {
  const hosts = new Map<string, { caps: Set<string>; servers: Set<string> }>();
  for (const [server, list] of map) {
    for (const f of list) {
      const parsed = parseFunctionName(f.fn);
      if (!parsed || f.availableWorkers <= 0) continue;
      const h = hosts.get(parsed.host) ?? { caps: new Set(), servers: new Set() };
      h.caps.add(parsed.capability);
      h.servers.add(server);
      hosts.set(parsed.host, h);
    }
  }
  return [...hosts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, h]) => ({ host, capabilities: [...h.caps].sort(), servers: [...h.servers].sort() }));
}

/** Discovery over a list of job servers. */
export interface Discovery {
  /** Every server's functions: cached unless `fresh`; throws gearops_gearman_unavailable when none answers. */
  discover(fresh: boolean): Promise<StatusByServer>;
  /** The job servers that have a worker for capability@host (a cached look first, a fresh one on a miss); throws gearops_no_worker when none has. */
  locate(host: string, capability: string): Promise<string[]>;
  /** Waits until a job server again has a worker for `fn` (a restarted gearmand, or another in the list). */
  waitForWorker(fn: string, deadline: number, signal?: AbortSignal): Promise<string[]>;
}

/** Creates the discovery of these servers. */
export function createDiscovery(opts: { servers: string[]; ttlMs: number; adminTimeoutMs: number }): Discovery {
  let cache: { at: number; byServer: StatusByServer } | null = null;

  async function discover(fresh: boolean): Promise<StatusByServer> {
    if (!fresh && cache && Date.now() - cache.at < opts.ttlMs) return cache.byServer;
    const answers = await Promise.allSettled(
      opts.servers.map((s) => adminStatus(s, { timeoutMs: opts.adminTimeoutMs })),
    );
    const byServer: StatusByServer = new Map();
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') byServer.set(opts.servers[i]!, a.value);
    });
    if (byServer.size === 0) {
      throw new GearopsError(
        ErrorCode.GearmanUnavailable,
        `no job server answers (${opts.servers.join(', ')}): is gearmand running?`,
        { data: { servers: opts.servers } },
      );
    }
    cache = { at: Date.now(), byServer };
    return byServer;
  }

  return {
    discover,
    async locate(host, capability) {
      const fn = functionName(capability, host);
      let where = serversWith(await discover(false), fn);
      if (where.length === 0) where = serversWith(await discover(true), fn);
      if (where.length === 0) {
        const live = hostsFrom(cache?.byServer ?? new Map()).map((h) => h.host);
        throw new GearopsError(
          ErrorCode.NoWorker,
          `no worker for \`${fn}\` on ${opts.servers.join(', ')} — live hosts: ${live.length ? live.join(', ') : 'none'}`,
          { data: { host, capability } },
        );
      }
      return where;
    },
    async waitForWorker(fn, deadline, signal) {
      for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
        const where = serversWith(await discover(true).catch((): StatusByServer => new Map()), fn);
        if (where.length) return where;
        if (signal?.aborted || Date.now() + wait >= deadline)
          throw new GearopsError(
            ErrorCode.GearmanUnavailable,
            `${fn}: the job server went away mid-job and no worker for it was back in time`,
            { data: { fn } },
          );
        await new Promise((r) => setTimeout(r, wait));
      }
    },
  };
}
