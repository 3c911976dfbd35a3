/**
 * The store over mysql2: the "common" database with the audit trail,
 * clusters, incidents and the load-balancer pool. Schema migrations run at
 * start-up under a lock, once each, so several bots can start together.
 */
import mysql, { type Pool, type PoolConnection, type RowDataPacket, type ResultSetHeader } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { createMysqlInteractions } from './interactions.js';
import type {
  AuditRow,
  ClusterNode,
  ClusterRecord,
  Incident,
  IncidentKind,
  Store,
  StoreLock,
} from '../core/ports/store.js';
import { toStoreError } from './errors.js';
import { ALL_MIGRATIONS } from './migrations.js';
import { createPoolStore } from './pool-store.js';
import { createChangeJournal } from './change-journal.js';

/** Connection and retry settings. */
export interface StorePreset {
  connectTimeoutMs: number;
  poolSize: number;
  startupAttempts: number;
  startupBackoffMs: number;
}

/** Named presets: default for the bot, fast for tests. */
export const STORE_PRESETS: Record<'default' | 'fast', StorePreset> = {
  default: { connectTimeoutMs: 5000, poolSize: 10, startupAttempts: 8, startupBackoffMs: 500 },
  fast: { connectTimeoutMs: 1000, poolSize: 5, startupAttempts: 2, startupBackoffMs: 100 },
};

interface ParsedUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  where: string;
}

function parseUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GearopsError(
      ErrorCode.Config,
      'GEAROPS_MYSQL_URL is not a URL — expected mysql://user:password@host:3306/common',
      { data: { variable: 'GEAROPS_MYSQL_URL' } },
    );
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol !== 'mysql:' || !database || !/^[A-Za-z0-9_]+$/.test(database)) {
    throw new GearopsError(
      ErrorCode.Config,
      'GEAROPS_MYSQL_URL must look like mysql://user:password@host:3306/common',
      { data: { variable: 'GEAROPS_MYSQL_URL' } },
    );
  }
  const port = Number(u.port || 3306);
  return {
    host: u.hostname,
    port,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
    where: `${u.hostname}:${port}`,
  };
}

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

