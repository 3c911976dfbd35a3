/**
 * The worker daemon: registers `<capability>@<host>` on every job server,
 * verifies every job (signature, freshness, nonce, host, capability) before
 * anything runs, hands it to the capability, and signs what goes back.
 *
 * A job that fails verification runs nothing and is failed with the reason
 * as WORK_WARNING + WORK_FAIL, so even a raw `gearman` client sees why; the
 * worker keeps serving. A capability's own refusal (e.g. the worker's policy
 * denies) is a signed result with ok:false, so the bot can trust the reason.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError, toGearopsError } from '../errors.js';
import { DEFAULT_MAX_AGE_MS, NonceCache, signEvent, signResult, verifyJob, type JobEnvelope } from '../core/payload.js';
import { sealFor } from '../core/sealed.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../gearman/protocol.js';
import { adminGetpid } from '../gearman/admin.js';
import { createNonceFile, createServerInstances } from './nonce-file.js';
import type { Capability } from './capability.js';
import { createGearmanWorker, type GearmanWorker, type WorkerJob } from '../gearman/worker.js';

/** Signed output kept per job for a resend to replay (beyond it, a resend gets the result and later output only). */
const RESEND_BUFFER_BYTES = 4 * 1024 * 1024;

/** A job this worker started: what it sent so far, who listens, and its signed result. */
interface StartedJob {
  events: Buffer[];
  bytes: number;
  listeners: Set<(sealed: Buffer) => void>;
  result: Promise<Buffer>;
  /** When to forget it (set once it ends). */
  expires: number | null;
}
import { RECONNECT_PRESETS, type ReconnectPreset } from '../gearman/connection.js';
import { functionName } from '../gearman/names.js';
import { refusalReason, type Metrics } from '../core/ports/metrics.js';

/** Options of the daemon. */
export interface WorkerDaemonOptions {
  host: string;
  servers: string[];
  secret: string;
  logger: Logger;
  capabilities: Capability[];
  concurrency?: number;
  maxAgeMs?: number;
  reconnect?: ReconnectPreset;
  /** Where the record of jobs taken lives across restarts (`<dir>/seen-jobs`); without it, memory only. */
  stateDir?: string;
  /** The largest frame read or sent (GEAROPS_MAX_FRAME_BYTES): a bigger job is refused, a bigger result replaced. */
  maxFrameBytes?: number;
  /** Counts jobs taken, finished and refused. */
  metrics?: Metrics;
}

/** A running worker daemon. */
export interface WorkerDaemon {
  start(): Promise<void>;
  stop(opts?: { graceMs?: number }): Promise<void>;
  readonly functions: string[];
  readonly gearman: GearmanWorker;
}

/**
 * Creates the daemon (call start()). Over 80 lines as a factory: runJob, seal and the Gearman functions share the nonce cache and the jobs started here; each is short.
 */
