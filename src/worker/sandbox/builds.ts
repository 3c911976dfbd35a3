/** Server builds a worker can install sandboxes from: the system's, and unpacked tarballs (one folder per version). */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveProgram } from '../exec.js';

const run = promisify(execFile);

/** One usable server build. */
export interface ServerBuild {
  version: string;
  flavour: 'mariadb' | 'mysql';
  server: string;
  /** mariadb-install-db (mysql_install_db in older tarballs). */
  installer: string;
  /** The command-line client. */
  client: string;
  source: 'system' | 'tarball';
  /** The unpacked tarball's top folder, which its tools and servers need as --basedir; null for the system's build. */
  basedir: string | null;
}

/** A build found, or why the one at `server` cannot be used. */
type Probed = { build: ServerBuild } | { problem: string };

async function probe(
  server: string,
  installer: string | null,
  client: string | null,
  source: ServerBuild['source'],
  basedir: string | null,
): Promise<Probed> {
  if (!client) return { problem: `${server}: no command-line client (mariadb or mysql) beside it` };
  try {
    const { stdout } = await run(server, ['--version'], { timeout: 10_000 });
    const m = /Ver\s+(\d+\.\d+\.\d+)(-MariaDB)?/i.exec(stdout);
    if (!m?.[1]) return { problem: `${server}: cannot read its version from \`--version\`` };
    const flavour = m[2] || /mariadb/i.test(stdout) ? 'mariadb' : 'mysql';
    // Only MariaDB's install, user and replication statements are built and tested here; a MySQL build is
    // reported rather than half-supported (MySQL 8 needs --initialize-insecure and CHANGE REPLICATION SOURCE TO).
    if (flavour === 'mysql')
      return { problem: `${server}: MySQL ${m[1]} found, but sandboxes support MariaDB builds only for now` };
    if (!installer) return { problem: `${server}: no mariadb-install-db beside it` };
    return { build: { version: m[1], flavour, server, installer, client, source, basedir } };
  } catch (err) {
    return { problem: `${server}: \`--version\` failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Finds every usable build, with the reasons for what it could not use. */
export async function findBuilds(binariesDir?: string): Promise<{ builds: ServerBuild[]; problems: string[] }> {
  const builds: ServerBuild[] = [];
  const problems: string[] = [];
  const server = resolveProgram('mariadbd') ?? resolveProgram('mysqld');
  if (server) {
    const p = await probe(
      server,
      resolveProgram('mariadb-install-db') ?? resolveProgram('mysql_install_db'),
      resolveProgram('mariadb') ?? resolveProgram('mysql'),
      'system',
      null,
    );
    if ('build' in p) builds.push(p.build);
    else problems.push(p.problem);
  }
  if (binariesDir && existsSync(binariesDir)) {
    for (const v of readdirSync(binariesDir)) {
      const bin = join(binariesDir, v, 'bin');
      const srv = ['mariadbd', 'mysqld'].map((n) => join(bin, n)).find(existsSync);
      if (!srv) continue;
      const inst =
        [
          join(v, 'scripts', 'mariadb-install-db'),
          join(v, 'bin', 'mariadb-install-db'),
          join(v, 'scripts', 'mysql_install_db'),
        ]
          .map((p) => join(binariesDir, p))
          .find(existsSync) ?? null;
      const cli = ['mariadb', 'mysql'].map((n) => join(bin, n)).find(existsSync) ?? null;
      const p = await probe(srv, inst, cli, 'tarball', join(binariesDir, v));
      if ('build' in p) builds.push(p.build);
      else problems.push(p.problem);
    }
  }
  if (builds.length === 0)
    problems.unshift(
      `no mysqld/mariadbd with its install tool found in PATH${binariesDir ? ` or under ${binariesDir}` : ''}`,
    );
  return { builds, problems };
}

/**
 * The build for `version` (exact, or a prefix like 10.11); the newest when none is asked for. Of two builds of
 * the same version, an unpacked tarball wins over the system's: someone put it there to be used.
 */
export function pickBuild(builds: ServerBuild[], version?: string): ServerBuild | null {
  const cmp = (a: string, b: string) => {
    const pa = a.split('.').map(Number);
    const pb = b.split('.').map(Number);
    for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  };
  const rank = (b: ServerBuild) => (b.source === 'tarball' ? 1 : 0);
  const fit = builds
    .filter((b) => !version || b.version === version || b.version.startsWith(`${version}.`))
    .sort((a, b) => cmp(a.version, b.version) || rank(a) - rank(b));
  return fit.at(-1) ?? null;
}
