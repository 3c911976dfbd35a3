/**
 * `gearops worker --check`: what the worker would register and what it lacks, without registering.
 * Reads only: the job servers are asked for their status (gearmand's admin protocol), nothing is submitted
 * or registered, and the state dir is checked for writing without being made.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { adminStatus } from '../gearman/admin.js';

/** What the check found. */
export interface WorkerCheck {
  host: string | undefined;
  servers: string[];
  policyFile: string;
  policyDigest: string | null;
  /** Function names the worker would register (empty when it could not get that far). */
  functions: string[];
  /** What stops the worker or makes commands fail: each is one line, saying what to do. */
  missing: string[];
  /** What it would run without, on purpose or not (e.g. no server build: no sandbox capabilities). */
  notes: string[];
}

/** Why `dir` could not be written by this user, or null when it can (or could be made under a writable parent). */
export function stateDirProblem(dir: string): string | null {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
    return null;
  } catch {
    return `--state-dir ${dir} is not writable by this user (${at} is not): give a folder this user can write`;
  }
}

/**
 * Asks each job server for its `status` (registers nothing): a server that does not answer is missing; one
 * where `functions` already have workers is noted (another worker for this host name is running).
 */
export async function probeServers(
  servers: string[],
  functions: string[],
  timeoutMs = 2000,
): Promise<{ missing: string[]; notes: string[] }> {
  const missing: string[] = [];
  const notes: string[] = [];
  await Promise.all(
    servers.map(async (s) => {
      try {
        const taken = (await adminStatus(s, { timeoutMs }))
          .filter((f) => functions.includes(f.fn) && f.availableWorkers > 0)
          .map((f) => f.fn);
        if (taken.length) notes.push(`${s} already has a worker for ${taken.join(', ')} (another process?)`);
      } catch (err) {
        missing.push(`${(err as Error).message}: start gearmand there or fix --gearman`);
      }
    }),
  );
  return { missing, notes };
}

/** The report people read; exit code 1 when anything is missing. */
export function formatWorkerCheck(c: WorkerCheck): { text: string; exitCode: number } {
  const lines = [`gearops worker --check for host ${c.host ?? '(none)'}`];
  lines.push(`job servers: ${c.servers.length ? c.servers.join(', ') : '(none)'}`);
  lines.push(`policy: ${c.policyFile}${c.policyDigest ? ` (${c.policyDigest})` : ''}`);
  if (c.functions.length) lines.push('would register:', ...c.functions.map((f) => `  ${f}`));
  for (const n of c.notes) lines.push(`note: ${n}`);
  if (c.missing.length) lines.push('missing:', ...c.missing.map((m) => `  - ${m}`));
  else lines.push('nothing missing: the worker would start and register the functions above');
  return { text: lines.join('\n'), exitCode: c.missing.length ? 1 : 0 };
}
