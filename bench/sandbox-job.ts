/**
 * The benchmarks play the bot towards sandbox capabilities called in-process: a verified job's context whose args
 * carry the (loopback-only) demo accounts, sealed with BENCH_JOB_SECRET as the bot seals a cluster's passwords.
 */
import { createSilentLogger } from '../src/log.js';
import { seal } from '../src/core/sealed.js';
import { DEMO_CREDENTIALS } from '../src/core/ports/credentials.js';

/** The job secret the benchmark's sandbox capabilities are created with. */
export const BENCH_JOB_SECRET = 'bench-job-secret-0123456789';

const withSecrets = (args: unknown) => ({
  ...(args as object),
  secrets: seal(BENCH_JOB_SECRET, 'bench', JSON.stringify(DEMO_CREDENTIALS)),
});

/** A capability context for `raw` args, as the worker daemon hands it over after verifying the job. */
export function sandboxJob(raw: unknown) {
  return {
    job: {
      v: 1 as const,
      kind: 'job' as const,
      id: 'bench',
      ts: Date.now(),
      host: 'h',
      capability: 'x',
      requester: { userId: 'U', channelId: 'C', roles: [] },
      args: withSecrets(raw),
    },
    args: withSecrets(raw),
    emit: () => undefined,
    signal: new AbortController().signal,
    logger: createSilentLogger(),
  };
}
