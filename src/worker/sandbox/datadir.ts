/**
 * The sandboxes' folders: each sandbox in `<sandboxDir>/<name>/` with its data, my.cnf, socket, pid and a
 * sandbox.json (written last, so a folder without one is a half-made sandbox).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { NAME_RE, type SandboxInstallValue } from '../../core/capabilities.js';
import type { ServerBuild } from './builds.js';
import { client, pidAlive, readPid, serverPids, stopPids } from './process.js';

/** What sandbox.json records (no password): the install's answer without its run-time parts. */
export type SandboxRecord = Omit<SandboxInstallValue, 'socket' | 'dataDir' | 'durationMs' | 'alreadyInstalled'>;

/** The sandboxes under one folder. */
export interface SandboxDirs {
  root: string;
  dirOf(name: string): string;
  readRecord(name: string): SandboxRecord | null;
  /** Every sandbox with its sandbox.json. */
  records(): SandboxRecord[];
  running(name: string): boolean;
  /** Stops every server process of sandbox `name` (SIGTERM, then SIGKILL after 20 s). */
  stopServer(name: string): Promise<void>;
  /** Deletes its folder (retrying while a stopping server lets go of files). */
  removeDir(name: string): void;
  /** Runs SQL as the sandbox's root, through its client.cnf (written once the password is set). */
  sql(b: ServerBuild, name: string, statement: string, extra?: string[]): Promise<{ stdout: string }>;
}

/** The sandboxes under `root`. */
export function createSandboxDirs(root: string): SandboxDirs {
  const dirOf = (name: string) => join(root, name);
  const readRecord = (name: string): SandboxRecord | null => {
    try {
      return JSON.parse(readFileSync(join(dirOf(name), 'sandbox.json'), 'utf8')) as SandboxRecord;
    } catch {
      return null;
    }
  };
  return {
    root,
    dirOf,
    readRecord,
    records: () =>
      existsSync(root)
        ? readdirSync(root)
            .map((n) => readRecord(n))
            .filter((r): r is SandboxRecord => r !== null)
        : [],
    running(name) {
      const pid = readPid(join(dirOf(name), 'mysqld.pid'));
      return pid !== null && pidAlive(pid);
    },
    stopServer: (name) => stopPids(serverPids(join(dirOf(name), 'my.cnf'), join(dirOf(name), 'mysqld.pid'))),
    removeDir: (name) => rmSync(dirOf(name), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }),
    sql: (b, name, statement, extra = ['-N', '-B']) =>
      client(b.client, [`--defaults-file=${join(dirOf(name), 'client.cnf')}`, ...extra], statement),
  };
}

/**
 * A worker killed during an install leaves a sandbox without its sandbox.json (written last): stop its server and
 * remove it, so a re-sent install (or a new one) starts clean and nothing half-made stays.
 */
export async function removeHalfMade(dirs: SandboxDirs, log: Logger): Promise<void> {
  for (const entry of readdirSync(dirs.root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !NAME_RE.test(entry.name) || existsSync(join(dirs.dirOf(entry.name), 'sandbox.json')))
      continue;
    await dirs.stopServer(entry.name);
    dirs.removeDir(entry.name);
    log.warn(
      { event: 'sandbox_half_made_removed', name: entry.name },
      'removed a sandbox left half-made by an interrupted install',
    );
  }
}
