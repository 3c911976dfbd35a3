/**
 * `/run` round trip: router → policy → signed job → gearmand → worker
 * process (verify, re-check policy, spawn `hostname`) → signed result →
 * verified → final message. Sequential, so each figure is one user's wait.
 */
import { randomBytes } from 'node:crypto';
import { createSilentLogger, type Logger } from '../src/log.js';
import type { CommandRouter } from '../src/core/ports/commands.js';
import { startGearmandProcess } from '../src/launch/gearmand.js';
import { startWorkerProcess } from '../src/launch/worker.js';
import { createGearmanDispatcher } from '../src/gearman/dispatcher.js';
import { loadPolicyFile } from '../src/core/policy/index.js';
import { createHostLimiter } from '../src/core/host-limiter.js';
import { createCommandRouter } from '../src/core/router.js';
import type { Reply } from '../src/core/ports/chat.js';
import { createRunCommand } from '../commands/run.js';
import { quantile, round } from './stats.js';

/** Figures of the /run latency benchmark. */
export interface RunLatencyBench {
  run_latency_p50_ms: number;
  run_latency_p99_ms: number;
  runs: number;
}

/** A reply that says nothing: the benchmarks measure the work, not a chat. */
export const quietReply: Reply = {
  channel: 'CBENCH',
  ephemeral: async () => undefined,
  post: async () => ({ channel: 'CBENCH', ts: '1.1' }),
  update: async () => undefined,
  upload: async () => undefined,
  confirm: async () => false,
};

/** gearmand, one worker process for server1 and a router serving /run on them (demo policy); stop() ends all. */
export async function startRunRouter(logger: Logger): Promise<{ router: CommandRouter; stop(): Promise<void> }> {
  const secret = randomBytes(32).toString('hex');
  const g = await startGearmandProcess();
  const w = await startWorkerProcess({
    host: 'server1',
    gearman: g.address,
    secret,
    env: { GEAROPS_LOG_LEVEL: 'warn' },
  });
  const policy = loadPolicyFile('policies/demo.yml');
  const dispatcher = createGearmanDispatcher({ servers: [g.address], secret, logger });
  const router = createCommandRouter({
    commands: [createRunCommand({ dispatcher, policy, limiter: createHostLimiter({ maxConcurrent: 4 }), logger })],
    policy,
    logger,
  });
  return {
    router,
    async stop() {
      await dispatcher.close();
      await w.stop();
      await g.stop();
    },
  };
}

/** Runs `runs` sequential `/run server1 hostname` commands and reports p50/p99. */
export async function benchRunLatency(opts: { runs?: number } = {}): Promise<RunLatencyBench> {
  const runs = opts.runs ?? 200;
  const { router, stop } = await startRunRouter(createSilentLogger());
  try {
    const times: number[] = [];
    for (let i = 0; i < runs + 5; i++) {
      const t = process.hrtime.bigint();
      const out = await router.dispatch({
        command: 'run',
        text: 'server1 hostname',
        principal: { userId: 'UBENCH', channelId: 'CBENCH', roles: [] },
        reply: quietReply,
        source: 'console',
        requestId: `b${i}`,
      });
      if (out.status !== 'ok') throw new Error(`/run failed during the benchmark: ${out.summary}`);
      if (i >= 5) times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return {
      run_latency_p50_ms: round(quantile(times, 0.5), 2),
      run_latency_p99_ms: round(quantile(times, 0.99), 2),
      runs,
    };
  } finally {
    await stop();
  }
}
