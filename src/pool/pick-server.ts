/**
 * For Node applications: choose a server from the pool gearops keeps.
 *
 *   const pool = createPoolReader({ url: 'mysql://app:pw@db:3306/common' });
 *   const { host, port } = await pool.pickServer('READ');
 *
 * The `nodes` table is read without ORDER BY RAND(): it is cached, refreshed
 * in the background every `refreshMs`, and the choice is made at random in
 * process among the servers whose type includes the one asked for. If a
 * refresh fails, the last good list keeps serving for `maxStaleMs`.
 */
import { ErrorCode, GearopsError } from '../errors.js';
import type { PoolNode, PoolRole } from '../core/ports/store.js';
import { createPoolSource, type PoolSource } from '../mysql/pool-reader-source.js';

/** Options of the reader. */
export interface PoolReaderOptions {
  /** mysql://user:password@host:3306/common */
  url?: string;
  /** Or any source of rows (tests, an existing connection). */
  source?: PoolSource;
  refreshMs?: number;
  maxStaleMs?: number;
  onError?: (err: Error) => void;
  random?: () => number;
}

/** A server to connect to. */
export interface PickedServer {
  host: string;
  port: number;
  sock: string;
}

/** The reader. */
export interface PoolReader {
  pickServer(type: PoolRole): Promise<PickedServer>;
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** Creates a pool reader (one per process is plenty). */
export function createPoolReader(opts: PoolReaderOptions): PoolReader {
  const source = opts.source ?? createPoolSource(opts.url ?? '');
  const refreshMs = opts.refreshMs ?? 5000;
  const maxStaleMs = opts.maxStaleMs ?? 60_000;
  const random = opts.random ?? Math.random;
  let nodes: PoolNode[] | null = null;
  let loadedAt = 0;
  let inflight: Promise<void> | null = null;

  const refresh = () =>
    (inflight ??= source
      .read()
      .then((rows) => {
        nodes = rows;
        loadedAt = Date.now();
      })
      .finally(() => {
        inflight = null;
      }));
  const timer = setInterval(() => void refresh().catch((err: Error) => opts.onError?.(err)), refreshMs);
  timer.unref();

  return {
    refresh,
    async pickServer(type) {
      if (!nodes || Date.now() - loadedAt > refreshMs * 2) {
        try {
          await refresh();
        } catch (err) {
          if (!nodes || Date.now() - loadedAt > maxStaleMs) throw err;
          opts.onError?.(err as Error);
        }
      }
      const fit = (nodes ?? []).filter((n) => n.type.includes(type));
      if (fit.length === 0) throw new GearopsError(ErrorCode.NotFound, `no ${type} server in the pool`);
      const n = fit[Math.floor(random() * fit.length)]!;
      return { host: n.host, port: n.port, sock: n.sock };
    },
    async close() {
      clearInterval(timer);
      await source.close();
    },
  };
}
