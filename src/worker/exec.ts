/**
 * Runs a pipeline of argv without a shell: each stage is its own process
 * (own process group, so a time-out kills everything it started), stage 1's
 * stdout feeds stage 2's stdin inside the worker, output is capped and
 * streamed in coalesced chunks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { ExecResult } from '../core/capabilities.js';

/** The only directories programs are taken from. */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What one spawned pipeline gave (the contract's, src/core/capabilities.ts). */
export type { ExecResult };

/** Options of one run. */
export interface ExecOptions {
  timeoutMs: number;
  maxOutputBytes: number;
  onOutput?(stream: 'stdout' | 'stderr', text: string): void;
  signal?: AbortSignal;
  /** Streamed chunks are flushed at least this often. */
  flushMs?: number;
}

/** Resolves a bare program name on SAFE_PATH; null when it is not there. */
export function resolveProgram(name: string): string | null {
  if (!/^[A-Za-z0-9._+-]+$/.test(name)) return null;
  for (const dir of SAFE_PATH.split(':')) {
    const full = `${dir}/${name}`;
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * Runs `pipeline` (1 or 2 stages). Never throws for a failing command: the result says what happened. Over 80 lines: one or two child processes, their pipe, limits and time-out are wired in one place so that every way out settles the same result once.
 */
export async function runPipeline(pipeline: string[][], opts: ExecOptions): Promise<ExecResult> {
  const started = Date.now();
  const empty = (error: string): ExecResult => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    truncated: false,
    outputBytes: 0,
    output: '',
    durationMs: 0,
    error,
  });
  if (pipeline.length < 1 || pipeline.length > 2 || pipeline.some((s) => s.length === 0))
    return empty('a pipeline has one or two stages');
  const programs = pipeline.map((s) => resolveProgram(s[0]!));
  const missing = pipeline.find((_, i) => programs[i] === null);
  if (missing) return empty(`command not found on this host: ${missing[0]}`);

  const env = { PATH: SAFE_PATH, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  const children: ChildProcess[] = pipeline.map((argv, i) =>
    spawn(programs[i]!, argv.slice(1), {
      shell: false,
      env,
      detached: true,
      stdio: [i === 0 ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      cwd: '/',
    }),
  );
  if (children.length === 2) {
    const [a, b] = children as [ChildProcess, ChildProcess];
    a.stdout!.pipe(b.stdin!);
    b.stdin!.on('error', () => undefined); // grep may exit early: EPIPE is expected.
  }

  let outputBytes = 0;
  let truncated = false;
  let timedOut = false;
  const parts: string[] = [];
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  type Pending = { stream: 'stdout' | 'stderr'; text: string };
  let pending = null as Pending | null;
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    if (pending && pending.text) opts.onOutput?.(pending.stream, pending.text);
    pending = null;
  };
  const killAll = (sig: NodeJS.Signals) => {
    for (const c of children) {
      if (c.pid && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, sig);
        } catch {
          // already gone
        }
      }
    }
  };
  let killTimer: ReturnType<typeof setTimeout> | null = null;
  const terminate = () => {
    killAll('SIGTERM');
    killTimer ??= setTimeout(() => killAll('SIGKILL'), 2000);
  };
  const take = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    if (truncated) return;
    let buf = chunk;
    if (outputBytes + buf.length > opts.maxOutputBytes) {
      buf = buf.subarray(0, opts.maxOutputBytes - outputBytes);
      truncated = true;
      terminate();
    }
    outputBytes += buf.length;
    const text = decoders[stream].write(buf);
    if (!text) return;
    parts.push(text);
    if (pending && pending.stream !== stream) flush();
    pending = { stream, text: (pending?.text ?? '') + text };
    if (pending.text.length >= 8192) flush();
    else flushTimer ??= setTimeout(flush, opts.flushMs ?? 100);
  };
  const last = children[children.length - 1]!;
  last.stdout!.on('data', (d: Buffer) => take('stdout', d));
  for (const c of children) c.stderr!.on('data', (d: Buffer) => take('stderr', d));

  const timer = setTimeout(() => {
    timedOut = true;
    terminate();
  }, opts.timeoutMs);
  const onAbort = () => terminate();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const exits = await Promise.all(
    children.map(
      (c) =>
        new Promise<{ code: number | null; signal: string | null; error?: string }>((resolve) => {
          let error: string | undefined;
          c.once('error', (err) => {
            error = err.message;
          });
          c.once('close', (code, signal) => resolve({ code, signal, error }));
        }),
    ),
  );
  clearTimeout(timer);
  if (killTimer) clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  for (const s of ['stdout', 'stderr'] as const) {
    const rest = decoders[s].end();
    if (rest) {
      parts.push(rest);
      pending = { stream: s, text: (pending?.stream === s ? pending.text : '') + rest };
    }
  }
  flush();
  const fin = exits[exits.length - 1]!;
  return {
    exitCode: fin.code,
    signal: fin.signal,
    timedOut,
    truncated,
    outputBytes,
    output: parts.join(''),
    durationMs: Date.now() - started,
    ...(exits.find((e) => e.error) ? { error: exits.find((e) => e.error)!.error } : {}),
  };
}
