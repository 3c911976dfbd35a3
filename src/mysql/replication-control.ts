/**
 * Topology changes on MariaDB nodes (the ReplicationControl port), over the same per-node connection handling as
 * the probe (node-connections.ts) but with pools of its own, so a MASTER_GTID_WAIT never holds a connection the
 * monitor or a command reads with. Every statement is fixed text; values (positions, addresses, ports, accounts,
 * connection ids) are checked here and passed as escaped parameters. The factory is long because it is the port's
 * methods, each short, over one set of connections.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ErrorCode, GearopsError } from '../errors.js';
import type { NodeAddress } from '../core/ports/replication.js';
import type { GtidState, KilledConnections, ReplicationControl } from '../core/ports/replication-control.js';
import type { CredentialResolver, DbAccount } from '../core/ports/credentials.js';
import { isGtidPosition } from '../core/gtid.js';
import { createNodeConnections, type NamedAccount } from './node-connections.js';

const num = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
const ADDRESS = /^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,253}[A-Za-z0-9])?$/;
/** Threads that are not clients: replication (both ends), the server's own. */
const NOT_CLIENTS = ['Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Killed'];
/** What lets a connection write while read_only=1 (MariaDB 10.11 split READ_ONLY ADMIN out of SUPER). */
const WRITE_ANYWAY = ['SUPER', 'READ_ONLY ADMIN'];

const usage = (m: string) => new GearopsError(ErrorCode.Usage, m);

/** A replica's received-but-unapplied relay log, in bytes, from its SHOW SLAVE STATUS row (GtidState.relayBacklog). */
export function relayBacklog(r: RowDataPacket | undefined): number {
  if (!r) return 0;
  const read = num(r.Read_Master_Log_Pos);
  const exec = num(r.Exec_Master_Log_Pos);
  if (read !== null && exec !== null && r.Master_Log_File && r.Master_Log_File === r.Relay_Master_Log_File)
    return Math.max(0, read - exec);
  return num(r.Relay_Log_Space) ?? 0;
}

/**
 * Creates the control. Credentials as for the probe (createReplicationProbe). Over 80 lines as a factory: its methods share one set of node connections; each is short.
 */
