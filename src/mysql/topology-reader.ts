/**
 * Reads what discovery needs from one server over its own short-lived connection: identity, source, registered
 * replicas and binlog-dump clients. Read-only statements only; MariaDB and MySQL 8 words both.
 */
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { NodeFacts, TopologyReader } from '../core/topology.js';
import type { NodeAddress } from '../core/ports/replication.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { toStoreError } from './errors.js';

/** Grants a monitoring account needs, by what a denial was met reading. */
const NEEDS: Record<string, string> = {
  status: 'REPLICATION CLIENT (MariaDB ≥ 10.5: SLAVE MONITOR / REPLICA MONITOR; MySQL: REPLICATION CLIENT)',
  hosts: 'REPLICATION MASTER ADMIN (MariaDB ≥ 10.5) or REPLICATION SLAVE (MySQL), to list registered replicas',
  processlist: 'PROCESS (to see replicas connected without report_host)',
};

/** Creates a reader that logs in as `credentials`. */
export function createTopologyReader(opts: {
  credentials: { user: string; password: string };
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}): TopologyReader {
  const timeout = opts.queryTimeoutMs ?? 5000;
  return {
    async facts(n: NodeAddress): Promise<NodeFacts> {
      const where = `${n.address}:${n.port}`;
      let c: Connection | null = null;
      try {
        c = await mysql.createConnection({
          host: n.address,
          port: n.port,
          user: opts.credentials.user,
          password: opts.credentials.password,
          connectTimeout: opts.connectTimeoutMs ?? 2000,
        });
        const q = async (sql: string, what: string): Promise<RowDataPacket[]> => {
          try {
            const [rows] = await c!.query<RowDataPacket[]>({ sql, timeout });
            return rows;
          } catch (err) {
            throw denied(err, where, what) ?? err;
          }
        };
        const [self] = await q(
          'SELECT @@server_id AS id, @@port AS port, @@report_host AS rh, VERSION() AS v, @@read_only AS ro',
          'identity',
        );
        const version = String(self?.v ?? '');
        const maria = /mariadb/i.test(version);
        const [maj, min, patch] = version.split(/[.-]/).map(Number);
        const mysqlNewWords =
          !maria && ((maj ?? 0) > 8 || ((maj ?? 0) === 8 && ((min ?? 0) > 0 || (patch ?? 0) >= 22)));
        const [src] = await q(mysqlNewWords ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS', 'status');
        // Without the grant to list registered replicas, the dump threads still find them: a note, not a failure.
        const notes: string[] = [];
        const hosts = await q(mysqlNewWords ? 'SHOW REPLICAS' : 'SHOW SLAVE HOSTS', 'hosts').catch((err: Error) => {
          if (!(err instanceof GearopsError)) throw err;
          notes.push(err.message);
          return [] as RowDataPacket[];
        });
        const dumps = await q(
          "SELECT HOST AS h FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
          'processlist',
        );
        const pick = (r: RowDataPacket, ...names: string[]) => names.map((x) => r[x]).find((v) => v !== undefined);
        const sourceHost = src ? String(pick(src, 'Master_Host', 'Source_Host') ?? '') : '';
        return {
          serverId: Number(self?.id),
          port: Number(self?.port),
          reportHost: (self?.rh as string | null) || null,
          version: version.replace(/-log$/, ''),
          readOnly: Boolean(Number(self?.ro)),
          source:
            src && sourceHost
              ? {
                  host: sourceHost,
                  port: Number(pick(src, 'Master_Port', 'Source_Port')),
                  ioRunning: (pick(src, 'Slave_IO_Running', 'Replica_IO_Running') as string) ?? null,
                  sqlRunning: (pick(src, 'Slave_SQL_Running', 'Replica_SQL_Running') as string) ?? null,
                }
              : null,
          registered: hosts.map((r) => ({
            host: String(r.Host ?? ''),
            port: Number(r.Port),
            serverId: Number(pick(r, 'Server_id', 'Server_Id')),
          })),
          dumpClients: dumps.map((r) => String(r.h ?? '').replace(/:\d+$/, '')).filter((h) => h.length > 0),
          notes,
        };
      } catch (err) {
        throw toStoreError(err, where, 'the server');
      } finally {
        await c?.end().catch(() => undefined);
      }
    },
  };
}

/** A missing grant, said as the grant to give; null for any other error. */
function denied(err: unknown, where: string, what: string): GearopsError | null {
  const code = (err as { code?: string }).code;
  if (
    code !== 'ER_SPECIFIC_ACCESS_DENIED_ERROR' &&
    code !== 'ER_ACCESS_DENIED_ERROR' &&
    code !== 'ER_DBACCESS_DENIED_ERROR'
  )
    return null;
  return new GearopsError(
    ErrorCode.Store,
    `${where}: the monitoring account may not read ${what}: grant it ${NEEDS[what] ?? 'the grants the README lists'}`,
    { cause: err, data: { where } },
  );
}
