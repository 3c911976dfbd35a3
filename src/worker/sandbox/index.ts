/**
 * Replication sandboxes on this host (the MySQL Sandbox idea): check,
 * install (master or replica) and remove self-contained server instances,
 * each in `<sandboxDir>/<name>/` with its data, my.cnf, socket, pid and a
 * sandbox.json. Nothing goes through a shell: servers and clients are
 * spawned with argv, and every value put into SQL was validated first.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Capability, CapabilityContext } from '../capability.js';
import { findBuilds, pickBuild, type ServerBuild } from './builds.js';
import { createTemplates, DATA_DIR_SETTINGS, sandboxEnv } from './template.js';
import { unseal } from '../../core/sealed.js';
import { isLoopbackAddress, usesDemoPassword, type ClusterCredentials } from '../../core/ports/credentials.js';
import { createFileCredentialStore, isClusterCredentials } from '../../cluster-credentials.js';

/**
 * Runs the server's client with the SQL on stdin, so that no password (in a
 * statement or an option) ever stands in argv, which `ps` shows every user.
 */
function client(path: string, args: string[], input: string, timeoutMs = 30_000): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'], env: sandboxEnv() });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout });
      else reject(Object.assign(new Error(stderr.trim() || `client exited ${code ?? signal}`), { stderr }));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** A client option file (mode 0600): how a DBA keeps a password out of argv. */
function writeClientCnf(path: string, o: Record<string, string | number>): void {
  writeFileSync(path, ['[client]', ...Object.entries(o).map(([k, v]) => `${k}=${v}`), ''].join('\n'), { mode: 0o600 });
}

/** Options of the sandbox capabilities. */
export interface SandboxOptions {
  host: string;
  sandboxDir: string;
  binariesDir?: string;
  advertise: string;
  /** The job secret: installs carry the cluster's passwords sealed with it (src/core/sealed.ts). */
  jobSecret: string;
  /** Where this worker keeps each sandbox's accounts for later jobs (0600 files); none kept when unset. */
  stateDir?: string;
  logger: Logger;
}

/** What sandbox.json records (no password). */
interface SandboxRecord {
  name: string;
  cluster: string;
  role: 'master' | 'replica';
  version: string;
  flavour: string;
  address: string;
  port: number;
  serverId: number;
  master: { address: string; port: number } | null;
}

const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
const TOKEN_RE = /^[A-Za-z0-9-]{1,64}$/;
const ADDR_RE = /^[A-Za-z0-9.:_-]{1,255}$/;

/** Lists the accounts (user@host, one a line) that log in without a password; locked accounts cannot log in. */
export const PASSWORDLESS_ACCOUNTS_SQL = [
  "SELECT CONCAT(user, '@', host) FROM mysql.global_priv",
  "WHERE IFNULL(JSON_VALUE(priv, '$.authentication_string'), '') = ''",
  "AND IFNULL(JSON_VALUE(priv, '$.plugin'), 'mysql_native_password')",
  "IN ('mysql_native_password', 'mysql_old_password', '')",
  "AND IFNULL(JSON_VALUE(priv, '$.account_locked'), 0) NOT IN (1, 'true')",
].join(' ');

/** The passwords of a cluster's accounts, to mask in any error text. */
const secretsOf = (c: ClusterCredentials) => [c.admin.password, c.replication.password, c.readOnly.password];

function bad(message: string): GearopsError {
  return new GearopsError(ErrorCode.Usage, message);
}

async function portFree(address: string, port: number): Promise<{ free: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      resolve({ free: false, reason: err.code === 'EADDRINUSE' ? 'in use' : (err.code ?? err.message) }),
    );
    s.listen(port, address, () => s.close(() => resolve({ free: true })));
  });
}