export function createWorkerDaemon(opts: WorkerDaemonOptions): WorkerDaemon {
  const log = opts.logger.child({ component: 'worker', host: opts.host });
  const nonces = new NonceCache(
    2 * (opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS),
    100_000,
    opts.stateDir ? createNonceFile(opts.stateDir) : undefined,
  );
  // Jobs started here, by id. When the job server goes away mid-job the bot sends the same job again
  // (a new attempt, signed anew); that resend attaches to the job already running or done here
  // instead of running it a second time.
  const startedJobs = new Map<string, StartedJob>();
  const keepMs = 2 * (opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
  const prune = (now: number) => {
    for (const [id, j] of startedJobs) if (j.expires !== null && j.expires < now) startedJobs.delete(id);
  };
  const instances = createServerInstances({ dir: opts.stateDir, getpid: (server) => adminGetpid(server) });
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  // Room for the packet header and the job handle in the WORK_COMPLETE frame.
  const maxResultBytes = maxFrameBytes - 1024;
  const functions: Record<string, (job: WorkerJob) => Promise<Buffer | string>> = {};
  for (const cap of opts.capabilities) {
    const fn = functionName(cap.name, opts.host);
    functions[fn] = async (job) => {
      let envelope;
      try {
        // Bound to this hand-out by this instance of the job server: gearmand handing the same job out again
        // is not a replay; the same handle from a restarted gearmand (it counts from 1 again) is.
        envelope = verifyJob(opts.secret, job.payload, {
          host: opts.host,
          capability: cap.name,
          nonces,
          binding: `${job.server}|${job.serverInstance}|${job.handle}`,
          maxAgeMs: opts.maxAgeMs,
        });
      } catch (err) {
        const e = toGearopsError(err);
        opts.metrics?.jobRefused(refusalReason(e.code));
        log.warn(
          { event: 'job_refused', fn, handle: job.handle, code: e.code, reason: e.message },
          'job refused; nothing ran',
        );
        throw e;
      }
      prune(Date.now());
      const prior = startedJobs.get(envelope.id);
      if (prior) {
        log.info(
          { event: 'job_resent', fn, handle: job.handle, job: envelope.id, attempt: envelope.attempt },
          'the same job sent again after a job-server loss: answering with the one already started, not running it twice',
        );
        for (const e of prior.events) job.sendData(e);
        prior.listeners.add(job.sendData);
        try {
          return await prior.result;
        } finally {
          prior.listeners.delete(job.sendData);
        }
      }
      const entry: StartedJob = {
        events: [],
        bytes: 0,
        listeners: new Set([job.sendData]),
        result: Promise.resolve(Buffer.alloc(0)),
        expires: null,
      };
      startedJobs.set(envelope.id, entry);
      entry.result = runJob(envelope, job, entry, fn, cap);
      try {
        return await entry.result;
      } finally {
        entry.expires = Date.now() + keepMs;
      }
    };
  }

  async function runJob(
    envelope: JobEnvelope,
    job: WorkerJob,
    entry: StartedJob,
    fn: string,
    cap: Capability,
  ): Promise<Buffer> {
    const started = Date.now();
    opts.metrics?.jobSubmitted(cap.name, opts.host);
    let seq = 0;
    // This execution's id: if this process dies and the job server hands the job to another, the bot can tell the runs apart.
    const run = randomBytes(6).toString('hex');
    const line =
      typeof (envelope.args as { line?: unknown })?.line === 'string'
        ? (envelope.args as { line: string }).line
        : undefined;
    log.info(
      {
        event: 'job_start',
        fn,
        handle: job.handle,
        job: envelope.id,
        user: envelope.requester.userId,
        channel: envelope.requester.channelId,
        line,
      },
      'job started',
    );
    const base = { job: envelope.id, host: opts.host, capability: cap.name };
    const to = { host: opts.host, capability: cap.name };
    try {
      const value = await cap.handler({
        job: envelope,
        args: envelope.args,
        emit: (event) => {
          // Sealed to the bot: a rogue relaying this job sees ciphertext, not the (unredacted) output.
          const sealed = sealFor(opts.secret, envelope.id, signEvent(opts.secret, envelope.id, run, seq++, event, to));
          if (entry.bytes < RESEND_BUFFER_BYTES) {
            entry.events.push(sealed);
            entry.bytes += sealed.length;
          }
          for (const send of entry.listeners) send(sealed);
        },
        signal: job.signal,
        logger: log,
      });
      if (job.signal.aborted)
        throw new GearopsError(ErrorCode.Cancelled, `worker ${opts.host} is shutting down; the job was stopped`);
      log.info({ event: 'job_done', fn, handle: job.handle, job: envelope.id, ms: Date.now() - started }, 'job done');
      opts.metrics?.jobFinished(cap.name, opts.host, 'completed', (Date.now() - started) / 1000);
      const sealed = seal(
        envelope.id,
        { ...base, ok: true, value: value ?? null, error: null, durationMs: 0 },
        started,
      );
      if (sealed.length <= maxResultBytes) return sealed;
      // Bigger than the bot reads: say so, signed, instead of a frame the bot would refuse as a flood.
      const why =
        `the result of ${sealed.length} bytes is over the ${maxFrameBytes}-byte frame limit ` +
        '(GEAROPS_MAX_FRAME_BYTES); lower max_output_bytes in the policy or raise the limit on the bot and workers';
      log.warn({ event: 'result_too_large', fn, job: envelope.id, bytes: sealed.length, maxFrameBytes }, why);
      const error = { code: ErrorCode.JobFailed, message: `${opts.host}: ${why}`, data: { host: opts.host } };
      return seal(envelope.id, { ...base, ok: false, value: null, error, durationMs: 0 }, started);
    } catch (err) {
      const e = job.signal.aborted
        ? new GearopsError(ErrorCode.Cancelled, `worker ${opts.host} is shutting down; the job was stopped`)
        : toGearopsError(err);
      if (e.code === ErrorCode.PolicyDenied) opts.metrics?.jobRefused('policy');
      opts.metrics?.jobFinished(cap.name, opts.host, 'failed', (Date.now() - started) / 1000);
      log.warn(
        { event: 'job_failed', fn, handle: job.handle, job: envelope.id, code: e.code, reason: e.message },
        'job failed',
      );
      const error = { code: e.code, message: e.message, data: e.data };
      return seal(envelope.id, { ...base, ok: false, value: null, error, durationMs: 0 }, started);
    }
  }

  /** Signs and seals a result to the bot (durationMs measured from `started`). */
  function seal(jobId: string, result: Parameters<typeof signResult>[1], started: number): Buffer {
    return sealFor(opts.secret, jobId, signResult(opts.secret, { ...result, durationMs: Date.now() - started }));
  }

  const gearman = createGearmanWorker({
    servers: opts.servers,
    functions,
    clientId: `gearops-${opts.host}-${process.pid}`,
    concurrency: opts.concurrency ?? 4,
    logger: opts.logger,
    preset: opts.reconnect ?? RECONNECT_PRESETS.default,
    maxFrameBytes,
    identifyServer: (server) => instances.identify(server),
  });
  return {
    functions: Object.keys(functions),
    gearman,
    start: () => gearman.start(),
    stop: (o) => gearman.stop(o),
  };
}
