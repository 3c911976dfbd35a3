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
import { createNonceFile } from './nonce-file.js';
import type { Capability } from './capability.js';
import { createGearmanWorker, type GearmanWorker, type WorkerJob } from '../gearman/worker.js';

/** Signed output kept per job for a resend to replay (beyond it, a resend gets the result and later output only). */
const RESEND_BUFFER_BYTES = 4 * 1024 * 1024;

/** A job this worker started: what it sent so far, who listens, and its signed result. */
interface StartedJob {
  events: string[];
  bytes: number;
  listeners: Set<(signed: string) => void>;
  result: Promise<string>;
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

/** Creates the daemon (call start()). */
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
  const functions: Record<string, (job: WorkerJob) => Promise<Buffer | string>> = {};
  for (const cap of opts.capabilities) {
    const fn = functionName(cap.name, opts.host);
    functions[fn] = async (job) => {
      let envelope;
      try {
        // Bound to this hand-out by the job server: gearmand handing the same job out again is not a replay.
        envelope = verifyJob(opts.secret, job.payload, {
          host: opts.host,
          capability: cap.name,
          nonces,
          binding: `${job.server}|${job.handle}`,
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
        result: Promise.resolve(''),
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
  ): Promise<string> {
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
    try {
      const value = await cap.handler({
        job: envelope,
        args: envelope.args,
        emit: (event) => {
          const signed = signEvent(opts.secret, envelope.id, run, seq++, event);
          if (entry.bytes < RESEND_BUFFER_BYTES) {
            entry.events.push(signed);
            entry.bytes += signed.length;
          }
          for (const send of entry.listeners) send(signed);
        },
        signal: job.signal,
        logger: log,
      });
      if (job.signal.aborted)
        throw new GearopsError(ErrorCode.Cancelled, `worker ${opts.host} is shutting down; the job was stopped`);
      log.info({ event: 'job_done', fn, handle: job.handle, job: envelope.id, ms: Date.now() - started }, 'job done');
      opts.metrics?.jobFinished(cap.name, opts.host, 'completed', (Date.now() - started) / 1000);
      return signResult(opts.secret, {
        ...base,
        ok: true,
        value: value ?? null,
        error: null,
        durationMs: Date.now() - started,
      });
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
      return signResult(opts.secret, {
        ...base,
        ok: false,
        value: null,
        error: { code: e.code, message: e.message, data: e.data },
        durationMs: Date.now() - started,
      });
    }
  }

  const gearman = createGearmanWorker({
    servers: opts.servers,
    functions,
    clientId: `gearops-${opts.host}-${process.pid}`,
    concurrency: opts.concurrency ?? 4,
    logger: opts.logger,
    preset: opts.reconnect ?? RECONNECT_PRESETS.default,
  });
  return {
    functions: Object.keys(functions),
    gearman,
    start: () => gearman.start(),
    stop: (o) => gearman.stop(o),
  };
}
