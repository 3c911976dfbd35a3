/**
 * DEMO ONLY — console lines for trying a failover without a second terminal: `kill <host> <cluster>` ends that
 * host's sandbox of the cluster with SIGKILL (a crash), `start <host> <cluster>` starts it again from its own my.cnf
 * (as the worker did). They act only on the demo's own sandbox directory, on names checked against a strict
 * pattern; nothing reaches a shell. (The console's own `wait` gives the monitor time in piped walkthroughs.)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBuilds } from '../worker/sandbox/builds.js';
import { pidAlive } from '../worker/sandbox/index.js';
import type { ConsoleBuiltin } from '../chat/console/console-builtins.js';

const NAME = /^[a-z][a-z0-9_-]{0,30}$/;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `kill` and `start` over the demo's sandboxes in `sandboxRoot` (one folder per host, one per cluster below it). */
export function createCrashBuiltins(sandboxRoot: string): Record<string, ConsoleBuiltin> {
  const dirOf = (host: string, cluster: string) => join(sandboxRoot, host, cluster);
  const pidOf = (host: string, cluster: string): number | null => {
    try {
      const pid = Number(readFileSync(join(dirOf(host, cluster), 'mysqld.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : null;
    } catch {
      return null;
    }
  };

  async function kill(host: string, cluster: string, out: (s: string) => void): Promise<boolean> {
    const pid = pidOf(host, cluster);
    if (pid === null) {
      out(`kill: no running sandbox of ${cluster} on ${host}`);
      return false;
    }
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && pidAlive(pid); i++) await sleep(50);
    out(`kill: ${host}'s mariadbd of ${cluster} (pid ${pid}) killed with SIGKILL`);
    return true;
  }

  async function start(host: string, cluster: string, out: (s: string) => void): Promise<boolean> {
    const dir = dirOf(host, cluster);
    if (!existsSync(join(dir, 'my.cnf'))) {
      out(`start: ${cluster} has no sandbox on ${host}`);
      return false;
    }
    if (pidOf(host, cluster) !== null) {
      out(`start: ${host}'s sandbox of ${cluster} is already running`);
      return false;
    }
    const build = (await findBuilds()).builds[0];
    if (!build) {
      out('start: no server build found');
      return false;
    }
    const args = [`--defaults-file=${join(dir, 'my.cnf')}`, ...(process.getuid?.() === 0 ? ['--user=root'] : [])];
    // A minimal environment, as the worker gives its servers: nothing of the demo's secrets.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
    const child = spawn(build.server, args, { detached: true, stdio: 'ignore', env });
    child.unref();
    for (let i = 0; i < 600 && pidOf(host, cluster) === null; i++) {
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    const pid = pidOf(host, cluster);
    out(pid ? `start: ${host}'s mariadbd of ${cluster} started (pid ${pid})` : 'start: it did not start');
    return pid !== null;
  }

  const usage = (word: string) => `Usage: ${word} <host> <cluster>   (demo only: a sandbox of the demo's workers)`;
  const builtin =
    (word: 'kill' | 'start', act: typeof kill): ConsoleBuiltin =>
    async (args, io) => {
      const [host, cluster, ...rest] = args;
      if (!host || !cluster || rest.length || !NAME.test(host) || !NAME.test(cluster)) {
        io.out(usage(word));
        return false;
      }
      return act(host, cluster, (s) => io.out(s));
    };
  return { kill: builtin('kill', kill), start: builtin('start', start) };
}
