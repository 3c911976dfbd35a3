/**
 * For Node applications: choose a server from the pool gearops keeps.
 *
 *   import { createPoolReader } from 'gearops/pool';
 *   const pool = createPoolReader({ url: 'mysql://app:pw@db:3306/common' });
 *   const { host, port, sock } = await pool.pickServer('READ');
 *   // … on shutdown: await pool.close();
 *
 * The `nodes` table is read whole (no ORDER BY RAND(), which sorts the table
 * on the server for every connection) and cached; it is refreshed in the
 * background every `refreshMs`, and the choice is made at random in process
 * among the servers whose type includes the one asked for. An offline server
 * (empty type) is never chosen. If MySQL stops answering, the last good list
 * keeps serving for up to `maxStaleMs`; after that pickServer fails rather
 * than send traffic by a list nobody can vouch for.
 */
import { ErrorCode, GearopsError, toGearopsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PoolNode, PoolRole } from '../core/ports/store.js';
import { createPoolSource, type MysqlPool, type PoolSource } from '../mysql/pool-reader-source.js';

/** Options of the reader. */
export interface PoolReaderOptions {
  /** mysql://user:password@host:3306/common, or a mysql2 promise pool the application already has (not closed by close()). */
  url?: string | MysqlPool;
  /** Or any source of rows (tests, other drivers). */
  source?: PoolSource;
  /** Background refresh period; default 5000 ms. */
  refreshMs?: number;
  /** How old the cached list may get while MySQL is not answering; default 60 000 ms. */
  maxStaleMs?: number;
  /** Refresh failures and recoveries are logged here (one line per change of state). */
  logger?: Logger;
  /** Called with every failed refresh. */
  onError?: (err: Error) => void;
  /** Random source in [0, 1); default Math.random. */
  random?: () => number;
  /** The clock the list's age is measured by; default Date.now (tests move it instead of waiting). */
  now?: () => number;
}

/** A server to connect to. */
export interface PickedServer {
  host: string;
  port: number;
  sock: string;
}

/** The reader. */
export interface PoolReader {
  /** A random server whose type includes `type`; GearopsError gearops_not_found when there is none. */
  pickServer(type: PoolRole): Promise<PickedServer>;
  /** Reads the table now (rejects when MySQL does not answer; the cache is kept). */
  refresh(): Promise<void>;
  /** Stops the background refresh and closes its own connections. */
  close(): Promise<void>;
}

/**
 * Creates a pool reader (one per process is plenty). Over 80 lines as a factory: its methods share the cached pool and its refresh; each is short.
 */
export function createPoolReader(opts: PoolReaderOptions): PoolReader {
  if (!opts.source && !opts.url)
    throw new GearopsError(ErrorCode.Config, 'createPoolReader needs a url (or a mysql2 pool, or a source)', {
      data: { variable: 'url' },
    });
  const source = opts.source ?? createPoolSource(opts.url!);
  const refreshMs = Math.max(10, opts.refreshMs ?? 5000);
  const maxStaleMs = Math.max(refreshMs, opts.maxStaleMs ?? 60_000);
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const log = opts.logger?.child({ component: 'pool-reader' });
  let nodes: PoolNode[] | null = null;
  let loadedAt = 0;
  let failing = false;
  let closed = false;
  let inflight: Promise<void> | null = null;

  const failed = (err: unknown) => {
    const e = toGearopsError(err, ErrorCode.StoreUnavailable);
    if (!failing)
      log?.warn(
        { event: 'pool_refresh_failed', err: e, cachedAgeMs: nodes ? now() - loadedAt : null },
        'pool refresh failed; serving the last good list',
      );
    failing = true;
    opts.onError?.(e);
    return e;
  };

  // One read at a time: picks that find the list stale share the refresh in flight.
  const refresh = (): Promise<void> =>
    (inflight ??= source
      .read()
      .then(
        (rows) => {
          nodes = rows;
          loadedAt = now();
          if (failing) log?.info({ event: 'pool_refresh_recovered', servers: rows.length }, 'pool refresh works again');
          failing = false;
        },
        (err: unknown) => {
          throw failed(err);
        },
      )
      .finally(() => {
        inflight = null;
      }));
  const background = () => void refresh().catch(() => undefined);
  const timer = setInterval(background, refreshMs);
  timer.unref(); // never keeps the application alive

  async function current(): Promise<PoolNode[]> {
    if (nodes === null) {
      await refresh();
      return nodes ?? [];
    }
    const age = now() - loadedAt;
    if (age > maxStaleMs) {
      try {
        await refresh();
      } catch (err) {
        throw new GearopsError(
          ErrorCode.StoreUnavailable,
          `the pool list is ${Math.round(age / 1000)} s old and MySQL is not answering`,
          { cause: err, data: { step: 'pool refresh' } },
        );
      }
    } else if (age > refreshMs * 2) {
      // Stale but within bounds (timers delayed, or MySQL slow): serve it and refresh behind the caller's back.
      background();
    }
    return nodes;
  }

  return {
    refresh,
    async pickServer(type) {
      if (closed) throw new GearopsError(ErrorCode.Cancelled, 'the pool reader is closed');
      if (type !== 'READ' && type !== 'WRITE')
        throw new GearopsError(ErrorCode.Usage, `pickServer takes 'READ' or 'WRITE', not ${JSON.stringify(type)}`);
      let fit = (await current()).filter((n) => n.type.includes(type));
      // Nothing fits: the pool may have just been filled. Re-read once, but not more than once a second.
      if (fit.length === 0 && now() - loadedAt > Math.min(refreshMs, 1000)) {
        await refresh().catch(() => undefined);
        fit = (nodes ?? []).filter((n) => n.type.includes(type));
      }
      if (fit.length === 0)
        throw new GearopsError(ErrorCode.NotFound, `no ${type} server in the pool`, { data: { type } });
      const n = fit[Math.min(fit.length - 1, Math.floor(random() * fit.length))]!;
      return { host: n.host, port: n.port, sock: n.sock };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await inflight?.catch(() => undefined);
      await source.close();
    },
  };
}
