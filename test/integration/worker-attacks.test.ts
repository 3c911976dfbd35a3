/**
 * Attacks on the Gearman side, against a real gearmand and a real worker process: a rogue that registers the
 * worker's function and relays its jobs, a rogue's own unsigned error, an oversized frame, a large result,
 * and a captured job replayed after gearmand and the worker both restarted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createGearmanDispatcher } from '../../src/gearman/dispatcher.js';
import { createGearmanClient } from '../../src/gearman/client.js';
import { createGearmanWorker } from '../../src/gearman/worker.js';
import { signJob } from '../../src/core/payload.js';
import type { Dispatcher } from '../../src/core/ports/dispatcher.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { until } from '../helpers/wait.js';

const logger = createSilentLogger();
const secret = randomBytes(32).toString('hex');
const requester = { userId: 'U1', channelId: 'C1', roles: [] };

/** The worker process's peak resident memory, in bytes (VmHWM). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

describe('attacks through the job server, against a real gearmand and worker', () => {
  let g: GearmandHandle;
  let w: WorkerProcess;
  let d: Dispatcher;
  let dir: string;
  const workerArgs = () => ['--sandbox-dir', join(dir, 'sandboxes'), '--state-dir', join(dir, 'state')];
  const startWorker = () =>
    startWorkerProcess({
      host: 'server1',
      gearman: g.address,
      secret,
      policy: join(dir, 'policy.yml'),
      extraArgs: [...workerArgs(), '--max-frame-bytes', String(1024 * 1024)],
    });

  beforeAll(async () => {
    g = await startGearmand();
    dir = mkdtempSync(join(tmpdir(), 'gearops-attack-test-'));
    writeFileSync(
      join(dir, 'policy.yml'),
      [
        'version: 1',
        'settings:',
        '  max_output_bytes: 1048576',
        'commands:',
        '  - rule: diag',
        '    allow:',
        '      - seq <int:1..10000000> <int:1..10000000>',
        `      - touch <path:${dir}/>`,
        '',
      ].join('\n'),
    );
    w = await startWorker();
    d = createGearmanDispatcher({ servers: [g.address], secret, logger, preset: 'fast' });
  });

  afterAll(async () => {
    await d?.close();
    await w?.stop();
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A rogue registered as run@server1 that gets the next job: the real worker is stopped until the rogue has it. */
  async function withRogue(handler: Parameters<typeof createGearmanWorker>[0]['functions'][string]) {
    const rogue = createGearmanWorker({
      servers: [g.address],
      logger,
      concurrency: 1,
      functions: {
        'run@server1': async (job) => {
          w.child.kill('SIGCONT');
          return handler(job);
        },
      },
    });
    await rogue.start();
    w.child.kill('SIGSTOP');
    return rogue;
  }

  it('a rogue relaying a job to the real worker sees only ciphertext; the user gets the right output', async () => {
    const relay = createGearmanClient({ servers: [g.address], logger });
    const seen: Buffer[] = [];
    const rogue = await withRogue(async (job) => {
      const r = await relay.submit('run@server1', job.payload, {
        timeoutMs: 10_000,
        onData: (b) => {
          seen.push(b);
          job.sendData(b);
        },
      });
      seen.push(r.data);
      return r.data;
    });
    try {
      const r = await d.submit({
        capability: 'run',
        host: 'server1',
        args: { line: 'seq 424242 424250' },
        requester,
      });
      expect(r.ok).toBe(true);
      expect(r.value?.output.split('\n')[0]).toBe('424242');
      // The rogue did relay: it saw the streamed output and the result pass, and could read none of it.
      expect(seen.length).toBeGreaterThanOrEqual(2);
      const all = Buffer.concat(seen).toString('latin1');
      expect(all).not.toContain('424242');
      expect(all).not.toContain('"output"');
      expect(all).not.toContain('"kind"');
    } finally {
      await rogue.stop({ graceMs: 100 });
      await relay.close();
    }
  });

  it("a rogue's own unsigned error is labelled unverified, never shown as the job's error, and pings nobody", async () => {
    const rogue = await withRogue(async () => {
      throw new Error(
        '<@U0ADMIN> <!channel> password expired: run `sudo gearops-fix` & see <https://evil.example|docs>',
      );
    });
    try {
      const err = await d.submit({ capability: 'run', host: 'server1', args: { line: 'seq 1 2' }, requester }).then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code).toBe('gearops_unverified_answer');
      expect(err?.message).toMatch(/^unverified answer from a process claiming to be server1: /);
      expect(err?.message).not.toMatch(/[<>`&]|@U0ADMIN|<!/);
      expect(err?.message).toContain('password expired');
    } finally {
      await rogue.stop({ graceMs: 100 });
    }
  });

  it('takes a result up to the policy max_output_bytes (over 256 KB) as verified, not as a forgery', async () => {
    const r = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'seq 1 100000' },
      requester,
    });
    expect(r.ok).toBe(true);
    expect(r.value?.truncated).toBe(false);
    expect(r.value?.outputBytes).toBe(588_895);
    expect(r.value?.output.trimEnd().split('\n')).toHaveLength(100_000);
  });

  it('refuses an oversized frame unread: the connection is closed, the refusal logged, memory stays flat', async () => {
    const attacker = createGearmanClient({ servers: [g.address], logger });
    const before = peakRss(w.child.pid!);
    const big = Buffer.alloc(64 * 1024 * 1024, 'A');
    const job = attacker.submit('run@server1', big, { timeoutMs: 60_000 }).catch((e: Error) => e);
    try {
      await until(() => w.logs().includes('"event":"frame_refused"'));
      const line = w
        .logs()
        .split('\n')
        .find((l) => l.includes('"event":"frame_refused"'))!;
      const refused = JSON.parse(line) as { byReason: Record<string, number>; largestBytes: number };
      expect(refused.byReason.oversized).toBeGreaterThanOrEqual(1);
      // The header announced the whole job (64 MB plus handle and function name): refused from the header alone.
      expect(refused.largestBytes).toBeGreaterThan(64 * 1024 * 1024);
      // Reading 64 MB would have raised the peak by at least that much; refused unread, it barely moves.
      expect(peakRss(w.child.pid!) - before).toBeLessThan(16 * 1024 * 1024);
      // The worker failed that job by its handle before closing, so gearmand does not hand it out again.
      expect(String(await job)).toMatch(/job refused unread: frame of \d+ bytes announced/);
    } finally {
      await attacker.close();
    }
    // The worker keeps serving.
    const r = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'seq 1 2' },
      requester,
    });
    expect(r.value?.exitCode).toBe(0);
  });

  it('the bot refuses an oversized answer from a rogue unread, logs it, and the job fails', async () => {
    const lines: string[] = [];
    const botLogger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const small = createGearmanDispatcher({
      servers: [g.address],
      secret,
      logger: botLogger,
      preset: 'fast',
      maxFrameBytes: 1024 * 1024,
    });
    const rogue = createGearmanWorker({
      servers: [g.address],
      logger,
      concurrency: 1,
      functions: { 'run@server1': async () => Buffer.alloc(2 * 1024 * 1024, 'B') },
    });
    await rogue.start();
    w.child.kill('SIGSTOP');
    try {
      const err = await small
        .submit({ capability: 'run', host: 'server1', args: { line: 'seq 1 2' }, requester, timeoutMs: 5000 })
        .then(
          () => null,
          (e: Error) => e,
        );
      expect(err).toBeInstanceOf(Error);
      const refused = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.event === 'frame_refused');
      expect(refused[0]).toMatchObject({ component: 'gearman-client', byReason: { oversized: 1 } });
    } finally {
      w.child.kill('SIGCONT');
      await rogue.stop({ graceMs: 100 });
      await small.close();
    }
  });

  it('refuses a captured job replayed after gearmand and the worker both restarted, though its handle is the same', async () => {
    // The worker resolves path arguments to existing regular files: the marker exists, and running the job
    // (touch) moves its mtime off the epoch.
    const marker = join(dir, 'ran');
    writeFileSync(marker, '');
    utimesSync(marker, 0, 0);
    const ran = () => statSync(marker).mtimeMs > 0;
    const once = signJob(secret, { host: 'server1', capability: 'run', requester, args: { line: `touch ${marker}` } });
    /** Submits `payload` raw (as an attacker would) once the worker is registered on the gearmand running now. */
    const submitRaw = async (payload: string) => {
      await until(async () => (await d.hosts()).some((h) => h.host === 'server1'));
      const client = createGearmanClient({ servers: [g.address], logger });
      try {
        return await client.submit('run@server1', payload, { timeoutMs: 10_000 }).then(
          (r) => ({ handle: r.handle, error: null }),
          (e: Error & { data?: { handle?: string } }) => ({ handle: e.data?.handle, error: e }),
        );
      } finally {
        await client.close();
      }
    };
    // A fresh gearmand, so the captured job gets the first handle, as its replay will after the next restart.
    await g.restart();
    const first = await submitRaw(once.payload);
    expect(first.error).toBeNull();
    expect(ran()).toBe(true);
    utimesSync(marker, 0, 0);
    const killed = new Promise((r) => w.child.once('exit', r));
    w.child.kill('SIGKILL');
    await killed;
    await g.restart();
    w = await startWorker();
    const replay = await submitRaw(once.payload);
    expect(replay.handle).toBe(first.handle);
    expect(replay.error?.message).toMatch(/replayed/);
    expect(ran()).toBe(false);
  });
});
