/**
 * The store's connection, as its parts (audit, clusters, incidents, commands) use it: the pool, one query that
 * turns the driver's errors into the store's (naming the server), and host:port for messages.
 */
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

export type StoreQuery = <T extends RowDataPacket[] | ResultSetHeader>(sql: string, params?: unknown[]) => Promise<T>;

export interface StoreDb {
  db: Pool;
  q: StoreQuery;
  /** host:port of the server, for errors. */
  where: string;
}
