/**
 * Reads and repairs replication on the nodes themselves (the bot connects to
 * each node with the sandbox credentials). Handles MariaDB and MySQL 8
 * column names; short time-outs so a dead node answers fast and never hangs.
 */
import { randomUUID } from 'node:crypto';
import mysql, { type Pool, type RowDataPacket, type FieldPacket } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import {
  unreachableStatus,
  type NodeAddress,
  type NodeStatus,
  type ReplicationProbe,
} from '../core/ports/replication.js';
import type { CredentialResolver, DbAccount } from '../core/ports/credentials.js';
import { createNodeConnections, type NamedAccount } from './node-connections.js';
import { toStoreError } from './errors.js';
import { runKillable } from './killable-query.js';

const num = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number(v));
const pick = (r: RowDataPacket, ...names: string[]): unknown => {
  for (const n of names) if (n in r) return r[n];
  return undefined;
};

/** Schemas that are the server's own: /replica sql's account never reads them (mysql.* holds password hashes). */
const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

/**
 * Creates a probe. `credentials` is one account for every node (benchmarks, tests), or a resolver that
 * gives each cluster's own accounts by the node's `cluster`; a watched cluster's node names its credentials
 * entry instead (`named`). Each probe has connections of its own, per node: give the monitor a probe of its
 * own, so that commands' statements never take the connections it reads status with. Statements of `exec`
 * (what /replica sql runs) have their own connections too, and are ended with KILL QUERY at their time-out
 * (`execTimeoutMs`, default 5 s, or the caller's).
 * Over 80 lines as a factory: the probe's methods share its connection pools; each is short.
 */
