/**
 * The store's share of Slack's requests (InteractionStore over mysql2): request keys taken, confirmations asked
 * and answered, and per-user command counts, so that every bot instance on one store acts as one.
 */
import { createHash } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ConfirmationPress, InteractionStore } from '../core/ports/store.js';

/** Runs one statement on the store (errors already translated). */
export type StoreQuery = <T extends RowDataPacket[] | ResultSetHeader>(sql: string, params?: unknown[]) => Promise<T>;

const hash = (key: string) => createHash('sha256').update(key).digest('hex');
const bool = (v: unknown): boolean | null => (v === null || v === undefined ? null : Number(v) === 1);

/**
 * Creates the InteractionStore on the tables of migration 3. Over 80 lines as a factory: one short method per operation on the interaction tables.
 */
export function createMysqlInteractions(q: StoreQuery): InteractionStore {
  let calls = 0;
  // Rows are kept a day (requests older than 5 minutes are refused anyway); swept now and then, not per call.
  const sweep = async () => {
    if (++calls % 200 !== 0) return;
    await Promise.all([
      q<ResultSetHeader>('DELETE FROM slack_requests WHERE at < NOW(3) - INTERVAL 1 DAY'),
      q<ResultSetHeader>('DELETE FROM confirmations WHERE at < NOW(3) - INTERVAL 1 DAY'),
      q<ResultSetHeader>('DELETE FROM user_rate_hits WHERE at < NOW(3) - INTERVAL 1 DAY'),
    ]).catch(() => undefined);
  };
  const taken = async (id: string) => {
    const rows = await q<RowDataPacket[]>('SELECT taken FROM confirmations WHERE id = ?', [id]);
    return bool(rows[0]?.taken);
  };
  return {
    async claim(keys) {
      await sweep();
      const hashed = [...new Set(keys.map(hash))];
      if (hashed.length === 0) return true;
      // One statement: of two instances racing for the same key, exactly one inserts it.
      const r = await q<ResultSetHeader>(
        `INSERT IGNORE INTO slack_requests (k) VALUES ${hashed.map(() => '(?)').join(', ')}`,
        hashed,
      );
      return r.affectedRows === hashed.length;
    },
    async openConfirmation(id, userId, ttlMs) {
      await sweep();
      await q<ResultSetHeader>(
        'INSERT INTO confirmations (id, user_id, expires_at) VALUES (?, ?, NOW(3) + INTERVAL ? MICROSECOND)',
        [id, userId, Math.round(ttlMs * 1000)],
      );
    },
    async answerConfirmation(id, userId, yes) {
      const r = await q<ResultSetHeader>(
        `UPDATE confirmations SET answer = ?
          WHERE id = ? AND user_id = ? AND answer IS NULL AND taken IS NULL AND expires_at > NOW(3)`,
        [yes ? 1 : 0, id, userId],
      );
      if (r.affectedRows === 1) return { press: 'ok' };
      const rows = await q<RowDataPacket[]>(
        'SELECT user_id, answer, taken, expires_at <= NOW(3) AS expired FROM confirmations WHERE id = ?',
        [id],
      );
      const row = rows[0];
      if (!row) return { press: 'unknown' };
      const askedOf = String(row.user_id);
      // Taken without an answer: the asker's wait ran out (expired), whatever the clock says now.
      const press: ConfirmationPress =
        askedOf !== userId
          ? 'not_yours'
          : row.answer !== null
            ? 'answered'
            : row.taken !== null || Number(row.expired) === 1
              ? 'expired'
              : 'unknown';
      return { press, askedOf };
    },
    async settleConfirmation(id, final) {
      // taken is set once: a press after it is refused as answered, and the asker acts on exactly this value.
      await q<ResultSetHeader>(
        final
          ? 'UPDATE confirmations SET taken = COALESCE(answer, 0) WHERE id = ? AND taken IS NULL'
          : 'UPDATE confirmations SET taken = answer WHERE id = ? AND taken IS NULL AND answer IS NOT NULL',
        [id],
      );
      return taken(id);
    },
    confirmationTaken: taken,
    async takeRate(userId, limit, windowMs) {
      await sweep();
      const window = Math.round(windowMs * 1000);
      const ins = await q<ResultSetHeader>('INSERT INTO user_rate_hits (user_id) VALUES (?)', [userId]);
      // Hits are ordered by id: of two racing instances the later one counts the earlier, never the other way.
      const rows = await q<RowDataPacket[]>(
        `SELECT COUNT(*) AS n,
                TIMESTAMPDIFF(MICROSECOND, NOW(3), MIN(at) + INTERVAL ? MICROSECOND) AS wait_us
           FROM user_rate_hits WHERE user_id = ? AND id <= ? AND at > NOW(3) - INTERVAL ? MICROSECOND`,
        [window, userId, ins.insertId, window],
      );
      const n = Number(rows[0]?.n ?? 0);
      if (n <= limit) return 0;
      // Refused: the refused attempt does not count against the window.
      await q<ResultSetHeader>('DELETE FROM user_rate_hits WHERE id = ?', [ins.insertId]);
      return Math.max(1, Math.ceil(Number(rows[0]?.wait_us ?? 0) / 1000));
    },
  };
}
