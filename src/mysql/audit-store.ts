/** The audit trail in the store: every decision and outcome, newest first, with late rows dated by their age. */
import type { RowDataPacket } from 'mysql2/promise';
import type { AuditRow, AuditStore } from '../core/ports/store.js';
import type { StoreDb } from './store-db.js';

export function createMysqlAudit({ q }: StoreDb): AuditStore {
  return {
    async record(e) {
      await q(
        'INSERT INTO audit (at, source, user_id, channel_id, command, text, decision, rule, status, host, job_handle, exit_code, duration_ms, output_bytes, request_id, summary) VALUES (CURRENT_TIMESTAMP(3) - INTERVAL ? MICROSECOND,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
        [
          Math.round((e.ageMs ?? 0) * 1000),
          e.source,
          e.userId,
          e.channelId,
          e.command,
          e.text.slice(0, 60_000),
          e.decision,
          e.rule ?? null,
          e.status,
          e.host ?? null,
          e.jobHandle ?? null,
          e.exitCode ?? null,
          e.durationMs === undefined || e.durationMs === null ? null : Math.round(e.durationMs),
          e.outputBytes ?? null,
          e.requestId ?? null,
          e.summary?.slice(0, 60_000) ?? null,
        ],
      );
    },
    async recent(limit): Promise<AuditRow[]> {
      const rows = await q<RowDataPacket[]>('SELECT * FROM audit ORDER BY id DESC LIMIT ?', [limit]);
      return rows.map((r) => ({
        id: Number(r.id),
        at: new Date(r.at),
        source: r.source,
        userId: r.user_id,
        channelId: r.channel_id,
        command: r.command,
        text: r.text,
        decision: r.decision,
        rule: r.rule,
        status: r.status,
        host: r.host,
        jobHandle: r.job_handle,
        exitCode: r.exit_code,
        durationMs: r.duration_ms,
        outputBytes: r.output_bytes === null ? null : Number(r.output_bytes),
        requestId: r.request_id,
        summary: r.summary,
      }));
    },
  };
}