export function createReplicationProbe(opts: {
  credentials: DbAccount | CredentialResolver;
  /** Named credentials (a node's `credentials`, a watched cluster's); throws for an unknown name. */
  named?: (name: string) => NamedAccount;
  logger: Logger;
  connectTimeoutMs?: number;
  /** Connections per node for status and repairs (default 3). */
  connectionLimit?: number;
  /** Connections per node for `exec` (default 8; /replica sql's per-cluster limit keeps below it). */
  execConnectionLimit?: number;
  execTimeoutMs?: number;
  /** Shared with the bot's other probes and its control (see NodeCredentialOptions.ownThreads). */
  ownThreads?: Map<string, Set<number>>;
}): ReplicationProbe {
  const conns = createNodeConnections({ ...opts, adminLimit: opts.connectionLimit ?? 3 });
  const execPools = new Map<string, Pool>();
  const accountFor = conns.account;
  const connectOptions = conns.connectOptions;
  const poolIn = conns.poolIn;
  const query = (n: NodeAddress, sql: string, params: unknown[] = []) => conns.query(n, sql, params);
  const flavour = async (n: NodeAddress) => {
    const [[v]] = await query(n, 'SELECT VERSION() AS v');
    const version = String(v?.v ?? '');
    const maria = /mariadb/i.test(version);
    const [maj, min, patch] = version.split(/[.-]/).map(Number);
    const mysql8023 = !maria && ((maj ?? 0) > 8 || ((maj ?? 0) === 8 && ((min ?? 0) > 0 || (patch ?? 0) >= 22)));
    return { version: version.replace(/-log$/, ''), maria, replicaWords: mysql8023 };
  };
  const replicaStatement = (f: { replicaWords: boolean }) =>
    f.replicaWords ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS';

  /**
   * Gives the read-only account SELECT on every application schema of the node that it lacks (schemas are
   * made after the install). Not binlogged: every node grants its own, as the install made the account on each.
   */
  const grantApplicationSchemas = async (n: NodeAddress): Promise<void> => {
    const ro = accountFor(n, 'readOnly');
    const [schemas] = await query(
      n,
      'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?)',
      [SYSTEM_SCHEMAS],
    );
    const [granted] = await query(
      n,
      "SELECT Db AS d FROM mysql.db WHERE User = ? AND Host = '%' AND Select_priv = 'Y'",
      [ro.user],
    );
    // Grants name schemas as LIKE patterns: _ and % are escaped so that each grant covers its own schema only.
    const pattern = (s: string) => s.replace(/[\\_%]/g, (ch) => `\\${ch}`);
    const have = new Set(granted.map((r) => String(r.d)));
    const missing = schemas.map((r) => String(r.s)).filter((s) => !have.has(pattern(s)));
    if (missing.length === 0) return;
    const admin = accountFor(n, 'admin');
    const c = await mysql.createConnection({
      host: n.address,
      port: n.port,
      user: admin.user,
      password: admin.password,
      connectTimeout: opts.connectTimeoutMs ?? 1000,
    });
    try {
      await c.query('SET SESSION sql_log_bin = 0');
      for (const s of missing)
        await c.query(`GRANT SELECT ON \`${pattern(s).replaceAll('`', '``')}\`.* TO ?@'%'`, [ro.user]);
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  /** Runs `sql` as the node's read-only account, inside a read-only transaction the server ends at `limitS`. */
  const readOnlyQuery = async (
    n: NodeAddress,
    sql: string,
    limitS: number,
    timeoutMs: number,
  ): Promise<[RowDataPacket[], FieldPacket[]]> => {
    // gearops grants only on the sandboxes it built: a watched server's account is as its DBAs made it.
    if (!n.credentials)
      await grantApplicationSchemas(n).catch((err) => {
        throw toStoreError(err, `${n.address}:${n.port}`, 'the server');
      });
    return runKillable(
      poolIn(execPools, n, 'readOnly', opts.execConnectionLimit ?? 8),
      connectOptions(n, 'readOnly'),
      sql,
      {
        timeoutMs,
        where: `${n.address}:${n.port}`,
        prelude: [`SET SESSION max_statement_time = ${Number(limitS)}`, 'START TRANSACTION READ ONLY'],
        finish: 'ROLLBACK',
      },
    );
  };

  const probe: ReplicationProbe = {
    async status(n) {
      try {
        const f = await flavour(n);
        const [[ro]] = await query(n, 'SELECT @@read_only AS ro');
        const [rows] = await query(n, replicaStatement(f));
        const r = rows[0];
        const base: NodeStatus = {
          reachable: true,
          version: f.version,
          flavour: f.maria ? 'mariadb' : 'mysql',
          readOnly: Boolean(Number(ro?.ro)),
          isReplica: !!r,
          secondsBehind: null,
          lastIoErrno: null,
          lastIoError: null,
          lastSqlErrno: null,
          lastSqlError: null,
        };
        if (!r) {
          const [ms] = await query(n, f.replicaWords ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS').catch(
            () => [[] as RowDataPacket[]] as unknown as [RowDataPacket[], FieldPacket[]],
          );
          const [[g]] = await query(n, f.maria ? 'SELECT @@gtid_binlog_pos AS g' : 'SELECT @@gtid_executed AS g').catch(
            () => [[{ g: null } as unknown as RowDataPacket]] as unknown as [RowDataPacket[], FieldPacket[]],
          );
          return {
            ...base,
            gtid: (g?.g as string) || null,
            binlogFile: (ms[0]?.File as string) ?? null,
            binlogPos: num(ms[0]?.Position),
          };
        }
        let gtid: string | null = null;
        if (f.maria) {
          const [[g]] = await query(n, 'SELECT @@gtid_slave_pos AS g');
          gtid = (g?.g as string) || null;
        } else gtid = (pick(r, 'Executed_Gtid_Set') as string) || null;
        return {
          ...base,
          ioRunning: (pick(r, 'Slave_IO_Running', 'Replica_IO_Running') as NodeStatus['ioRunning']) ?? null,
          sqlRunning: (pick(r, 'Slave_SQL_Running', 'Replica_SQL_Running') as NodeStatus['sqlRunning']) ?? null,
          secondsBehind: num(pick(r, 'Seconds_Behind_Master', 'Seconds_Behind_Source')),
          lastIoErrno: num(pick(r, 'Last_IO_Errno')),
          lastIoError: (pick(r, 'Last_IO_Error') as string) || null,
          lastSqlErrno: num(pick(r, 'Last_SQL_Errno')),
          lastSqlError: (pick(r, 'Last_SQL_Error') as string) || null,
          masterHost: pick(r, 'Master_Host', 'Source_Host') as string,
          masterPort: num(pick(r, 'Master_Port', 'Source_Port')) ?? undefined,
          gtid,
          binlogFile: (pick(r, 'Relay_Master_Log_File', 'Relay_Source_Log_File') as string) ?? null,
          binlogPos: num(pick(r, 'Exec_Master_Log_Pos', 'Exec_Source_Log_Pos')),
        };
      } catch (err) {
        return unreachableStatus((err as Error).message);
      }
    },
    async exec(n, sql, o) {
      const timeoutMs = o?.timeoutMs ?? opts.execTimeoutMs ?? 5000;
      const [rows, fields] = o?.readOnly
        ? await readOnlyQuery(n, sql, o.maxStatementTimeS ?? Math.ceil(timeoutMs / 1000), timeoutMs)
        : await runKillable(
            poolIn(execPools, n, 'admin', opts.execConnectionLimit ?? 8),
            connectOptions(n, 'admin'),
            sql,
            {
              timeoutMs,
              where: `${n.address}:${n.port}`,
            },
          );
      if (!Array.isArray(rows))
        return { columns: ['affected rows'], rows: [[String((rows as { affectedRows?: number }).affectedRows ?? 0)]] };
      const columns = (fields ?? []).map((f) => f.name);
      return {
        columns,
        rows: rows.map((r) =>
          columns.map((c) =>
            r[c] === null
              ? 'NULL'
              : r[c] instanceof Date
                ? (r[c] as Date).toISOString()
                : Buffer.isBuffer(r[c])
                  ? (r[c] as Buffer).toString('utf8')
                  : String(r[c]),
          ),
        ),
      };
    },
    async verifyReplication(master, replicas, o) {
      const marker = randomUUID();
      await query(master, 'CREATE DATABASE IF NOT EXISTS gearops_check');
      await query(
        master,
        'CREATE TABLE IF NOT EXISTS gearops_check.markers (id CHAR(36) PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
      );
      await query(master, 'INSERT INTO gearops_check.markers (id) VALUES (?)', [marker]);
      const deadline = Date.now() + (o?.timeoutMs ?? 15_000);
      return Promise.all(
        replicas.map(async (node) => {
          for (;;) {
            try {
              const [rows] = await query(node, 'SELECT id FROM gearops_check.markers WHERE id = ?', [marker]);
              if (rows.length) return { node, ok: true, detail: 'the write on the master arrived' };
            } catch {
              // the table may not have arrived yet
            }
            if (Date.now() > deadline) {
              const s = await probe.status(node);
              return {
                node,
                ok: false,
                detail: `the write on the master did not arrive (IO ${s.ioRunning ?? '?'}, SQL ${s.sqlRunning ?? '?'}${s.lastIoError ? `, ${s.lastIoError}` : ''}${s.lastSqlError ? `, ${s.lastSqlError}` : ''})`,
              };
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        }),
      );
    },
    async startReplication(n) {
      const f = await flavour(n);
      await query(n, f.replicaWords ? 'START REPLICA' : 'START SLAVE');
    },
    async stopReplication(n, thread) {
      const f = await flavour(n);
      const t = thread === 'io' ? ' IO_THREAD' : thread === 'sql' ? ' SQL_THREAD' : '';
      await query(n, `${f.replicaWords ? 'STOP REPLICA' : 'STOP SLAVE'}${t}`);
    },
    async skipOneEvent(n) {
      const f = await flavour(n);
      const s = await probe.status(n);
      if (s.sqlRunning === 'Yes')
        throw new GearopsError(ErrorCode.Usage, 'the SQL thread is running: there is no failed event to skip');
      if (f.maria) {
        await query(n, 'SET GLOBAL sql_slave_skip_counter = 1');
        await query(n, 'START SLAVE SQL_THREAD');
      } else {
        await query(
          n,
          f.replicaWords ? 'SET GLOBAL sql_replica_skip_counter = 1' : 'SET GLOBAL sql_slave_skip_counter = 1',
        );
        await query(n, f.replicaWords ? 'START REPLICA SQL_THREAD' : 'START SLAVE SQL_THREAD');
      }
    },
    async close() {
      await conns.close();
    },
  };
  return probe;
}
