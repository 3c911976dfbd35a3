/** Named locks (MySQL GET_LOCK), each held on a connection of its own so that it outlives the pool's churn. */
import mysql, { type RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { StoreLock } from '../core/ports/store.js';

/** A lock named `name` in `database`; a holder silent for `idleTimeoutS` loses it (its session times out). */
export function createLock(
  base: mysql.ConnectionOptions & { database: string },
  name: string,
  log: Logger,
  idleTimeoutS: number,
): StoreLock {
  let conn: mysql.Connection | null = null;
  let held = false;
  const drop = () => {
    held = false;
    conn?.destroy();
    conn = null;
  };
  return {
    get held() {
      return held;
    },
    async tryAcquire() {
      try {
        if (held && conn) {
          // Still ours? A restarted server or a dropped connection has released it server-side.
          const [[r]] = await conn.query<RowDataPacket[]>(
            { sql: 'SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine', timeout: 5000 },
            [name],
          );
          if (Number(r?.mine) === 1) return true;
          log.warn({ event: 'lock_lost', name }, 'lock lost; trying to take it again');
          drop();
        }
        conn ??= await mysql.createConnection(base);
        conn.once('error', () => {
          held = false;
          conn = null;
        });
        // A holder cut off from the server (no FIN) loses the lock after this long, so another can take over.
        await conn.query('SET SESSION wait_timeout = ?', [idleTimeoutS]);
        const [[r]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS ok', [name]);
        held = Number(r?.ok) === 1;
        if (held) log.info({ event: 'lock_acquired', name }, 'lock acquired');
        return held;
      } catch (err) {
        drop();
        log.warn({ err: (err as Error).message, name }, 'lock attempt failed');
        return false;
      }
    },
    async release() {
      held = false;
      const c = conn;
      conn = null;
      if (c) {
        await c.query('DO RELEASE_LOCK(?)', [name]).catch(() => undefined);
        await c.end().catch(() => c.destroy());
      }
    },
  };
}
