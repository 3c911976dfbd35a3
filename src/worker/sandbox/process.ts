/** The processes of sandboxes: the server's client with SQL on stdin, and stopping servers by pid. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxEnv } from './template.js';

/**
 * Runs the server's client with the SQL on stdin, so that no password (in a
 * statement or an option) ever stands in argv, which `ps` shows every user.
 */
export function client(path: string, args: string[], input: string, timeoutMs = 30_000): Promise<{ stdout: string }> {
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
export function writeClientCnf(path: string, o: Record<string, string | number>): void {
  writeFileSync(path, ['[client]', ...Object.entries(o).map(([k, v]) => `${k}=${v}`), ''].join('\n'), { mode: 0o600 });
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

/** The pid in a pid file, when it holds one. */
export function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * The processes started with `--defaults-file=<myCnf>` (on Linux, from /proc: a stale pid file can never make us
 * signal a stranger, and a server that had not written its pid file yet is found too); elsewhere, `pidFile`'s.
 */
export function serverPids(myCnf: string, pidFile: string): number[] {
  if (!existsSync('/proc/self/cmdline')) {
    const pid = readPid(pidFile);
    return pid !== null && pidAlive(pid) ? [pid] : [];
  }
  const marker = `--defaults-file=${myCnf}`;
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
}

/**
 * True when `pid` has a SIGTERM pending that it does not act on (Linux /proc): a mariadbd told to stop in the first
 * moments of its start-up keeps the signal blocked and pending, and hangs there (seen with MariaDB 10.11: never
 * ready, never gone). False where /proc cannot tell.
 */
export function termPending(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = (field: string) =>
      BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'im').exec(status)?.[1] ?? '0'}`);
    const term = 1n << 14n; // SIGTERM is signal 15: bit 14
    return ((mask('SigPnd') | mask('ShdPnd')) & term) !== 0n;
  } catch {
    return false;
  }
}

/**
 * SIGTERM, then waits up to `graceMs` (default 20 s) for every one to end before SIGKILL. A server that leaves the
 * SIGTERM pending for half a second (termPending: stuck in its start-up, it will never act on it) is killed then,
 * not after the whole grace.
 */
export async function stopPids(pids: number[], opts: { graceMs?: number } = {}): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const started = Date.now();
  const deadline = started + (opts.graceMs ?? 20_000);
  while (pids.some(pidAlive)) {
    if (Date.now() > deadline) {
      for (const pid of pids.filter(pidAlive)) process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      break;
    }
    if (Date.now() - started > 500)
      for (const pid of pids.filter((p) => pidAlive(p) && termPending(p))) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
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
