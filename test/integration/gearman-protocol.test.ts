import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createGearmanClient } from '../../src/gearman/client.js';
import { createGearmanWorker, type GearmanWorker } from '../../src/gearman/worker.js';
import { adminStatus, adminWorkers } from '../../src/gearman/admin.js';
import { RECONNECT_PRESETS } from '../../src/gearman/connection.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { until } from '../helpers/wait.js';

const run = promisify(execFile);
const logger = createSilentLogger();
const fast = RECONNECT_PRESETS.fast;

describe('gearman client and worker against a real gearmand', () => {
  let g: GearmandHandle;
  let worker: GearmanWorker;
  // Jobs of `slow` the worker holds, each answering "late" once released.
  const held: Array<() => void> = [];
  const releaseHeld = () => held.splice(0).forEach((release) => release());

  beforeAll(async () => {
    g = await startGearmand();
    worker = createGearmanWorker({
      servers: [g.address],
      logger,
      preset: fast,
      clientId: 'test-worker',
      functions: {
        echo: async (job) => job.payload,
        stream: async (job) => {
          for (let i = 0; i < 3; i++) job.sendData(`chunk${i};`);
          job.sendStatus(1, 2);
          return 'done';
        },
        fail: async () => {
          throw new Error('it broke');
        },
        slow: async () => {
          await new Promise<void>((r) => held.push(r));
          return 'late';
        },
      },
    });
    await worker.start();
  });

  afterAll(async () => {
    releaseHeld();
    await worker?.stop({ graceMs: 100 });
    await g?.stop();
  });

  it('round-trips a job, binary-safe', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    const payload = Buffer.from([0, 1, 2, 0, 255, 10]);
    const r = await client.submit('echo', payload, { timeoutMs: 5000 });
    expect(r.data.equals(payload)).toBe(true);
    expect(r.handle).toMatch(/^H:/);
    await client.close();
  });

  it('streams WORK_DATA and WORK_STATUS before completing', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    const chunks: string[] = [];
    const statuses: number[][] = [];
    const r = await client.submit('stream', 'x', {
      timeoutMs: 5000,
      onData: (b) => chunks.push(b.toString()),
      onStatus: (n, d) => statuses.push([n, d]),
    });
    expect(chunks.join('')).toBe('chunk0;chunk1;chunk2;');
    expect(statuses).toEqual([[1, 2]]);
    expect(r.data.toString()).toBe('done');
    await client.close();
  });

  it('rejects on WORK_FAIL with the warning text', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    await expect(client.submit('fail', 'x', { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'gearops_job_failed',
      message: expect.stringContaining('it broke'),
    });
    await client.close();
  });

  it('times out on the client side', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    await expect(client.submit('slow', 'x', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'gearops_job_timeout' });
    releaseHeld();
    await client.close();
  });

  it('pipelines many jobs on one connection', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.submit('echo', `n${i}`, { timeoutMs: 10_000 })),
    );
    expect(results.map((r) => r.data.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `n${i}`));
    await client.close();
  });

  it('is visible through the admin protocol and to gearadmin', async () => {
    const status = await adminStatus(g.address);
    expect(status.find((s) => s.fn === 'echo')?.availableWorkers).toBeGreaterThan(0);
    const workers = await adminWorkers(g.address);
    expect(workers.some((w) => w.clientId === 'test-worker' && w.functions.includes('echo'))).toBe(true);
    const { stdout } = await run('gearadmin', ['--status', '-h', '127.0.0.1', '-p', String(g.port)]);
    expect(stdout).toMatch(/^echo\t\d+\t\d+\t\d+$/m);
  });

  it('serves the C client, and the C worker serves our client', async () => {
    const { stdout } = await run('gearman', ['-h', '127.0.0.1', '-p', String(g.port), '-f', 'echo', 'hello from C']);
    expect(stdout.trim()).toBe('hello from C');

    const cWorker = spawn('gearman', ['-h', '127.0.0.1', '-p', String(g.port), '-w', '-f', 'rev', '--', 'rev'], {
      stdio: 'ignore',
    });
    try {
      await until(
        async () => (await adminStatus(g.address)).some((s) => s.fn === 'rev' && s.availableWorkers > 0),
        5000,
        { label: 'the C worker registered' },
      );
      const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
      const r = await client.submit('rev', 'abc\n', { timeoutMs: 5000 });
      expect(r.data.toString().trim()).toBe('cba');
      await client.close();
    } finally {
      cWorker.kill('SIGKILL');
    }
  });

  it('rejects in-flight jobs when the job server goes away, and serves again after it returns', async () => {
    const client = createGearmanClient({ servers: [g.address], logger, preset: fast });
    const inflight = client.submit('slow', 'x', { timeoutMs: 10_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    const before = held.length;
    await until(() => held.length > before, 10_000, { label: 'the worker running the slow job' });
    await g.restart();
    expect(await inflight).toMatchObject({
      code: 'gearops_job_failed',
      message: expect.stringContaining('lost mid-job'),
    });
    releaseHeld();
    await until(
      async () => (await adminStatus(g.address).catch(() => [])).some((s) => s.fn === 'echo' && s.availableWorkers > 0),
      10_000,
      { label: 'the worker registered again after the restart' },
    );
    const r = await client.submit('echo', 'again', { timeoutMs: 5000 });
    expect(r.data.toString()).toBe('again');
    await client.close();
  });

  it('a submit just after the job server came back waits for the reconnect instead of failing at once', async () => {
    // Reconnects only every 300 ms: right after the restart the client is surely not connected yet.
    const client = createGearmanClient({
      servers: [g.address],
      logger,
      preset: { initialMs: 300, maxMs: 300, connectTimeoutMs: 3000 },
    });
    expect((await client.submit('echo', 'before', { timeoutMs: 5000 })).data.toString()).toBe('before');
    await g.restart();
    const r = await client.submit('echo', 'after', { timeoutMs: 10_000 });
    expect(r.data.toString()).toBe('after');
    await client.close();
  });
});
