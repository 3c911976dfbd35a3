/** Incidents in the store: at most one open per node and kind (a unique open key), resolved once. */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Incident, IncidentKind, IncidentStore } from '../core/ports/store.js';
import { ErrorCode, GearopsError } from '../errors.js';
import type { StoreDb } from './store-db.js';

const KINDS: IncidentKind[] = ['io_stopped', 'sql_stopped', 'lag', 'unreachable', 'master_lost'];

function incidentFrom(r: RowDataPacket): Incident {
  return {
    id: Number(r.id),
    cluster: r.cluster,
    host: r.host,
    port: Number(r.port),
    kind: KINDS.includes(r.kind) ? r.kind : 'unreachable',
    state: r.state,
    errno: r.errno === null ? null : Number(r.errno),
    error: r.error,
    lag: r.lag === null ? null : Number(r.lag),
    openedAt: new Date(r.opened_at),
    resolvedAt: r.resolved_at ? new Date(r.resolved_at) : null,
    alertChannel: r.alert_channel,
    alertTs: r.alert_ts,
    acknowledgedBy: r.acknowledged_by,
    pooledOut: Boolean(r.pooled_out),
  };
}

function openKey(cluster: string, host: string, port: number, kind: string): string {
  return `${cluster}/${host}/${port}/${kind}`;
}

export function createMysqlIncidents({ q }: StoreDb): IncidentStore {
  const incidents: IncidentStore = {
    async findOpen(cluster, host, port, kind) {
      const rows = await q<RowDataPacket[]>('SELECT * FROM incidents WHERE open_key = ?', [
        openKey(cluster, host, port, kind),
      ]);
      return rows[0] ? incidentFrom(rows[0]) : null;
    },
    async listOpen() {
      return (await q<RowDataPacket[]>("SELECT * FROM incidents WHERE state = 'open' ORDER BY id")).map(incidentFrom);
    },
    async get(id) {
      const rows = await q<RowDataPacket[]>('SELECT * FROM incidents WHERE id = ?', [id]);
      return rows[0] ? incidentFrom(rows[0]) : null;
    },
    async open(i) {
      const k = openKey(i.cluster, i.host, i.port, i.kind);
      // INSERT IGNORE on the unique open_key: two monitors (or a restart) can never open a second thread.
      const r = await q<ResultSetHeader>(
        'INSERT IGNORE INTO incidents (cluster, host, port, kind, errno, error, lag, open_key) VALUES (?,?,?,?,?,?,?,?)',
        [i.cluster, i.host, i.port, i.kind, i.errno, i.error, i.lag, k],
      );
      const rows = await q<RowDataPacket[]>('SELECT * FROM incidents WHERE open_key = ?', [k]);
      if (!rows[0]) throw new GearopsError(ErrorCode.Store, 'incident vanished while opening');
      return { incident: incidentFrom(rows[0]), created: r.affectedRows === 1 && Number(rows[0].id) === r.insertId };
    },
    async update(id, patch) {
      const cols: Record<string, string> = {
        errno: 'errno',
        error: 'error',
        lag: 'lag',
        alertChannel: 'alert_channel',
        alertTs: 'alert_ts',
        acknowledgedBy: 'acknowledged_by',
        pooledOut: 'pooled_out',
      };
      const sets: string[] = [];
      const vals: unknown[] = [];
      for (const [k, v] of Object.entries(patch)) {
        if (!cols[k] || v === undefined) continue;
        sets.push(`${cols[k]} = ?`);
        vals.push(typeof v === 'boolean' ? Number(v) : v);
      }
      if (sets.length) await q(`UPDATE incidents SET ${sets.join(', ')} WHERE id = ?`, [...vals, id]);
    },
    async resolve(id, at) {
      await q(
        "UPDATE incidents SET state = 'resolved', resolved_at = ?, open_key = NULL WHERE id = ? AND state = 'open'",
        [at ?? new Date(), id],
      );
      return incidents.get(id);
    },
  };
  return incidents;
}