export function createReplicationControl(opts: {
  credentials: DbAccount | CredentialResolver;
  named?: (name: string) => NamedAccount;
  connectTimeoutMs?: number;
  /** Shared with the bot's probes: killWriters spares their connections too. */
  ownThreads?: Map<string, Set<number>>;
}): ReplicationControl {
  const conns = createNodeConnections({ ...opts, adminLimit: 4 });
  const direct = (n: NodeAddress): NodeAddress => {
    if (n.via)
      throw usage(
        `${n.address}:${n.port} is read through the worker on ${n.via}: topology changes need a direct connection`,
      );
    return n;
  };
  const q = async (n: NodeAddress, sql: string, params: unknown[] = [], timeoutMs?: number) =>
    (await conns.query(direct(n), sql, params, timeoutMs))[0];
  const slaveRow = async (n: NodeAddress) => (await q(n, 'SHOW SLAVE STATUS'))[0];

  const control: ReplicationControl = {
    async gtidState(n) {
      const [v] = await q(
        n,
        'SELECT VERSION() AS v, @@server_id AS sid, @@gtid_binlog_pos AS b, @@gtid_current_pos AS c, ' +
          '@@gtid_slave_pos AS s, @@gtid_binlog_state AS bs, @@read_only AS ro, @@log_bin AS lb, @@log_slave_updates AS lsu',
      );
      if (!/mariadb/i.test(String(v?.v ?? '')))
        throw usage(`${n.address}:${n.port} runs ${String(v?.v)}: topology changes need MariaDB GTIDs`);
      const r = await slaveRow(n);
      return {
        serverId: Number(v!.sid),
        binlogPos: String(v!.b ?? ''),
        currentPos: String(v!.c ?? ''),
        slavePos: String(v!.s ?? ''),
        binlogState: String(v!.bs ?? ''),
        ...(r ? { ioPos: String(r.Gtid_IO_Pos ?? '') } : {}),
        readOnly: Boolean(Number(v!.ro)),
        logBin: Boolean(Number(v!.lb)),
        logSlaveUpdates: Boolean(Number(v!.lsu)),
        replicating: !!r,
        ...(r ? { master: { host: String(r.Master_Host), port: Number(r.Master_Port) } } : {}),
        ...(r && str(r.Master_User) ? { masterUser: String(r.Master_User) } : {}),
        usingGtid: r ? String(r.Using_Gtid ?? 'No') : null,
        ioRunning: r ? str(r.Slave_IO_Running) : null,
        sqlRunning: r ? str(r.Slave_SQL_Running) : null,
        secondsBehind: r ? num(r.Seconds_Behind_Master) : null,
        lastIoError: r ? str(r.Last_IO_Error) : null,
        lastSqlError: r ? str(r.Last_SQL_Error) : null,
        relayBacklog: relayBacklog(r),
      } satisfies GtidState;
    },

    async setReadOnly(n, on, o) {
      if (!on) {
        await q(n, 'SET GLOBAL read_only = 0');
        return;
      }
      // The global read lock waits for running commits: lock_wait_timeout bounds it on the server itself.
      const waitS = Math.max(1, Math.ceil((o?.timeoutMs ?? 10_000) / 1000));
      await q(n, 'SET STATEMENT lock_wait_timeout = ? FOR SET GLOBAL read_only = 1', [waitS], waitS * 1000 + 5000);
    },

    async killWriters(n, o) {
      const mine = conns.ownIds(n);
      const [privileged, clients] = await Promise.all([
        q(n, 'SELECT DISTINCT GRANTEE AS g FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN (?)', [
          WRITE_ANYWAY,
        ]),
        q(
          n,
          "SELECT ID AS id, USER AS u FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN (?) AND USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user')",
          [NOT_CLIENTS],
        ),
      ]);
      // GRANTEE is 'user'@'host': any account of that user name counts (conservative: it may kill more).
      const users = new Set(privileged.map((r) => /^'((?:[^']|'')*)'@/.exec(String(r.g))?.[1]?.replaceAll("''", "'")));
      const ids = clients
        .filter((r) => users.has(String(r.u)) && !mine.has(Number(r.id)))
        .map((r) => Number(r.id))
        .filter((id) => Number.isSafeInteger(id) && id > 0);
      for (const id of ids)
        await q(n, 'KILL CONNECTION ?', [id]).catch((err: unknown) => {
          // Gone by itself meanwhile (ER_NO_SUCH_THREAD): that is what we wanted.
          if (!/ER_NO_SUCH_THREAD|Unknown thread/i.test(String((err as Error).message))) throw err;
        });
      const deadline = Date.now() + (o?.timeoutMs ?? 5000);
      let lingering = ids;
      while (lingering.length) {
        const rows = await q(n, 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID IN (?)', [lingering]);
        lingering = rows.map((r) => Number(r.id));
        if (!lingering.length || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      return { ids, lingering } satisfies KilledConnections;
    },

    async waitForGtid(n, position, timeoutMs) {
      if (!isGtidPosition(position)) throw usage(`not a GTID position: ${position.slice(0, 80)}`);
      const s = Math.max(0, timeoutMs) / 1000;
      const [r] = await q(n, 'SELECT MASTER_GTID_WAIT(?, ?) AS r', [position, s], timeoutMs + 5000);
      return Number(r?.r) === 0;
    },

    async detachReplication(n) {
      await q(n, 'STOP SLAVE');
      await q(n, 'RESET SLAVE ALL');
    },

    async pointAt(n, master, o) {
      if (!ADDRESS.test(master.address)) throw usage(`not a server address: ${master.address.slice(0, 80)}`);
      if (!Number.isInteger(master.port) || master.port < 1 || master.port > 65535)
        throw usage(`not a port: ${String(master.port)}`);
      const r = await slaveRow(n);
      if (r) await q(n, 'STOP SLAVE');
      if (o?.slavePosFromBinlog) await q(n, 'SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos');
      const keep = !o?.account && r && str(r.Master_User);
      const account = o?.account ?? (keep ? null : conns.replicationAccount(n));
      if (!keep && !account)
        throw new GearopsError(
          ErrorCode.Config,
          `${n.address}:${n.port} never replicated and no replication account is configured for it ` +
            (n.credentials
              ? `(add replication: { user, password } to credentials entry '${n.credentials}')`
              : `(cluster ${n.cluster ?? '?'} has none in the bot's state dir)`),
        );
      const login = account ? ', MASTER_USER = ?, MASTER_PASSWORD = ?' : '';
      await q(
        n,
        `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?${login}, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
        [master.address, master.port, ...(account ? [account.user, account.password] : [])],
      );
    },

    hasReplicationAccount: (n) => conns.replicationAccount(n) !== null,

    async startReplication(n) {
      await q(n, 'START SLAVE');
    },

    close: () => conns.close(),
  };
  return control;
}
