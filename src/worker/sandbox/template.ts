/**
 * One freshly initialised data directory per server build, made once by the
 * build's install tool and copied for every new sandbox. Initialising is the
 * CPU-heavy part of an install (a bootstrap server writing the system
 * tables); a copy is a few milliseconds of I/O, so sandboxes installed at once
 * on one host no longer queue for the CPU. MariaDB keeps nothing per-instance
 * in a fresh data directory (server ids and ports live in my.cnf), so copies
 * are as good as new ones.
 *
 * A template holds no account without a password: the install tool's root
 * accounts (localhost, 127.0.0.1, ::1, the host name) are passwordless, so
 * the template keeps only root@localhost, with a random password that only
 * this worker's user can read (`root.pw`, 0600). A copy's first start (socket
 * only) logs in with it and sets the sandbox's own accounts.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerBuild } from './builds.js';

const run = promisify(execFile);

/**
 * The environment of every process the sandboxes start (installer, servers, clients): a search path and a
 * locale, nothing of the worker's (its GEAROPS_JOB_SECRET, store URL, tokens), which /proc/<pid>/environ shows
 * to the sandbox's owner and which a server has no use for.
 */
export function sandboxEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

/** Bumped when templates change shape, so that older ones (with passwordless root accounts) are never copied. */
const TEMPLATE_FORMAT = 'v2';

/** Runs `server --bootstrap` with `sql` on stdin (the server reads one statement per line there). */
function bootstrap(server: string, args: string[], sql: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(server, [...args, '--bootstrap'], { stdio: ['pipe', 'ignore', 'pipe'], env: sandboxEnv() });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(Object.assign(new Error(`bootstrap exited ${code}`), { stderr, code, tool: basename(server) }));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${sql.join(';\n')};\n`);
  });
}

/** Server settings that shape a data directory: the template is made with them and every sandbox runs with them. */
export const DATA_DIR_SETTINGS = ['innodb-buffer-pool-size=32M', 'innodb-log-file-size=8M', 'performance-schema=OFF'];

/**
 * Copies a data directory. coreutils `cp` (argv, no shell) writes only the
 * non-zero blocks of InnoDB's mostly empty files and is about twice as fast
 * as fs.cp here; where there is no GNU cp, fs.cp does the same job.
 */
async function copyDir(from: string, to: string): Promise<void> {
  try {
    await run('cp', ['-a', '--sparse=always', '--', from, to], { timeout: 120_000 });
  } catch (err) {
    rmSync(to, { recursive: true, force: true });
    if (
      (err as NodeJS.ErrnoException).code !== 'ENOENT' &&
      !/unrecognized option|illegal option/i.test(String((err as { stderr?: string }).stderr))
    )
      throw err;
    await cp(from, to, { recursive: true, errorOnExist: true, force: false });
  }
}

/**
 * Templates under `<sandboxDir>/.templates/`. Over 80 lines as a factory: its methods share the templates directory and the builds in flight; each is short.
 */
export function createTemplates(sandboxDir: string) {
  const root = join(sandboxDir, '.templates');
  const building = new Map<string, Promise<string>>();
  // Builds a killed worker left behind.
  if (existsSync(root))
    for (const e of readdirSync(root))
      if (e.includes('.build-')) rmSync(join(root, e), { recursive: true, force: true });
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];

  async function build(b: ServerBuild, dir: string): Promise<string> {
    const work = `${dir}.build-${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(join(work, 'tmp'), { recursive: true });
    try {
      writeFileSync(
        join(work, 'my.cnf'),
        [
          '[mysqld]',
          ...(b.basedir ? [`basedir=${b.basedir}`] : []),
          `datadir=${join(work, 'data')}`,
          `tmpdir=${join(work, 'tmp')}`,
          ...DATA_DIR_SETTINGS,
          '',
        ].join('\n'),
      );
      // A tarball's install tool finds its server, SQL scripts and messages only through --basedir.
      const basedir = b.basedir ? [`--basedir=${b.basedir}`] : [];
      try {
        await run(
          b.installer,
          [
            `--defaults-file=${join(work, 'my.cnf')}`,
            ...basedir,
            ...asRoot,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
          ],
          { timeout: 120_000, env: sandboxEnv() },
        );
        // Only root@localhost stays, with a password: every other account the tool made has none.
        const rootPassword = randomBytes(24).toString('base64url');
        await bootstrap(
          b.server,
          [`--defaults-file=${join(work, 'my.cnf')}`, ...asRoot],
          [
            'FLUSH PRIVILEGES',
            "DELETE FROM mysql.global_priv WHERE NOT (host = 'localhost' AND user IN ('root', 'mariadb.sys'))",
            'FLUSH PRIVILEGES',
            `ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootPassword}'`,
          ],
        );
        writeFileSync(join(work, 'root.pw'), `${rootPassword}\n`, { mode: 0o600 });
      } catch (err) {
        // The install tool says what went wrong on stdout or stderr ("FATAL ERROR: …", "[ERROR] …"); its command line says nothing.
        const e = err as { stdout?: string; stderr?: string; code?: number | string; message: string; tool?: string };
        const lines = `${e.stderr ?? ''}\n${e.stdout ?? ''}`
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        const why =
          lines.find((l) => /\bERROR\b/i.test(l)) ??
          lines.find((l) => !/\[(Warning|Note)\]/.test(l)) ??
          `exit ${e.code ?? '?'}`;
        const tool = e.tool ?? basename(b.installer);
        throw new Error(`preparing a data directory with ${tool} failed: ${why}`, { cause: err });
      }
      rmSync(join(work, 'tmp'), { recursive: true, force: true });
      writeFileSync(join(work, 'ready'), `${b.version} ${b.server}\n`);
      try {
        renameSync(work, dir);
      } catch {
        // Another worker on this host finished the same template first: use that one.
        if (!existsSync(join(dir, 'ready'))) throw new Error(`cannot put the template in place at ${dir}`);
      }
      return join(dir, 'data');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  return {
    /**
     * Copies a fresh data directory of build `b` to `dataDir`; `fresh` tells whether the template had to be made
     * first, `rootPassword` is the password of the copy's only account (root@localhost) until it is changed.
     */
    async copyTo(b: ServerBuild, dataDir: string): Promise<{ fresh: boolean; rootPassword: string }> {
      const hash = createHash('sha256').update(`${TEMPLATE_FORMAT}\0${b.server}\0${b.installer}`).digest('hex');
      const key = `${b.version}-${hash.slice(0, 10)}`;
      const dir = join(root, key);
      let fresh = false;
      if (!existsSync(join(dir, 'ready'))) {
        fresh = true;
        let p = building.get(key);
        if (!p) {
          mkdirSync(root, { recursive: true });
          p = build(b, dir).finally(() => building.delete(key));
          building.set(key, p);
        }
        await p;
      }
      await copyDir(join(dir, 'data'), dataDir);
      return { fresh, rootPassword: readFileSync(join(dir, 'root.pw'), 'utf8').trim() };
    },
  };
}
