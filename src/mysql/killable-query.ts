/**
 * A statement that ends at its deadline. Closing the client side of a slow statement (what mysql2's own `timeout`
 * does) leaves it running on the server, holding its locks and a thread; so the statement runs on a connection of
 * its own, and at its deadline a separate connection sends KILL QUERY <that connection's id>.
 */
import mysql, { type ConnectionOptions, type FieldPacket, type Pool, type RowDataPacket } from 'mysql2/promise';
import { ErrorCode, GearopsError } from '../errors.js';
import { toStoreError } from './errors.js';

/** What a statement answered: rows (or a result header for a write) and its columns. */
export type QueryAnswer = [RowDataPacket[], FieldPacket[]];

/** Sends KILL QUERY `id` over a connection of its own (`connect`), closed afterwards. */
async function killQuery(connect: ConnectionOptions, id: number): Promise<void> {
  const c = await mysql.createConnection({ ...connect, connectTimeout: connect.connectTimeout ?? 2000 });
  try {
    await c.query({ sql: `KILL QUERY ${Number(id)}`, timeout: 5000 });
  } finally {
    await c.end().catch(() => c.destroy());
  }
}

/**
 * Runs `sql` on a connection from `pool`; past `timeoutMs` it is ended with KILL QUERY from a separate connection
 * made with `connect` (the same server and account), and fails with gearops_job_timeout naming the limit and the
 * connection id. When even the KILL cannot be sent, the statement's connection is closed. A connection whose
 * statement was killed is closed, not reused. `where` is the server's host:port, for messages.
 */
export async function runKillable(
  pool: Pool,
  connect: ConnectionOptions,
  sql: string,
  opts: {
    timeoutMs: number;
    where: string;
    params?: unknown[];
    /** Statements run first on the same connection (session settings, START TRANSACTION READ ONLY). */
    prelude?: string[];
    /** Run after the statement on a connection that is kept (ROLLBACK); a failure closes the connection. */
    finish?: string;
  },
): Promise<QueryAnswer> {
  let conn: Awaited<ReturnType<Pool['getConnection']>>;
  try {
    conn = await pool.getConnection();
  } catch (err) {
    throw toStoreError(err, opts.where, 'the server');
  }
  const id = conn.threadId;
  try {
    for (const s of opts.prelude ?? []) await conn.query(s);
  } catch (err) {
    conn.destroy();
    throw toStoreError(err, opts.where, 'the server');
  }
  let killing: Promise<string | null> | null = null;
  const timer = setTimeout(() => {
    killing = killQuery(connect, id).then(
      () => null,
      (err: Error) => {
        // No KILL: at least free this side; the server ends the statement when it next writes to the client.
        conn.destroy();
        return err.message;
      },
    );
  }, opts.timeoutMs);
  try {
    const answer = opts.params ? conn.query<RowDataPacket[]>(sql, opts.params) : conn.query<RowDataPacket[]>(sql);
    return (await answer) as QueryAnswer;
  } catch (err) {
    if (!killing) throw toStoreError(err, opts.where, 'the server');
    const killFailed = await killing;
    const limit = `${Math.round(opts.timeoutMs / 100) / 10} s`;
    throw new GearopsError(
      ErrorCode.JobTimeout,
      killFailed === null
        ? `the statement ran past its ${limit} limit on ${opts.where} and was ended (KILL QUERY ${id})`
        : `the statement ran past its ${limit} limit on ${opts.where}; KILL QUERY ${id} could not be sent (${killFailed}), so its connection was closed`,
      { cause: err, data: { where: opts.where, connectionId: id, timeoutMs: opts.timeoutMs } },
    );
  } finally {
    clearTimeout(timer);
    if (killing) {
      await killing;
      conn.destroy();
    } else if (opts.finish)
      await conn.query(opts.finish).then(
        () => conn.release(),
        () => conn.destroy(),
      );
    else conn.release();
  }
}