/** Whether something accepts TCP connections at address:port (a cheap look before a client process is spent on it). */
function listening(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Whether process `pid` exists (signal 0 checks without touching it). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Builds the sandbox capabilities; none (with the reasons) when this host has no usable server build. */
export async function createSandboxCapabilities(
  opts: SandboxOptions,
): Promise<{ capabilities: Capability[]; versions: ServerBuild[]; problems: string[] }> {
  const { builds, problems } = await findBuilds(opts.binariesDir);
  if (builds.length === 0) return { capabilities: [], versions: [], problems };
  if (!ADDR_RE.test(opts.advertise))
    return { capabilities: [], versions: builds, problems: [`--advertise ${opts.advertise} is not an address`] };
  mkdirSync(opts.sandboxDir, { recursive: true });
  const log = opts.logger.child({ component: 'sandbox' });
  const dirOf = (name: string) => join(opts.sandboxDir, name);
  const templates = createTemplates(opts.sandboxDir);
  const kept = opts.stateDir ? createFileCredentialStore(join(opts.stateDir, 'sandboxes')) : null;

  /** The cluster's accounts, opened from the install job; never from anywhere else. */
  const credentialsOf = (ctx: CapabilityContext, sealed: unknown): ClusterCredentials => {
    if (typeof sealed !== 'string')
      throw new GearopsError(
        ErrorCode.Usage,
        `${opts.host}: this install carries no passwords for the cluster ` +
          '(a bot older than this worker?); nothing was made',
        { data: { host: opts.host, step: 'check' } },
      );
    let c: unknown;
    try {
      c = JSON.parse(unseal(opts.jobSecret, ctx.job.id, sealed));
    } catch (err) {
      throw new GearopsError(ErrorCode.BadSignature, `${opts.host}: the install's sealed passwords do not open`, {
        cause: err,
        data: { host: opts.host, step: 'check' },
      });
    }
    if (!isClusterCredentials(c))
      throw bad('the cluster accounts may only use letters, digits and _.@%+- (1 to 64 of them)');
    // The well-known demo passwords stay on this machine: never on an address other hosts reach.
    if (usesDemoPassword(c) && !isLoopbackAddress(opts.advertise))
      throw new GearopsError(
        ErrorCode.Usage,
        `${opts.host}: refusing the well-known demo passwords on ${opts.advertise}, which is not a loopback address`,
        { data: { host: opts.host, step: 'check' } },
      );
    return c;
  };

  const readRecord = (name: string): SandboxRecord | null => {
    try {
      return JSON.parse(readFileSync(join(dirOf(name), 'sandbox.json'), 'utf8')) as SandboxRecord;
    } catch {
      return null;
    }
  };
  const pidOf = (name: string): number | null => {
    try {
      const pid = Number(readFileSync(join(dirOf(name), 'mysqld.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  const running = (name: string) => {
    const pid = pidOf(name);
    return pid !== null && pidAlive(pid);
  };
  /** Runs SQL as the sandbox's root, through its client.cnf (written once the password is set). */
  const sql = (b: ServerBuild, name: string, statement: string, extra: string[] = ['-N', '-B']) =>
    client(b.client, [`--defaults-file=${join(dirOf(name), 'client.cnf')}`, ...extra], statement);

  /**
   * The server processes of sandbox `name`: on Linux, every process started with its my.cnf (so a stale
   * pid file can never make us signal a stranger, and a server that had not written its pid file yet is
   * found too); elsewhere, the pid file.
   */
  const serverPids = (name: string): number[] => {
    if (!existsSync('/proc/self/cmdline')) {
      const pid = pidOf(name);
      return pid !== null && pidAlive(pid) ? [pid] : [];
    }
    const marker = `--defaults-file=${join(dirOf(name), 'my.cnf')}`;
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker)) pids.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  };

  async function stopServer(name: string): Promise<void> {
    const pids = serverPids(name);
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (pids.some(pidAlive)) {
      if (Date.now() > deadline) {
        for (const pid of pids.filter(pidAlive)) process.kill(pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 200));
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // A worker killed during an install leaves a sandbox without its sandbox.json (written last): stop its
  // server and remove it now, so a re-sent install (or a new one) starts clean and nothing half-made stays.
  for (const entry of readdirSync(opts.sandboxDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !NAME_RE.test(entry.name) || existsSync(join(dirOf(entry.name), 'sandbox.json')))
      continue;
    await stopServer(entry.name);
    rmSync(dirOf(entry.name), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    log.warn(
      { event: 'sandbox_half_made_removed', name: entry.name },
      'removed a sandbox left half-made by an interrupted install',
    );
  }

  const check: Capability<{ ports?: number[]; version?: string }> = {
    name: 'sandbox.check',
    async handler(ctx) {
      const ports = Array.isArray(ctx.args?.ports)
        ? ctx.args.ports.filter((p) => Number.isInteger(p) && p > 0 && p < 65536).slice(0, 20)
        : [];
      const sandboxes = existsSync(opts.sandboxDir)
        ? readdirSync(opts.sandboxDir)
            .map((n) => readRecord(n))
            .filter((r): r is SandboxRecord => r !== null)
            .map((r) => ({
              name: r.name,
              version: r.version,
              port: r.port,
              running: running(r.name),
              role: r.role,
              cluster: r.cluster,
            }))
        : [];
      const fs = statfsSync(opts.sandboxDir);
      return {
        host: opts.host,
        address: opts.advertise,
        versions: builds.map((b) => ({ version: b.version, flavour: b.flavour })),
        ports: await Promise.all(ports.map(async (port) => ({ port, ...(await portFree(opts.advertise, port)) }))),
        freeDiskBytes: Number(fs.bavail) * Number(fs.bsize),
        sandboxes,
        problems: problems.length ? problems : undefined,
      };
    },
  };

  type InstallArgs = {
    name: string;
    cluster: string;
    version?: string;
    port: number;
    serverId: number;
    role: 'master' | 'replica';
    master?: { address: string; port: number };
    token?: string;
  };
  // Installs running here by sandbox name, with the token of the /replica install they belong to, and the
  // tokens sandbox.cancel was sent for (an install whose cancel arrived first never starts).
  const installsInFlight = new Map<string, { token?: string; stop: AbortController }>();
  const cancelledTokens = new Map<string, number>();
  const CANCEL_MEMORY_MS = 10 * 60_000;
  const forgetCancels = (now: number) => {
    for (const [t, until] of cancelledTokens) if (until < now) cancelledTokens.delete(t);
  };
  const install: Capability<InstallArgs> = {
    name: 'sandbox.install',
    /**
     * Safe to run twice: gearmand re-sends a job whose worker disconnected, so a
     * finished sandbox with the same parameters answers "already installed"
     * with its description; different parameters are a conflict.
     */
    async handler(ctx: CapabilityContext<InstallArgs>) {
      const a = ctx.args ?? ({} as InstallArgs);
      if (typeof a.name !== 'string' || !NAME_RE.test(a.name))
        throw bad('sandbox name must be lower-case letters, digits and _');
      if (typeof a.cluster !== 'string' || !NAME_RE.test(a.cluster))
        throw bad('cluster name must be lower-case letters, digits and _');
      if (!Number.isInteger(a.port) || a.port < 1024 || a.port > 65535) throw bad('port must be 1024..65535');
      if (!Number.isInteger(a.serverId) || a.serverId < 1 || a.serverId > 4_294_967_295)
        throw bad('serverId must be a positive whole number');
      if (a.role !== 'master' && a.role !== 'replica') throw bad('role must be master or replica');
      if (
        a.role === 'replica' &&
        (!a.master || !ADDR_RE.test(String(a.master.address)) || !Number.isInteger(a.master.port))
      )
        throw bad('a replica needs master { address, port }');
      if (a.token !== undefined && (typeof a.token !== 'string' || !TOKEN_RE.test(a.token)))
        throw bad('token must be 1..64 letters, digits and -');
      forgetCancels(Date.now());
      if (a.token && cancelledTokens.has(a.token))
        throw new GearopsError(
          ErrorCode.Cancelled,
          `${opts.host}: install of ${a.name} not started: it was cancelled (another node of the cluster failed)`,
          { data: { host: opts.host, step: 'check' } },
        );
      const creds = credentialsOf(ctx, (a as { secrets?: unknown }).secrets);
      const cred = {
        user: creds.admin.user,
        password: creds.admin.password,
        replUser: creds.replication.user,
        replPassword: creds.replication.password,
      };
      const b = pickBuild(builds, a.version);
      if (!b)
        throw new GearopsError(
          ErrorCode.Sandbox,
          `version ${a.version} is not available on ${opts.host} (has: ${builds.map((x) => x.version).join(', ')})`,
          { data: { host: opts.host, step: 'check' } },
        );
      const dir = dirOf(a.name);
      const record: SandboxRecord = {
        name: a.name,
        cluster: a.cluster,
        role: a.role,
        version: b.version,
        flavour: b.flavour,
        address: opts.advertise,
        port: a.port,
        serverId: a.serverId,
        master: a.role === 'replica' ? { address: a.master!.address, port: a.master!.port } : null,
      };
      const value = { ...record, socket: join(dir, 'mysqld.sock'), dataDir: join(dir, 'data'), durationMs: 0 };
      if (existsSync(dir)) {
        const existing = readRecord(a.name);
        if (existing && JSON.stringify(existing) === JSON.stringify(record) && running(a.name))
          return { ...value, alreadyInstalled: true };
        throw new GearopsError(
          ErrorCode.Conflict,
          `${opts.host}: a sandbox named ${a.name} already exists${existing ? ` (port ${existing.port}, ${existing.role})` : ''}`,
          { data: { host: opts.host, step: 'check' } },
        );
      }
      const free = await portFree(opts.advertise, a.port);
      if (!free.free)
        throw new GearopsError(
          ErrorCode.Conflict,
          `${opts.host}: port ${a.port} on ${opts.advertise} is ${free.reason ?? 'taken'}`,
          { data: { host: opts.host, step: 'check', port: a.port } },
        );

      const started = Date.now();
      const step = (s: string, state: 'start' | 'ok' | 'fail' | 'info', detail?: string) =>
        ctx.emit({ type: 'step', step: s, state, detail, node: `${opts.host}:${a.port}` });
      const stop = new AbortController();
      installsInFlight.set(a.name, { token: a.token, stop });
      /** Throws once sandbox.cancel asked this install to stop, or the worker is shutting down; the catch below removes what was made. */
      const goOn = () => {
        if (stop.signal.aborted)
          throw new GearopsError(
            ErrorCode.Cancelled,
            `${opts.host}: install of ${a.name} stopped: another node of the cluster failed`,
            { data: { host: opts.host, step: 'cancel' } },
          );
        if (ctx.signal.aborted)
          throw new GearopsError(
            ErrorCode.Cancelled,
            `${opts.host}: the worker is shutting down; install of ${a.name} stopped`,
            { data: { host: opts.host, step: 'cancel' } },
          );
      };
      mkdirSync(dir, { recursive: true });
      try {
        step('init', 'start');
        const dataDir = join(dir, 'data');
        const cnf = [
          '[mysqld]',
          ...(b.basedir ? [`basedir=${b.basedir}`] : []),
          `datadir=${dataDir}`,
          `socket=${join(dir, 'mysqld.sock')}`,
          `pid-file=${join(dir, 'mysqld.pid')}`,
          `log-error=${join(dir, 'error.log')}`,
          `tmpdir=${join(dir, 'tmp')}`,
          // LOAD_FILE, LOAD DATA and INTO OUTFILE reach only this empty folder, never the host's files
          // (behind /replica sql's own refusal of them).
          `secure-file-priv=${join(dir, 'files')}`,
          `port=${a.port}`,
          `bind-address=${opts.advertise}`,
          `server-id=${a.serverId}`,
          'log-bin=mysql-bin',
          'binlog-format=ROW',
          'relay-log=relay-bin',
          'log-slave-updates=ON',
          `report-host=${opts.advertise}`,
          `report-port=${a.port}`,
          'skip-name-resolve',
          ...DATA_DIR_SETTINGS,
          'max-connections=50',
          ...(a.role === 'replica' ? ['read-only=ON'] : []),
          '',
        ].join('\n');
        writeFileSync(join(dir, 'my.cnf'), cnf);
        // Each sandbox its own tmpdir: concurrent installs in one /tmp trip over each other's temporary tables.
        mkdirSync(join(dir, 'tmp'), { recursive: true });
        mkdirSync(join(dir, 'files'), { recursive: true });
        const { fresh, rootPassword } = await templates.copyTo(b, dataDir);
        goOn();
        step(
          'init',
          'ok',
          fresh
            ? 'data directory initialised (first sandbox of this version here)'
            : "data directory copied from this version's template",
        );
        const rootCnf = join(dir, 'client.cnf');
        const sock = join(dir, 'mysqld.sock');
        writeClientCnf(rootCnf, { user: 'root', password: rootPassword, socket: sock });
        /**
         * Starts the server and waits until root logs in over its socket. `networking: false` is the first
         * start: socket only, so that nobody reaches the server over the network before its accounts are set.
         */
        const startServer = async (networking: boolean) => {
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
              await client(b.client, [`--defaults-file=${rootCnf}`, '-N', '-B'], 'SELECT 1', 5000);
              return;
            } catch {
              goOn();
              if (child.exitCode !== null || Date.now() > deadline) {
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
                throw new GearopsError(
                  ErrorCode.Sandbox,
                  `${opts.host}: the server did not start${tail ? `: ${tail}` : ''}`,
                  { data: { host: opts.host, step: 'start' } },
                );
              }
              await new Promise((r) => setTimeout(r, 10));
            }
          }
        };
        step('start', 'start', 'socket only, until its accounts are set');
        await startServer(false);
        step('start', 'ok');
        step('users', 'start');
        // This sandbox's own root password, known only to this worker (client.cnf, 0600).
        const newRootPassword = randomBytes(24).toString('base64url');
        // Not binlogged: replicas create their own users, and the master's would otherwise replicate and collide.
        await client(
          b.client,
          [`--defaults-file=${rootCnf}`, '-N', '-B'],
          [
            'SET SESSION sql_log_bin=0',
            `CREATE USER '${cred.user}'@'%' IDENTIFIED BY '${cred.password}'`,
            `GRANT ALL PRIVILEGES ON *.* TO '${cred.user}'@'%' WITH GRANT OPTION`,
            `CREATE USER '${cred.replUser}'@'%' IDENTIFIED BY '${cred.replPassword}'`,
            `GRANT REPLICATION SLAVE ON *.* TO '${cred.replUser}'@'%'`,
            // /replica sql's account: no access to mysql.* (password hashes); SELECT on application schemas is
            // granted per schema by the bot. The server ends each of its statements after 60 s whatever it asks.
            `CREATE USER '${creds.readOnly.user}'@'%' IDENTIFIED BY '${creds.readOnly.password}'` +
              ' WITH MAX_STATEMENT_TIME 60 MAX_USER_CONNECTIONS 20',
            `GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '${creds.readOnly.user}'@'%'`,
            `ALTER USER 'root'@'localhost' IDENTIFIED BY '${newRootPassword}'`,
          ].join(';\n'),
        );
        writeClientCnf(rootCnf, { user: 'root', password: newRootPassword, socket: sock });
        // Whatever the data directory held, no account without a password goes on the network.
        const { stdout: open } = await sql(b, a.name, PASSWORDLESS_ACCOUNTS_SQL);
        if (open.trim())
          throw new GearopsError(
            ErrorCode.Sandbox,
            `${opts.host}: accounts without a password remain (${open.trim().split('\n').join(', ')}); not starting`,
            { data: { host: opts.host, step: 'users' } },
          );
        step('users', 'ok');
        step('listen', 'start', `on ${opts.advertise}:${a.port}`);
        await stopServer(a.name);
        goOn();
        await startServer(true);
        step('listen', 'ok');
        if (a.role === 'replica') {
          step('replication', 'start', `from ${a.master!.address}:${a.master!.port}`);
          // Wait until the master takes the replication login (it may still be starting, in parallel with this
          // replica): a START SLAVE that finds no master yet waits out MASTER_CONNECT_RETRY before trying again.
          const masterCnf = join(dir, 'master.cnf');
          writeClientCnf(masterCnf, {
            host: a.master!.address,
            port: a.master!.port,
            user: cred.replUser,
            password: cred.replPassword,
            'connect-timeout': 2,
          });
          const masterDeadline = Date.now() + 60_000;
          for (;;) {
            try {
              if (!(await listening(a.master!.address, a.master!.port)))
                throw new Error(`nothing listens on ${a.master!.address}:${a.master!.port} yet`);
              await client(b.client, [`--defaults-file=${masterCnf}`, '-N', '-B'], 'SELECT 1', 5000);
              break;
            } catch (err) {
              goOn();
              if (Date.now() > masterDeadline)
                throw new GearopsError(
                  ErrorCode.Sandbox,
                  `${opts.host}: the master ${a.master!.address}:${a.master!.port} does not accept the replication user: ${(err as Error).message.split('\n')[0]}`,
                  { data: { host: opts.host, step: 'replication' } },
                );
              await new Promise((r) => setTimeout(r, 20));
            }
          }
          rmSync(masterCnf, { force: true });
          await sql(
            b,
            a.name,
            `SET SESSION sql_log_bin=0; CHANGE MASTER TO MASTER_HOST='${a.master!.address}', MASTER_PORT=${a.master!.port}, MASTER_USER='${cred.replUser}', MASTER_PASSWORD='${cred.replPassword}', MASTER_CONNECT_RETRY=1${b.flavour === 'mariadb' ? ', MASTER_USE_GTID=slave_pos' : ''}; START SLAVE`,
          );
          const until = Date.now() + 30_000;
          for (;;) {
            const { stdout } = await sql(b, a.name, 'SHOW SLAVE STATUS', ['-E']);
            const field = (k: string) => new RegExp(`^\\s*${k}: (.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
            if (field('Slave_IO_Running') === 'Yes' && field('Slave_SQL_Running') === 'Yes') break;
            goOn();
            if (Date.now() > until)
              throw new GearopsError(
                ErrorCode.Sandbox,
                `${opts.host}: replication did not start: IO ${field('Slave_IO_Running')}, SQL ${field('Slave_SQL_Running')}${field('Last_IO_Error') ? `: ${field('Last_IO_Error')}` : ''}${field('Last_SQL_Error') ? `: ${field('Last_SQL_Error')}` : ''}`,
                { data: { host: opts.host, step: 'replication' } },
              );
            await new Promise((r) => setTimeout(r, 20));
          }
          step('replication', 'ok', 'IO and SQL threads running');
        }
        kept?.save(a.name, creds);
        writeFileSync(join(dir, 'sandbox.json'), JSON.stringify(record, null, 2));
        log.info(
          { event: 'sandbox_installed', name: a.name, port: a.port, role: a.role, version: b.version },
          'sandbox installed',
        );
        return { ...value, durationMs: Date.now() - started };
      } catch (err) {
        step('cleanup', 'info', 'removing what was made');
        await stopServer(a.name).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
        if (err instanceof GearopsError) throw err;
        const e = err as { stderr?: string; message: string };
        const lines = (e.stderr || e.message).split('\n').filter((l) => l.trim());
        const line =
          lines.find((l) => /ERROR/i.test(l)) ??
          lines.find((l) => !/\[(Warning|Note)\]/.test(l)) ??
          lines[0] ??
          'failed';
        throw new GearopsError(
          ErrorCode.Sandbox,
          `${opts.host}: ${secretsOf(creds).reduce((l, p) => l.replaceAll(p, '***'), line)}`,
          { data: { host: opts.host, step: 'install' } },
        );
      } finally {
        if (installsInFlight.get(a.name)?.stop === stop) installsInFlight.delete(a.name);
      }
    },
  };

  const remove: Capability<{ name: string }> = {
    name: 'sandbox.remove',
    /** Idempotent: removing what is already gone is NotFound, and changes nothing. */
    async handler(ctx) {
      const name = ctx.args?.name;
      if (typeof name !== 'string' || !NAME_RE.test(name))
        throw bad('sandbox name must be lower-case letters, digits and _');
      if (!existsSync(dirOf(name)))
        throw new GearopsError(ErrorCode.NotFound, `${opts.host}: no sandbox named ${name}`, {
          data: { host: opts.host },
        });
      await stopServer(name);
      rmSync(dirOf(name), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      kept?.remove(name);
      log.info({ event: 'sandbox_removed', name }, 'sandbox removed');
      return { name, removed: true };
    },
  };

  const cancel: Capability<{ name: string; token: string }> = {
    name: 'sandbox.cancel',
    /**
     * Stops the install of `name` that belongs to /replica install `token` (another node of that cluster
     * failed): it removes what it made and fails. An install of that token not started yet never starts.
     * Safe to run twice; an install of another token is never touched.
     */
    async handler(ctx) {
      const { name, token } = ctx.args ?? ({} as { name: string; token: string });
      if (typeof name !== 'string' || !NAME_RE.test(name))
        throw bad('sandbox name must be lower-case letters, digits and _');
      if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw bad('token must be 1..64 letters, digits and -');
      const now = Date.now();
      forgetCancels(now);
      cancelledTokens.set(token, now + CANCEL_MEMORY_MS);
      const r = installsInFlight.get(name);
      const stopped = !!r && r.token === token && !r.stop.signal.aborted;
      if (stopped) r.stop.abort();
      log.info(
        { event: 'sandbox_install_cancelled', name, running: stopped },
        stopped ? 'install stopped on request' : 'cancel noted; no such install running',
      );
      return { name, stopped };
    },
  };

  return { capabilities: [check, install, remove, cancel] as Capability[], versions: builds, problems: [] };
}

/** Stops every sandbox server under `dir` (the demo's clean-up). */
export async function stopAllSandboxes(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const pids: number[] = [];
  const walk = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && depth < 3) walk(join(d, e.name), depth + 1);
      else if (e.name === 'mysqld.pid') {
        const pid = Number(readFileSync(join(d, e.name), 'utf8').trim());
        if (pid > 0 && pidAlive(pid)) pids.push(pid);
      }
    }
  };
  walk(dir, 0);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(pidAlive)) process.kill(pid, 'SIGKILL');
}
