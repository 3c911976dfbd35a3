/**
 * The steps of one sandbox install: its data directory (from the version's template), a first start on its socket
 * only, its accounts, a start on the network, and for a replica, replication from its master. Nothing goes through
 * a shell: servers and clients are spawned with argv, and every value put into SQL was validated first (the
 * contract's schema for names, ports and addresses; the cluster accounts by isClusterCredentials).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { SandboxInstallArgs } from '../../core/capabilities.js';
import type { ClusterCredentials } from '../../core/ports/credentials.js';
import type { ServerBuild } from './builds.js';
import type { SandboxRecord } from './datadir.js';
import type { SandboxHost } from './host.js';
import { client, writeClientCnf } from './process.js';
import { listening } from './ports.js';
import { DATA_DIR_SETTINGS, sandboxEnv } from './template.js';

/** Lists the accounts (user@host, one a line) that log in without a password; locked accounts cannot log in. */
export const PASSWORDLESS_ACCOUNTS_SQL = [
  "SELECT CONCAT(user, '@', host) FROM mysql.global_priv",
  "WHERE IFNULL(JSON_VALUE(priv, '$.authentication_string'), '') = ''",
  "AND IFNULL(JSON_VALUE(priv, '$.plugin'), 'mysql_native_password')",
  "IN ('mysql_native_password', 'mysql_old_password', '')",
  "AND IFNULL(JSON_VALUE(priv, '$.account_locked'), 0) NOT IN (1, 'true')",
].join(' ');

/** One install under way: what it builds, where, and how it reports and stops. */
export interface InstallJob {
  h: SandboxHost;
  a: SandboxInstallArgs;
  b: ServerBuild;
  dir: string;
  sock: string;
  /** root's client option file, over the socket. */
  rootCnf: string;
  step(s: string, state: 'start' | 'ok' | 'fail' | 'info', detail?: string): void;
  /** Throws once the install was cancelled or the worker is shutting down. */
  goOn(): void;
}

/** Builds the sandbox of `j` and records it (sandbox.json last); throws at the first step that fails. */
export async function buildSandbox(j: InstallJob, creds: ClusterCredentials, record: SandboxRecord): Promise<void> {
  const { h, a, b } = j;
  j.step('init', 'start');
  writeMyCnf(j);
  // Each sandbox its own tmpdir: concurrent installs in one /tmp trip over each other's temporary tables.
  mkdirSync(join(j.dir, 'tmp'), { recursive: true });
  mkdirSync(join(j.dir, 'files'), { recursive: true });
  const { fresh, rootPassword } = await h.templates.copyTo(b, join(j.dir, 'data'));
  j.goOn();
  j.step(
    'init',
    'ok',
    fresh
      ? 'data directory initialised (first sandbox of this version here)'
      : "data directory copied from this version's template",
  );
  writeClientCnf(j.rootCnf, { user: 'root', password: rootPassword, socket: j.sock });
  j.step('start', 'start', 'socket only, until its accounts are set');
  await startServer(j, false);
  j.step('start', 'ok');
  j.step('users', 'start');
  await setAccounts(j, creds);
  j.step('users', 'ok');
  j.step('listen', 'start', `on ${h.opts.advertise}:${a.port}`);
  await h.dirs.stopServer(a.name);
  j.goOn();
  await startServer(j, true);
  j.step('listen', 'ok');
  if (a.role === 'replica') await startReplication(j, creds);
  h.kept?.save(a.name, creds);
  writeFileSync(join(j.dir, 'sandbox.json'), JSON.stringify(record, null, 2));
  h.log.info(
    { event: 'sandbox_installed', name: a.name, port: a.port, role: a.role, version: b.version },
    'sandbox installed',
  );
}

