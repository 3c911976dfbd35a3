/**
 * The store over mysql2: the "common" database with the audit trail,
 * clusters, incidents and the load-balancer pool. Schema migrations run at
 * start-up under a lock, once each, so several bots can start together.
 */
import mysql, { type Pool, type RowDataPacket, type ResultSetHeader } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { createMysqlInteractions } from './interactions.js';
import type { Store } from '../core/ports/store.js';
import { toStoreError } from './errors.js';
import { ALL_MIGRATIONS } from './migrations.js';
import { createPoolStore } from './pool-store.js';
import { createChangeJournal } from './change-journal.js';
import { createMysqlAudit } from './audit-store.js';
import { createMysqlClusters } from './cluster-store.js';
import { createMysqlIncidents } from './incident-store.js';
import { createMysqlCommandsJournal } from './commands-journal.js';
import { createLock } from './store-lock.js';

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

  const parts = { db, q, where: p.where };
  const store: Store = {
    audit: createMysqlAudit(parts),
    clusters: createMysqlClusters(parts),
    interactions: createMysqlInteractions(q),
    incidents: createMysqlIncidents(parts),
    pool: createPoolStore({ db, logger: opts.logger, where: p.where }),
    changes: createChangeJournal({ db, where: p.where }),
    commands: createMysqlCommandsJournal(parts),
    lock(name, o) {
      return createLock({ ...base, database: p.database }, name, log, o?.idleTimeoutS ?? 60);
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

  return store;
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
