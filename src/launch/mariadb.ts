/**
 * Starts a throwaway MariaDB (Debian's mariadb-server binaries) on loopback:
 * for the demo's store and for tests. Everything lives in one directory that
 * is removed on stop.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, GearopsError } from '../errors.js';

const run = promisify(execFile);

/** A running MariaDB. */
export interface MariadbProcess {
  host: '127.0.0.1';
  port: number;
  socket: string;
  user: 'root';
  password: string;
  /** mysql://root:PW@127.0.0.1:PORT/DATABASE */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same data and port. */
  restart(): Promise<void>;
}

/** True when something accepts a connection at `where` (a unix socket path, or a loopback TCP port). */
function accepts(where: string | number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const s = typeof where === 'string' ? connect({ path: where }) : connect({ host: '127.0.0.1', port: where });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

/** The last lines of the server's error log, for a start that failed. */
function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return 'no error log';
  }
}

/**
 * Waits until *this* server accepts connections: on its own unix socket (a path no other process has), then on its
 * port. A TCP answer alone could come from another process that took the port between freePort() and the bind;
 * mariadbd opens its unix socket only after binding its port, so the socket answering proves the port is its own.
 */
async function waitReady(dir: string, socket: string, port: number, child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new GearopsError(
        ErrorCode.StoreUnavailable,
        `mariadbd exited with ${child.exitCode ?? child.signalCode} during start-up: ${logTail(dir)}`,
        { data: { portTaken: /Address already in use|Bind on TCP\/IP port/i.test(logTail(dir)) } },
      );
    if ((await accepts(socket)) && (await accepts(port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new GearopsError(
    ErrorCode.StoreUnavailable,
    `mariadbd did not accept connections on port ${port} within ${timeoutMs} ms: ${logTail(dir)}`,
  );
}

/** Server options that keep a throwaway instance small and quick. */
export function smallServerArgs(): string[] {
  return [
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--performance-schema=OFF',
    '--max-connections=200',
    '--skip-log-bin',
    '--innodb-flush-log-at-trx-commit=2',
    '--character-set-server=utf8mb4',
  ];
}

/**
 * Initialises and starts MariaDB; creates `database` and sets a random root password. Over 80 lines: initialise, launch, wait for the socket, secure and hand back a stop, in order, sharing the paths.
 */
export async function startMariadbProcess(
  opts: { baseDir?: string; database?: string; port?: number } = {},
): Promise<MariadbProcess> {
  const dir = opts.baseDir ?? mkdtempSync(join(tmpdir(), 'gearops-mariadb-'));
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  // Its own tmpdir: a starting server deletes every #sql* file in its tmpdir, which in a shared /tmp
  // includes the temporary tables of another instance being initialised at the same moment.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  let port = opts.port ?? (await freePort());
  const database = opts.database ?? 'common';
  const password = randomBytes(12).toString('hex');
  try {
    await run(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        `--tmpdir=${tmp}`,
      ],
      { timeout: 60_000 },
    );
  } catch (err) {
    throw new GearopsError(
      ErrorCode.StoreUnavailable,
      `mariadb-install-db failed (is Debian's mariadb-server installed?): ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        '--user=root',
        `--datadir=${dataDir}`,
        `--tmpdir=${tmp}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--log-error=${join(dir, 'error.log')}`,
        ...smallServerArgs(),
      ],
      { stdio: 'ignore' },
    );
    await waitReady(dir, socket, port, child, 30_000);
  };
  const stopChild = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(t);
  };
  try {
    // A port we chose ourselves may be taken by another process before mariadbd binds it: choose again.
    for (let attempt = 1; ; attempt++) {
      try {
        await launch();
        break;
      } catch (err) {
        const taken = (err as GearopsError).data?.portTaken === true;
        if (!taken || opts.port !== undefined || attempt >= 3) throw err;
        port = await freePort();
      }
    }
    await run('mariadb', [
      '--no-defaults',
      `--socket=${socket}`,
      '-uroot',
      '-e',
      `CREATE DATABASE IF NOT EXISTS \`${database}\`; ALTER USER 'root'@'localhost' IDENTIFIED BY '${password}'; CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;`,
    ]);
  } catch (err) {
    // Nothing is left running: a server that started but could not be set up is stopped, its folder removed.
    await stopChild('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    socket,
    user: 'root',
    password,
    url: `mysql://root:${password}@127.0.0.1:${port}/${database}`,
    dataDir,
    async stop() {
      await stopChild('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await stopChild('SIGKILL');
    },
    async restart() {
      await stopChild('SIGTERM');
      await launch();
    },
  };
}
