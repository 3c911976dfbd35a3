/**
 * One freshly initialised data directory per server build, made once by the
 * build's install tool and copied for every new sandbox. Initialising is the
 * CPU-heavy part of an install (a bootstrap server writing the system
 * tables); a copy is a few milliseconds of I/O, so sandboxes installed at once
 * on one host no longer queue for the CPU. MariaDB keeps nothing per-instance
 * in a fresh data directory (server ids and ports live in my.cnf), so copies
 * are as good as new ones.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerBuild } from './builds.js';

const run = promisify(execFile);

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

/** Templates under `<sandboxDir>/.templates/`. */
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
          { timeout: 120_000 },
        );
      } catch (err) {
        // The install tool says what went wrong on stdout or stderr ("FATAL ERROR: …", "[ERROR] …"); its command line says nothing.
        const e = err as { stdout?: string; stderr?: string; code?: number | string; message: string };
        const lines = `${e.stderr ?? ''}\n${e.stdout ?? ''}`
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        const why =
          lines.find((l) => /\bERROR\b/i.test(l)) ??
          lines.find((l) => !/\[(Warning|Note)\]/.test(l)) ??
          `exit ${e.code ?? '?'}`;
        throw new Error(`preparing a data directory with ${basename(b.installer)} failed: ${why}`, { cause: err });
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
    /** Copies a fresh data directory of build `b` to `dataDir`; `fresh` tells whether the template had to be made first. */
    async copyTo(b: ServerBuild, dataDir: string): Promise<{ fresh: boolean }> {
      const key = `${b.version}-${createHash('sha256').update(`${b.server}\0${b.installer}`).digest('hex').slice(0, 10)}`;
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
      return { fresh };
    },
  };
}