/** Opens the store, creating the database and migrating the schema as needed. */
export async function createMysqlStore(opts: { url: string; logger: Logger; preset?: StorePreset }): Promise<Store> {
  const p = parseUrl(opts.url);
  const preset = opts.preset ?? STORE_PRESETS.default;
  const log = opts.logger.child({ component: 'store', where: p.where, database: p.database });
  const base = {
    host: p.host,
    port: p.port,
    user: p.user,
    password: p.password,
    connectTimeout: preset.connectTimeoutMs,
    dateStrings: false as const,
    supportBigNumbers: true,
  };

  // Start-up: the bot may come up before MySQL does.
  for (let attempt = 1; ; attempt++) {
    try {
      const c = await mysql.createConnection(base);
      await c.query(`CREATE DATABASE IF NOT EXISTS \`${p.database}\` DEFAULT CHARACTER SET utf8mb4`);
      await c.end();
      break;
    } catch (err) {
      const e = toStoreError(err, p.where);
      if (attempt >= preset.startupAttempts || e.code !== ErrorCode.StoreUnavailable) {
        throw new GearopsError(
          e.code,
          `${e.message} — check GEAROPS_MYSQL_URL (mysql://user:password@host:3306/${p.database})`,
          { cause: err, data: { variable: 'GEAROPS_MYSQL_URL', where: p.where } },
        );
      }
      log.warn({ attempt, err: e.message }, 'store not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, preset.startupBackoffMs * attempt));
    }
  }
  const db: Pool = mysql.createPool({
    ...base,
    database: p.database,
    connectionLimit: preset.poolSize,
    waitForConnections: true,
    enableKeepAlive: true,
  });
  db.on('connection', (c) => void c.query("SET SESSION time_zone = '+00:00'"));
  const q = async <T extends RowDataPacket[] | ResultSetHeader>(sql: string, params: unknown[] = []): Promise<T> => {
    try {
      const [rows] = await db.query<T>(sql, params);
      return rows;
    } catch (err) {
      throw toStoreError(err, p.where);
    }
  };

  await migrate(db, log, p.where);

  const store: Store = {
    audit: {
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
    },
    clusters: {
      async create(c) {
        let conn: PoolConnection | null = null;
        try {
          conn = await db.getConnection();
          await conn.beginTransaction();
          await conn.query(
            'INSERT INTO clusters (name, kind, version, credentials, created_by, state, install_token) VALUES (?,?,?,?,?,?,?)',
            [
              c.name,
              c.kind ?? 'built',
              c.version,
              c.credentials,
              c.createdBy,
              c.state ?? 'ready',
              c.state === 'installing' ? (c.installToken ?? null) : null,
            ],
          );
          await insertNodes(conn, c.name, c.nodes);
          await conn.commit();
        } catch (err) {
          await conn?.rollback().catch(() => undefined);
          const e = toStoreError(err, p.where);
          if (e.code === ErrorCode.Conflict)
            throw new GearopsError(ErrorCode.Conflict, `a cluster named ${c.name} already exists`, { cause: err });
          throw e;
        } finally {
          conn?.release();
        }
      },
      async get(name) {
        return (await loadClusters(name))[0] ?? null;
      },
      list: () => loadClusters(),
      async remove(name) {
        const r = await q<ResultSetHeader>('DELETE FROM clusters WHERE name = ?', [name]);
        return r.affectedRows > 0;
      },
      async setNodes(name, nodes) {
        let conn: PoolConnection | null = null;
        try {
          conn = await db.getConnection();
          await conn.beginTransaction();
          const [found] = await conn.query<RowDataPacket[]>('SELECT name FROM clusters WHERE name = ? FOR UPDATE', [
            name,
          ]);
          if (found.length === 0) {
            await conn.rollback();
            return false;
          }
          await conn.query('DELETE FROM cluster_nodes WHERE cluster = ?', [name]);
          await insertNodes(conn, name, nodes);
          await conn.commit();
          return true;
        } catch (err) {
          await conn?.rollback().catch(() => undefined);
          throw toStoreError(err, p.where);
        } finally {
          conn?.release();
        }
      },
      async markRemoving(name) {
        const r = await q<ResultSetHeader>("UPDATE clusters SET state = 'removing' WHERE name = ?", [name]);
        return r.affectedRows > 0;
      },
      async markReady(name, version) {
        const r = await q<ResultSetHeader>(
          "UPDATE clusters SET state = 'ready', version = ?, install_token = NULL WHERE name = ? AND state = 'installing'",
          [version, name],
        );
        return r.affectedRows > 0;
      },
    },
    interactions: createMysqlInteractions(q),
    incidents: {
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
        return store.incidents.get(id);
      },
    },
    pool: createPoolStore({ db, logger: opts.logger, where: p.where }),
    changes: createChangeJournal({ db, where: p.where }),
    commands: {
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
    },
    lock(name, o) {
      return createLock(base, p, name, log, o?.idleTimeoutS ?? 60);
    },
    async ping() {
      try {
        await db.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await db.end().catch(() => undefined);
    },
  };

  async function insertNodes(conn: PoolConnection, cluster: string, nodes: ClusterNode[]): Promise<void> {
    for (const [i, n] of nodes.entries())
      await conn.query(
        'INSERT INTO cluster_nodes (cluster, position, host, address, port, role, server_id, sandbox, replicates_from, ' +
          'probe_via) VALUES (?,?,?,?,?,?,?,?,?,?)',
        [cluster, i, n.host, n.address, n.port, n.role, n.serverId, n.sandbox, n.replicatesFrom ?? null, n.via ?? null],
      );
  }

  async function loadClusters(name?: string): Promise<ClusterRecord[]> {
    const rows = await q<RowDataPacket[]>(
      `SELECT * FROM clusters ${name ? 'WHERE name = ?' : ''} ORDER BY name`,
      name ? [name] : [],
    );
    if (rows.length === 0) return [];
    const nodes = await q<RowDataPacket[]>(
      `SELECT * FROM cluster_nodes WHERE cluster IN (${rows.map(() => '?').join(',')}) ORDER BY cluster, position`,
      rows.map((r) => r.name),
    );
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind === 'watched' ? ('watched' as const) : ('built' as const),
      version: r.version,
      credentials: r.credentials,
      createdBy: r.created_by,
      createdAt: new Date(r.created_at),
      state:
        r.state === 'installing' || r.state === 'removing'
          ? (r.state as 'installing' | 'removing')
          : ('ready' as const),
      ...(r.install_token ? { installToken: String(r.install_token) } : {}),
      nodes: nodes
        .filter((n) => n.cluster === r.name)
        .map((n) => ({
          host: n.host,
          address: n.address,
          port: Number(n.port),
          role: n.role,
          serverId: Number(n.server_id),
          sandbox: n.sandbox,
          ...(n.replicates_from ? { replicatesFrom: String(n.replicates_from) } : {}),
          ...(n.probe_via ? { via: String(n.probe_via) } : {}),
        })),
    }));
  }
  return store;
}

function openKey(cluster: string, host: string, port: number, kind: string): string {
  return `${cluster}/${host}/${port}/${kind}`;
}

async function migrate(db: Pool, log: Logger, where: string): Promise<void> {
  const conn = await db.getConnection().catch((err) => {
    throw toStoreError(err, where);
  });
  try {
    const [[got]] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK('gearops.migrate', 30) AS ok");
    if (!got || Number(got.ok) !== 1)
      throw new GearopsError(ErrorCode.Store, 'could not take the migration lock within 30 s');
    await conn.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB',
    );
    const [done] = await conn.query<RowDataPacket[]>('SELECT version FROM schema_migrations');
    const applied = new Set(done.map((r) => Number(r.version)));
    for (const m of ALL_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      for (const s of m.statements) await conn.query(s);
      await conn.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
      log.info({ event: 'migrated', version: m.version, name: m.name }, 'schema migration applied');
    }
  } catch (err) {
    throw toStoreError(err, where);
  } finally {
    await conn.query("DO RELEASE_LOCK('gearops.migrate')").catch(() => undefined);
    conn.release();
  }
}

function createLock(
  base: mysql.ConnectionOptions,
  p: ParsedUrl,
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
        conn ??= await mysql.createConnection({ ...base, database: p.database });
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