function writeMyCnf({ h, a, b, dir }: InstallJob): void {
  const cnf = [
    '[mysqld]',
    ...(b.basedir ? [`basedir=${b.basedir}`] : []),
    `datadir=${join(dir, 'data')}`,
    `socket=${join(dir, 'mysqld.sock')}`,
    `pid-file=${join(dir, 'mysqld.pid')}`,
    `log-error=${join(dir, 'error.log')}`,
    `tmpdir=${join(dir, 'tmp')}`,
    // LOAD_FILE, LOAD DATA and INTO OUTFILE reach only this empty folder, never the host's files
    // (behind /replica sql's own refusal of them).
    `secure-file-priv=${join(dir, 'files')}`,
    `port=${a.port}`,
    `bind-address=${h.opts.advertise}`,
    `server-id=${a.serverId}`,
    'log-bin=mysql-bin',
    'binlog-format=ROW',
    'relay-log=relay-bin',
    'log-slave-updates=ON',
    `report-host=${h.opts.advertise}`,
    `report-port=${a.port}`,
    'skip-name-resolve',
    ...DATA_DIR_SETTINGS,
    'max-connections=50',
    ...(a.role === 'replica' ? ['read-only=ON'] : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'my.cnf'), cnf);
}

/**
 * Starts the server and waits until root logs in over its socket. `networking: false` is the first start: socket
 * only, so that nobody reaches the server over the network before its accounts are set.
 */
