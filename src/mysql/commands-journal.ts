/** The commands journal in the store: accepted commands, for a restarted bot and for other instances to finish. */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { CommandJournal } from '../core/ports/store.js';
import type { StoreDb } from './store-db.js';

export function createMysqlCommandsJournal({ q }: StoreDb): CommandJournal {
  return {
    async accept(e) {
      await q(
        'INSERT INTO commands (request_id, instance, command, text, user_id, channel_id, host, job_id, message_ts, state) VALUES (?,?,?,?,?,?,?,?,?,?)',
        [
          e.requestId,
          e.instance,
          e.command,
          e.text.slice(0, 60_000),
          e.userId,
          e.channelId,
          e.host,
          e.jobId,
          e.messageTs ?? null,
          e.state,
        ],
      );
    },
    async update(requestId, f) {
      const cols = Object.entries({ state: f.state, message_ts: f.messageTs, job_handle: f.jobHandle }).filter(
        ([, v]) => v !== undefined,
      );
      if (!cols.length) return;
      await q(`UPDATE commands SET ${cols.map(([c]) => `${c} = ?`).join(', ')} WHERE request_id = ?`, [
        ...cols.map(([, v]) => v),
        requestId,
      ]);
    },
    async handOver(instance) {
      const r = await q<ResultSetHeader>(
        // The state stays (a running command was running): the next process needs to know.
        "UPDATE commands SET instance = CONCAT('handed-over:', instance) WHERE instance = ? AND state <> 'done'",
        [instance],
      );
      return r.affectedRows;
    },
    async claim(instance, staleMs) {
      // Claimed in one statement (the new owner's name marks the rows), then read back: two instances
      // starting together never both take the same command.
      const mark = `${instance}#${Date.now()}`;
      await q(
        `UPDATE commands SET instance = ?
         WHERE instance <> ? AND state <> 'done'
           AND (instance LIKE 'handed-over:%' OR updated_at < CURRENT_TIMESTAMP(3) - INTERVAL ? MICROSECOND)`,
        [mark, instance, Math.round(staleMs * 1000)],
      );
      const rows = await q<RowDataPacket[]>('SELECT * FROM commands WHERE instance = ?', [mark]);
      await q('UPDATE commands SET instance = ? WHERE instance = ?', [instance, mark]);
      return rows.map((r) => ({
        requestId: r.request_id,
        instance: r.instance,
        command: r.command,
        text: r.text,
        userId: r.user_id,
        channelId: r.channel_id,
        host: r.host,
        jobId: r.job_id,
        jobHandle: r.job_handle,
        messageTs: r.message_ts,
        state: r.state,
      }));
    },
  };
}
