/**
 * The Dispatcher port over Gearman: signs each job, fails fast when no
 * worker is registered for `<capability>@<host>` (from gearmand's admin
 * `status`) instead of queueing a job nobody will take, verifies every
 * streamed event and the result, and discovers live hosts. A job whose job
 * server goes away under it is sent again once a worker for it is back,
 * within the job's time limit; the worker that already has it answers with
 * that run rather than running it twice.
 *
 * Where workers are is discovery.ts's; checking what they answer is
 * answers.ts's. This module signs, sends and resends.
 */
import type { Logger } from '../log.js';
import { isGearopsError } from '../errors.js';
import { signJob, type JobEnvelope } from '../core/payload.js';
import type { Dispatcher, JobRequest, JobResult } from '../core/ports/dispatcher.js';
import { createGearmanClient } from './client.js';
import { RECONNECT_PRESETS } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from './protocol.js';
import { functionName } from './names.js';
import { createDiscovery, hostsFrom } from './discovery.js';
import { createEventFollower, openResult, unverifiedAnswer } from './answers.js';

/** Unsigned answer text made inert (re-exported: the attack corpus tests it). */
export { inertText } from './answers.js';

/** How many times one job is sent at most when job servers go away under it. */
const MAX_SENDS = 5;

/** Time-outs and caching of the dispatcher. */
export interface DispatchPreset {
  /** How long an admin `status` answer is trusted. */
  discoveryTtlMs: number;
  adminTimeoutMs: number;
  defaultJobTimeoutMs: number;
  reconnect: keyof typeof RECONNECT_PRESETS;
}

/** Named presets: default for the bot, fast for tests. */
export const DISPATCH_PRESETS: Record<'default' | 'fast', DispatchPreset> = {
  default: { discoveryTtlMs: 1000, adminTimeoutMs: 1500, defaultJobTimeoutMs: 60_000, reconnect: 'default' },
  fast: { discoveryTtlMs: 100, adminTimeoutMs: 1000, defaultJobTimeoutMs: 15_000, reconnect: 'fast' },
};

/**
 * Creates the Gearman dispatcher. Over 80 lines as a factory: it closes over one client and one discovery, and
 * holds send() and the port's five methods, each short.
 */
export function createGearmanDispatcher(opts: {
  servers: string[];
  secret: string;
  logger: Logger;
  preset?: keyof typeof DISPATCH_PRESETS | DispatchPreset;
  /** The largest frame read from a job server (GEAROPS_MAX_FRAME_BYTES); results up to it are verified. */
  maxFrameBytes?: number;
  /** Told when a job server connection comes up or goes down (metrics). */
  onConnection?: (server: string, up: boolean) => void;
}): Dispatcher {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const preset = typeof opts.preset === 'object' ? opts.preset : DISPATCH_PRESETS[opts.preset ?? 'default'];
  const log = opts.logger.child({ component: 'dispatcher' });
  const client = createGearmanClient({
    servers: opts.servers,
    logger: opts.logger,
    preset: RECONNECT_PRESETS[preset.reconnect],
    maxFrameBytes,
    onConnection: opts.onConnection,
  });
  const discovery = createDiscovery({
    servers: opts.servers,
    ttlMs: preset.discoveryTtlMs,
    adminTimeoutMs: preset.adminTimeoutMs,
  });
  const { discover, locate } = discovery;

  /**
   * Sends the job, and sends it again (the same job id, the next attempt) when its job server goes away under it:
   * the worker that has it answers with it instead of running it twice, within the request's own time limit.
   */
  async function send(
    req: JobRequest,
    fn: string,
    first: string[],
    deadline: number,
    onData: (b: Buffer, jobId: string, attempt: number) => void,
  ): Promise<{ envelope: JobEnvelope; out: Awaited<ReturnType<typeof client.submit>> }> {
    let where = first;
    let envelope: JobEnvelope | null = null;
    for (let attempt = Math.max(1, req.firstAttempt ?? 1); ; attempt++) {
      const signed: { envelope: JobEnvelope; payload: string } = signJob(opts.secret, {
        host: req.host,
        capability: req.capability,
        requester: req.requester,
        args: req.args,
        id: envelope?.id ?? req.jobId ?? req.id,
        attempt,
      });
      envelope = signed.envelope;
      const jobId = signed.envelope.id;
      try {
        const out = await client.submit(fn, signed.payload, {
          timeoutMs: Math.max(1, deadline - Date.now()),
          signal: req.signal,
          prefer: where,
          unique: `${jobId}#${attempt}`,
          onData: (b) => onData(b, jobId, attempt),
        });
        return { envelope, out };
      } catch (err) {
        const lost =
          isGearopsError(err) && (err.data as { connectionLost?: boolean } | undefined)?.connectionLost === true;
        if (
          !lost ||
          attempt >= (req.firstAttempt ?? 1) + MAX_SENDS - 1 ||
          req.signal?.aborted ||
          Date.now() >= deadline
        )
          throw unverifiedAnswer(err, req.host, fn);
        log.warn(
          { event: 'job_resend', fn, job: jobId, attempt: attempt + 1, err: (err as Error).message },
          'job server lost mid-job; sending the job again once one is back',
        );
        where = await discovery.waitForWorker(fn, deadline, req.signal);
      }
    }
  }

  return {
    async reachable(host, capability) {
      await locate(host, capability);
    },
    async submit<V>(req: JobRequest): Promise<JobResult<V>> {
      const fn = functionName(req.capability, req.host);
      const where = await locate(req.host, req.capability);
      const started = Date.now();
      const deadline = started + (req.timeoutMs ?? preset.defaultJobTimeoutMs);
      const job = { secret: opts.secret, fn, host: req.host, capability: req.capability, maxFrameBytes };
      const events = createEventFollower(job, log, req.onEvent);
      const { envelope, out } = await send(req, fn, where, deadline, events.take);
      const forged = events.forged();
      if (forged) throw forged;
      const result = openResult<V>(job, envelope.id, out.data);
      return {
        host: req.host,
        capability: req.capability,
        handle: out.handle,
        ok: result.ok,
        value: result.value,
        error: result.error,
        durationMs: Date.now() - started,
      };
    },
    async hosts() {
      return hostsFrom(await discover(true));
    },
    async ping() {
      try {
        await discover(true);
        return true;
      } catch (err) {
        if (!isGearopsError(err)) throw err;
        return false;
      }
    },
    async close() {
      await client.close();
    },
  };
}