async function startServer(j: InstallJob, networking: boolean): Promise<void> {
  const { b, dir, sock } = j;
  const child = spawn(
    b.server,
    [
      `--defaults-file=${join(dir, 'my.cnf')}`,
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ...(networking ? [] : ['--skip-networking']),
    ],
    { detached: true, stdio: 'ignore', env: sandboxEnv() },
  );
  child.unref();
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      // The server makes its socket when it is about to take connections: until then a look at the
      // directory is enough (a client process per try costs CPU that the starting servers need).
      if (!existsSync(sock)) throw new Error('no socket yet');
      await client(b.client, [`--defaults-file=${j.rootCnf}`, '-N', '-B'], 'SELECT 1', 5000);
      return;
    } catch {
      j.goOn();
      if (child.exitCode !== null || Date.now() > deadline)
        throw new GearopsError(ErrorCode.Sandbox, `${j.h.opts.host}: the server did not start${errorTail(dir)}`, {
          data: { host: j.h.opts.host, step: 'start' },
        });
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** ": " and the last two ERROR lines of the server's log, when it has any. */
function errorTail(dir: string): string {
  let tail = '';
  try {
    tail = readFileSync(join(dir, 'error.log'), 'utf8')
      .split('\n')
      .filter((l) => /ERROR/.test(l))
      .slice(-2)
      .join(' ');
  } catch {
    // no log yet
  }
  return tail ? `: ${tail}` : '';
}

/** The cluster's accounts, this sandbox's own root password, and a refusal of any account without a password. */
async function setAccounts(j: InstallJob, creds: ClusterCredentials): Promise<void> {
  const { h, a, b } = j;
  const admin = creds.admin;
  const repl = creds.replication;
  // This sandbox's own root password, known only to this worker (client.cnf, 0600).
  const newRootPassword = randomBytes(24).toString('base64url');
  // Not binlogged: replicas create their own users, and the master's would otherwise replicate and collide.
  await client(
    b.client,
    [`--defaults-file=${j.rootCnf}`, '-N', '-B'],
    [
      'SET SESSION sql_log_bin=0',
      `CREATE USER '${admin.user}'@'%' IDENTIFIED BY '${admin.password}'`,
      `GRANT ALL PRIVILEGES ON *.* TO '${admin.user}'@'%' WITH GRANT OPTION`,
      `CREATE USER '${repl.user}'@'%' IDENTIFIED BY '${repl.password}'`,
      `GRANT REPLICATION SLAVE ON *.* TO '${repl.user}'@'%'`,
      // /replica sql's account: no access to mysql.* (password hashes); SELECT on application schemas is
      // granted per schema by the bot. The server ends each of its statements after 60 s whatever it asks.
      `CREATE USER '${creds.readOnly.user}'@'%' IDENTIFIED BY '${creds.readOnly.password}'` +
        ' WITH MAX_STATEMENT_TIME 60 MAX_USER_CONNECTIONS 20',
      `GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '${creds.readOnly.user}'@'%'`,
      `ALTER USER 'root'@'localhost' IDENTIFIED BY '${newRootPassword}'`,
    ].join(';\n'),
  );
  writeClientCnf(j.rootCnf, { user: 'root', password: newRootPassword, socket: j.sock });
  // Whatever the data directory held, no account without a password goes on the network.
  const { stdout: open } = await h.dirs.sql(b, a.name, PASSWORDLESS_ACCOUNTS_SQL);
  if (open.trim())
    throw new GearopsError(
      ErrorCode.Sandbox,
      `${h.opts.host}: accounts without a password remain (${open.trim().split('\n').join(', ')}); not starting`,
      { data: { host: h.opts.host, step: 'users' } },
    );
}

/** Waits until the master takes the replication login, then replicates from it until both threads run. */
async function startReplication(j: InstallJob, creds: ClusterCredentials): Promise<void> {
  const { h, a, b } = j;
  const master = a.master!;
  const repl = creds.replication;
  j.step('replication', 'start', `from ${master.address}:${master.port}`);
  await waitForMaster(j, repl);
  await h.dirs.sql(
    b,
    a.name,
    `SET SESSION sql_log_bin=0; CHANGE MASTER TO MASTER_HOST='${master.address}', MASTER_PORT=${master.port}, MASTER_USER='${repl.user}', MASTER_PASSWORD='${repl.password}', MASTER_CONNECT_RETRY=1${b.flavour === 'mariadb' ? ', MASTER_USE_GTID=slave_pos' : ''}; START SLAVE`,
  );
  const until = Date.now() + 30_000;
  for (;;) {
    const { stdout } = await h.dirs.sql(b, a.name, 'SHOW SLAVE STATUS', ['-E']);
    const field = (k: string) => new RegExp(`^\\s*${k}: (.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
    if (field('Slave_IO_Running') === 'Yes' && field('Slave_SQL_Running') === 'Yes') break;
    j.goOn();
    if (Date.now() > until)
      throw new GearopsError(
        ErrorCode.Sandbox,
        `${h.opts.host}: replication did not start: IO ${field('Slave_IO_Running')}, SQL ${field('Slave_SQL_Running')}${field('Last_IO_Error') ? `: ${field('Last_IO_Error')}` : ''}${field('Last_SQL_Error') ? `: ${field('Last_SQL_Error')}` : ''}`,
        { data: { host: h.opts.host, step: 'replication' } },
      );
    await new Promise((r) => setTimeout(r, 20));
  }
  j.step('replication', 'ok', 'IO and SQL threads running');
}

/**
 * The master may still be starting, in parallel with this replica: a START SLAVE that finds no master yet waits
 * out MASTER_CONNECT_RETRY before trying again, so the replication login is tried first.
 */
async function waitForMaster(j: InstallJob, repl: { user: string; password: string }): Promise<void> {
  const { h, b, dir } = j;
  const master = j.a.master!;
  const masterCnf = join(dir, 'master.cnf');
  writeClientCnf(masterCnf, {
    host: master.address,
    port: master.port,
    user: repl.user,
    password: repl.password,
    'connect-timeout': 2,
  });
  const masterDeadline = Date.now() + 60_000;
  for (;;) {
    try {
      if (!(await listening(master.address, master.port)))
        throw new Error(`nothing listens on ${master.address}:${master.port} yet`);
      await client(b.client, [`--defaults-file=${masterCnf}`, '-N', '-B'], 'SELECT 1', 5000);
      break;
    } catch (err) {
      j.goOn();
      if (Date.now() > masterDeadline)
        throw new GearopsError(
          ErrorCode.Sandbox,
          `${h.opts.host}: the master ${master.address}:${master.port} does not accept the replication user: ${(err as Error).message.split('\n')[0]}`,
          { data: { host: h.opts.host, step: 'replication' } },
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  rmSync(masterCnf, { force: true });
}
