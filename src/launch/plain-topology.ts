/**
 * Replication built without gearops, as a team's own would be: plain mariadbd processes (no sandbox, no worker),
 * each on a host of its own (a test's network namespace) or on loopback, wired by hand with
 * CHANGE MASTER TO … MASTER_USE_GTID=slave_pos. The tests of watching existing topologies, the demo's
 * `demo cluster` and the discovery benchmark start their servers with it. Statements here are fixed text built
 * from numbers and generated passwords; nothing from chat reaches it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { smallServerArgs } from './mariadb.js';

const run = promisify(execFile);

/** Where a server runs: a host with an address of its own and the argv prefix that runs a program there. */
export interface PlainHost {
  address: string;
  wrap: string[];
}

/** Polls `what` every `everyMs` until it holds; throws after `ms`. */
async function until(what: () => boolean | Promise<boolean>, ms: number, everyMs: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for a plain server`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The accounts every server of a plain topology has (besides root on its socket). */
export interface PlainAccounts {
  /** What gearops is given to watch with: SLAVE MONITOR, PROCESS, REPLICATION MASTER/SLAVE ADMIN. */
  monitor: { user: string; password: string };
  repl: { user: string; password: string };
  /** All privileges: what a topology change (switchover, failover) logs in with. */
  admin: { user: string; password: string };
}

/** One plain server. */
export interface PlainServer {
  address: string;
  port: number;
  serverId: number;
  socket: string;
  /** Runs statements as root over the server's socket; returns tab-separated rows. */
  sql(statements: string): Promise<string>;
  /** SHOW SLAVE STATUS as column → value ({} when it replicates from nobody). */
  slaveStatus(): Promise<Record<string, string>>;
  /**
   * Makes it a replica of `source` (GTID, slave_pos) and starts replication; `as` names the source by a name this
   * server's host resolves instead of its address.
   */
  replicateFrom(source: PlainServer, o?: { as?: string }): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed server again on its data (as its host's init system would): resolves once it answers. */
  restart(): Promise<void>;
}

/** Starts plain servers; stop() ends every one and removes their files. */
export interface PlainTopology {
  accounts: PlainAccounts;
  servers: PlainServer[];
  /**
   * `listen`: the bind address (default the host's address; '127.0.0.1' keeps the server off the network, reachable
   * only from inside its host). `reportHost`: true (default) reports the host's address, a string reports that name,
   * false reports nothing.
   */
  start(opts: {
    host?: PlainHost;
    port: number;
    serverId: number;
    reportHost?: boolean | string;
    listen?: string;
  }): Promise<PlainServer>;
  stop(): Promise<void>;
}

/**
 * A place to start plain servers in (a temp dir of its own, or under `baseDir`), removed by stop(). Over 80 lines as a factory: start and stop share the servers and child processes; start (about 100 lines) is one server's set-up, read top to bottom.
 */
export function createPlainTopology(opts: { baseDir?: string } = {}): PlainTopology {
  if (opts.baseDir) mkdirSync(opts.baseDir, { recursive: true, mode: 0o700 });
  const root = opts.baseDir ?? mkdtempSync(join(tmpdir(), 'gearops-plain-'));
  const accounts: PlainAccounts = {
    monitor: { user: 'watcher', password: randomBytes(9).toString('hex') },
    repl: { user: 'repl', password: randomBytes(9).toString('hex') },
    admin: { user: 'dba', password: randomBytes(9).toString('hex') },
  };
  const children: ChildProcess[] = [];
  const servers: PlainServer[] = [];
  return {
    accounts,
    servers,
    // Long: one server's whole start, in order (data directory, first start, accounts, replication), for tests.
    async start(o) {
      const address = o.host?.address ?? '127.0.0.1';
      const dir = join(root, `s${o.serverId}`);
      const data = join(dir, 'data');
      const tmp = join(dir, 'tmp');
      mkdirSync(tmp, { recursive: true });
      await run('mariadb-install-db', [
        '--no-defaults',
        `--datadir=${data}`,
        '--user=root',
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        `--tmpdir=${tmp}`,
      ]);
      const socket = join(dir, 'mysqld.sock');
      const argv = [
        'mariadbd',
        '--no-defaults',
        '--user=root',
        `--datadir=${data}`,
        `--tmpdir=${tmp}`,
        `--socket=${socket}`,
        `--port=${o.port}`,
        `--bind-address=${o.listen ?? address}`,
        `--log-error=${join(dir, 'error.log')}`,
        `--server-id=${o.serverId}`,
        `--log-bin=${join(dir, 'binlog')}`,
        '--log-slave-updates',
        `--relay-log=${join(dir, 'relay')}`,
        ...(o.reportHost === false
          ? []
          : [`--report-host=${typeof o.reportHost === 'string' ? o.reportHost : address}`]),
        ...smallServerArgs().filter((a) => a !== '--skip-log-bin'),
      ];
      const [program, ...args] = [...(o.host?.wrap ?? []), ...argv];
      let child = spawn(program!, args, { stdio: 'ignore' });
      children.push(child);
      await until(() => existsSync(socket) || child.exitCode !== null, 30_000, 20);
      if (child.exitCode !== null) throw new Error(`mariadbd s${o.serverId} exited with ${child.exitCode}`);
      const sql = async (statements: string) =>
        (await run('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B', '-e', statements])).stdout;
      await until(async () => (await sql('SELECT 1').catch(() => '')).trim() === '1', 30_000, 20);
      // Accounts are made without writing to the binlog: every server gets them itself, as a DBA's provisioning does.
      await sql(
        [
          'SET sql_log_bin = 0',
          `CREATE USER '${accounts.monitor.user}'@'%' IDENTIFIED BY '${accounts.monitor.password}'`,
          `GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, REPLICATION MASTER ADMIN, REPLICATION SLAVE ADMIN ON *.* TO '${accounts.monitor.user}'@'%'`,
          `CREATE USER '${accounts.repl.user}'@'%' IDENTIFIED BY '${accounts.repl.password}'`,
          `GRANT REPLICATION SLAVE ON *.* TO '${accounts.repl.user}'@'%'`,
          `CREATE USER '${accounts.admin.user}'@'%' IDENTIFIED BY '${accounts.admin.password}'`,
          `GRANT ALL PRIVILEGES ON *.* TO '${accounts.admin.user}'@'%' WITH GRANT OPTION`,
          'SET sql_log_bin = 1',
        ].join('; '),
      );
      const slaveStatus = async (): Promise<Record<string, string>> => {
        const out = await run('mariadb', [
          '--no-defaults',
          `--socket=${socket}`,
          '-uroot',
          '-e',
          'SHOW SLAVE STATUS\\G',
        ]);
        const fields: Record<string, string> = {};
        for (const m of out.stdout.matchAll(/^\s*(\w+): ?(.*)$/gm)) fields[m[1]!] = m[2]!;
        return fields;
      };
      const server: PlainServer = {
        address,
        port: o.port,
        serverId: o.serverId,
        socket,
        sql,
        async replicateFrom(source, ro) {
          await sql(
            `CHANGE MASTER TO MASTER_HOST='${ro?.as ?? source.address}', MASTER_PORT=${source.port}, ` +
              `MASTER_USER='${accounts.repl.user}', MASTER_PASSWORD='${accounts.repl.password}', ` +
              'MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE',
          );
          await until(
            async () => {
              const st = await slaveStatus();
              return st.Slave_IO_Running === 'Yes' && st.Slave_SQL_Running === 'Yes';
            },
            30_000,
            50,
          );
        },
        slaveStatus,
        async kill(signal = 'SIGKILL') {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const gone = new Promise((r) => child.once('exit', r));
          child.kill(signal);
          await gone;
        },
        async restart() {
          if (child.exitCode === null && child.signalCode === null) throw new Error(`s${o.serverId} still runs`);
          child = spawn(program!, args, { stdio: 'ignore' });
          children.push(child);
          await until(
            async () => {
              if (child.exitCode !== null) throw new Error(`mariadbd s${o.serverId} exited with ${child.exitCode}`);
              return (await sql('SELECT 1').catch(() => '')).trim() === '1';
            },
            30_000,
            20,
          );
        },
      };
      servers.push(server);
      return server;
    },
    async stop() {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
}
