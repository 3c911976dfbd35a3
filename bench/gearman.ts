/**
 * Gearman throughput: the project's client and worker against the gearman C
 * tools doing equal work (echo, one job at a time), on one gearmand, in one
 * run. The C side is `gearman -n` (one job per input line, each waited for)
 * against a `gearman -w` echo worker; the project's side is its client in this
 * process against its worker in a process of its own (bench/echo-worker.ts),
 * so that each side is a client process and a worker process, as in production.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createSilentLogger } from '../src/log.js';
import { startGearmandProcess } from '../src/launch/gearmand.js';
import { createGearmanClient } from '../src/gearman/client.js';
import { createGearmanWorker } from '../src/gearman/worker.js';
import { adminStatus } from '../src/gearman/admin.js';
import { median, round } from './stats.js';

/** Figures of the Gearman benchmark. */
export interface GearmanBench {
  project_jobs_per_s: number;
  c_jobs_per_s: number;
  gearman_throughput_ratio: number;
  project_pipelined_jobs_per_s: number;
  /** The project's client and worker in one process (one event loop for both): how earlier runs measured. */
  project_inprocess_jobs_per_s: number;
}

async function waitFor(server: string, fn: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await adminStatus(server).catch(() => [])).some((s) => s.fn === fn && s.availableWorkers > 0)) {
    if (Date.now() > deadline) throw new Error(`${fn} did not register`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function cClientRun(port: number, fn: string, jobs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const c = spawn('gearman', ['-h', '127.0.0.1', '-p', String(port), '-n', '-f', fn], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    c.once('error', reject);
    c.once('exit', (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - started) / 1e6)
        : reject(new Error(`gearman exited ${code}`)),
    );
    c.stdin.end(Array.from({ length: jobs }, (_, i) => `job${i}`).join('\n') + '\n');
  });
}

/** Runs the benchmark; `reps` repetitions of `jobs` jobs on each side. */
export async function benchGearman(
  opts: { jobs?: number; reps?: number; log?: (s: string) => void } = {},
): Promise<GearmanBench> {
  const jobs = opts.jobs ?? 2000;
  const reps = opts.reps ?? 5;
  const logger = createSilentLogger();
  const g = await startGearmandProcess();
  const cWorker = spawn('gearman', ['-h', '127.0.0.1', '-p', String(g.port), '-w', '-f', 'c_echo'], {
    stdio: 'ignore',
  });
  const worker = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./echo-worker.ts', import.meta.url)), g.address],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const client = createGearmanClient({ servers: [g.address], logger });
  const local = createGearmanWorker({
    servers: [g.address],
    functions: { p_local: async (j) => j.payload },
    concurrency: 1,
    logger,
  });
  try {
    await local.start();
    await waitFor(g.address, 'p_echo');
    await waitFor(g.address, 'c_echo');
    await client.submit('p_echo', 'warm', { timeoutMs: 5000 });
    await cClientRun(g.port, 'c_echo', 100);
    const project: number[] = [];
    const c: number[] = [];
    const piped: number[] = [];
    const inproc: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = process.hrtime.bigint();
      for (let i = 0; i < jobs; i++) await client.submit('p_echo', `job${i}`, { timeoutMs: 10_000 });
      project.push(jobs / (Number(process.hrtime.bigint() - t) / 1e9));
      c.push(jobs / ((await cClientRun(g.port, 'c_echo', jobs)) / 1000));
      t = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: jobs }, (_, i) => client.submit('p_echo', `job${i}`, { timeoutMs: 30_000 })),
      );
      piped.push(jobs / (Number(process.hrtime.bigint() - t) / 1e9));
      t = process.hrtime.bigint();
      for (let i = 0; i < jobs; i++) await client.submit('p_local', `job${i}`, { timeoutMs: 10_000 });
      inproc.push(jobs / (Number(process.hrtime.bigint() - t) / 1e9));
      opts.log?.(
        `gearman rep ${r + 1}/${reps}: project ${round(project.at(-1)!)} jobs/s, C ${round(c.at(-1)!)} jobs/s, project pipelined ${round(piped.at(-1)!)} jobs/s, project in one process ${round(inproc.at(-1)!)} jobs/s`,
      );
    }
    const p = median(project);
    const cm = median(c);
    return {
      project_jobs_per_s: round(p),
      c_jobs_per_s: round(cm),
      gearman_throughput_ratio: round(p / cm, 2),
      project_pipelined_jobs_per_s: round(median(piped)),
      project_inprocess_jobs_per_s: round(median(inproc)),
    };
  } finally {
    await client.close();
    await local.stop({ graceMs: 100 });
    const gone = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    worker.kill('SIGKILL');
    cWorker.kill('SIGKILL');
    await g.stop();
  }
}
