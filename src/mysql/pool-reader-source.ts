/** The raw read of common.nodes for the application library (kept in src/mysql: only it imports mysql2). */
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import type { PoolNode } from '../core/ports/store.js';
import { parseSet, poolAddress } from './pool-store.js';
import { toStoreError } from './errors.js';

/** A mysql2 promise pool an application already has (re-exported so src/pool needs no mysql2 import). */
export type MysqlPool = Pool;

/** A source of pool rows. */
export interface PoolSource {
  read(): Promise<PoolNode[]>;
  close(): Promise<void>;
}

/** True when `x` looks like a mysql2 promise pool rather than a URL. */
export function isMysqlPool(x: unknown): x is MysqlPool {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as Pool).query === 'function' &&
    typeof (x as Pool).end === 'function'
  );
}

/**
 * Reads common.nodes: through a small pool of its own for a URL (closed by
 * close()), or through the application's pool (left open: it is theirs).
 */
export function createPoolSource(target: string | MysqlPool, opts: { connectTimeoutMs?: number } = {}): PoolSource {
  const own = !isMysqlPool(target);
  const db: Pool = isMysqlPool(target)
    ? target
    : mysql.createPool({ uri: target, connectionLimit: 2, connectTimeout: opts.connectTimeoutMs ?? 2000 });
  return {
    async read() {
      try {
        // The whole table, no ORDER BY RAND(): it is small, and the choice is made in process.
        const [rows] = await db.query<RowDataPacket[]>('SELECT host, port, sock, type FROM nodes');
        return rows.map((r) => ({
          host: String(r.host),
          port: Number(r.port),
          sock: String(r.sock ?? ''),
          type: parseSet(r.type),
        }));
      } catch (err) {
        throw toStoreError(err, poolAddress(db));
      }
    },
    close: async () => {
      if (own) await db.end();
    },
  };
}
