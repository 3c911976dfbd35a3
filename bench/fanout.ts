/**
 * Fan-out: `/run all uptime` over 50 worker hosts (50 `gearops worker`
 * processes with their own --host names, on this machine) through the
 * router, the policy, the dispatcher and the gathering, against the seed's
 * own way made parallel (50 `gearman` C clients started at once against 50
 * `gearman -w -f legacyN -- uptime` C workers) and done one host after
 * another (50 sequential C clients). All on one gearmand, in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSilentLogger } from '../src/log.js';
import { startGearmandProcess } from '../src/launch/gearmand.js';
import { startWorkerProcess, type WorkerProcess } from '../src/launch/worker.js';
import { createGearmanDispatcher } from '../src/gearman/dispatcher.js';
import { adminStatus } from '../src/gearman/admin.js';
import { loadPolicyFile } from '../src/core/policy/index.js';
import { createHostLimiter } from '../src/core/host-limiter.js';
import { createCommandRouter } from '../src/core/router.js';
import { createRunCommand } from '../commands/run.js';
import { median, round } from './stats.js';
import { quietReply } from './run-latency.js';

/** Figures of the fan-out benchmark. */
export interface FanoutBench {
  fanout_hosts: number;
  fanout_50_ms: number;
  fanout_c_parallel_ms: number;
  fanout_ratio: number;
  fanout_c_sequential_ms: number;
  fanout_vs_sequential: number;
  fanout_bot_peak_rss_mb: number;
  fanout_worker_rss_mb: number;
  /** Answers of the parallel C clients that came back without uptime's output, over all rounds. */
  fanout_c_empty_answers: number;
}

/** Resident set size of a process in MB, from /proc (Linux). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** One `gearman -f fn` client call; resolves with its output once it exits 0. */
function cCall(port: number, fn: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('gearman', ['-h', '127.0.0.1', '-p', String(port), '-f', fn], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`gearman -f ${fn} exited ${code}`))));
  });
}

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

/** Runs the benchmark over `hosts` hosts, `reps` measured repetitions of each way. */
export async function benchFanout(
  opts: { hosts?: number; reps?: number; log?: (s: string) => void } = {},
): Promise<FanoutBench> {
  const n = opts.hosts ?? 50;
  const reps = opts.reps ?? 7;
  const log = opts.log ?? (() => undefined);
  const logger = createSilentLogger();
  const secret = randomBytes(32).toString('hex');
  const g = await startGearmandProcess();
  const workers: WorkerProcess[] = [];
  const cWorkers: ChildProcess[] = [];
  const dispatcher = createGearmanDispatcher({ servers: [g.address], secret, logger });
  try {
    const names = Array.from({ length: n }, (_, i) => `fan${i + 1}`);
    // Five at a time, each given two minutes and one more try: fifty Node processes starting on two shared cores
    // (each loading the TypeScript sources) otherwise miss their registration deadline.
    const start = async (host: string) => {
      const once = () =>
        startWorkerProcess({
          host,
          gearman: g.address,
          secret,
          env: { GEAROPS_LOG_LEVEL: 'warn' },
          timeoutMs: 120_000,
        });
      return once().catch(once);
    };
    for (let i = 0; i < n; i += 5) {
      const batch = await Promise.allSettled(names.slice(i, i + 5).map(start));
      // Those that did start are stopped in `finally` even when another of the batch failed.
      for (const b of batch) if (b.status === 'fulfilled') workers.push(b.value);
      const failed = batch.find((b) => b.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      log(`fanout: ${workers.length}/${n} worker processes registered`);
    }
    for (let i = 1; i <= n; i++)
      cWorkers.push(
        spawn('gearman', ['-h', '127.0.0.1', '-p', String(g.port), '-w', '-f', `legacy${i}`, '--', 'uptime'], {
          stdio: 'ignore',
        }),
      );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const st = await adminStatus(g.address);
      const up = st.filter((s) => /^legacy\d+$/.test(s.fn) && s.availableWorkers > 0).length;
      if (up === n) break;
      if (Date.now() > deadline) throw new Error(`only ${up} of ${n} C workers registered`);
      await new Promise((r) => setTimeout(r, 50));
    }

    const policy = loadPolicyFile('policies/demo.yml');
    const router = createCommandRouter({
      commands: [
        createRunCommand({
          dispatcher,
          policy,
          limiter: createHostLimiter({ maxConcurrent: 4 }),
          logger,
          fanout: 64,
        }),
      ],
      policy,
      logger,
    });
    // This process is the bot: its resident size is sampled while a fan-out is under way.
    let peakRss = 0;
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 5);
    let cEmpty = 0;
    const fanout: number[] = [];
    const cParallel: number[] = [];
    const cSequential: number[] = [];
    for (let r = 0; r < reps + 1; r++) {
      sampling = true;
      let t = process.hrtime.bigint();
      const out = await router.dispatch({
        command: 'run',
        text: 'all uptime',
        principal: { userId: 'UBENCH', channelId: 'CBENCH', roles: [] },
        reply: quietReply,
        source: 'console',
        requestId: `fan${r}`,
      });
      const took = ms(t);
      sampling = false;
      const answered = out.jobs?.filter((j) => j.status === 'ok').length ?? 0;
      if (answered !== n) throw new Error(`/run all uptime: ${answered} of ${n} hosts answered (${out.summary})`);
      t = process.hrtime.bigint();
      const answers = await Promise.all(Array.from({ length: n }, (_, i) => cCall(g.port, `legacy${i + 1}`)));
      const par = ms(t);
      // `gearman -w -- cmd` sometimes answers before it read the command's output (empty, exit 0): counted, not hidden.
      cEmpty += answers.filter((a) => !/load average/.test(a)).length;
      t = process.hrtime.bigint();
      for (let i = 1; i <= n; i++) await cCall(g.port, `legacy${i}`);
      const seq = ms(t);
      // The first round warms caches and connections on both sides; it is not counted.
      if (r > 0) {
        fanout.push(took);
        cParallel.push(par);
        cSequential.push(seq);
      }
      log(`fanout round ${r}: gearops ${round(took)} ms, C parallel ${round(par)} ms, C sequential ${round(seq)} ms`);
    }
    clearInterval(sampler);
    const f = median(fanout);
    const c = median(cParallel);
    const s = median(cSequential);
    return {
      fanout_hosts: n,
      fanout_50_ms: round(f),
      fanout_c_parallel_ms: round(c),
      fanout_ratio: round(f / c, 2),
      fanout_c_sequential_ms: round(s),
      fanout_vs_sequential: round(s / f, 2),
      fanout_bot_peak_rss_mb: round(peakRss / 1024 / 1024),
      fanout_worker_rss_mb: round(median(workers.map((w) => rssMb(w.child.pid!)))),
      fanout_c_empty_answers: cEmpty,
    };
  } finally {
    await dispatcher.close();
    for (const c of cWorkers) c.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.stop()));
    await g.stop();
  }
}
