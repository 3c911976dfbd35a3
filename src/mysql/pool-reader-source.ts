/** The raw read of common.nodes for the application library (kept in src/mysql: only it imports mysql2). */
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import type { PoolNode } from '../core/ports/store.js';
import { parseSet } from './pool-store.js';
import { toStoreError } from './errors.js';

/** A source of pool rows. */
export interface PoolSource {
  read(): Promise<PoolNode[]>;
  close(): Promise<void>;
}

/** Reads common.nodes through a small mysql2 pool of its own. */
export function createPoolSource(url: string): PoolSource {
  const db: Pool = mysql.createPool({ uri: url, connectionLimit: 2, connectTimeout: 2000 });
  return {
    async read() {
      try {
        const [rows] = await db.query<RowDataPacket[]>('SELECT host, port, sock, type FROM nodes');
        return rows.map((r) => ({ host: r.host, port: Number(r.port), sock: r.sock, type: parseSet(r.type) }));
      } catch (err) {
        throw toStoreError(err, 'pool');
      }
    },
    close: () => db.end(),
  };
}
