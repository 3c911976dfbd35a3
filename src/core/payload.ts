/**
 * The signed job codec: every Gearman payload between bot and workers.
 *
 * Gearman has no authentication, so jobs, streamed events and results are all
 * versioned JSON envelopes signed with HMAC-SHA256 over a canonical encoding
 * (sorted keys). Jobs carry a timestamp and a nonce so a worker can refuse
 * stale and replayed jobs; events and results name the job they answer so a
 * rogue worker cannot pass off output of its own or of another job.
 *
 * This module signs and verifies each kind of envelope; the shapes and limits
 * are envelope.ts's, the signature and size checks envelope-seal.ts's, the
 * replay memory nonce-cache.ts's. It re-exports them: import from here.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, GearopsError, isErrorCode } from '../errors.js';
import {
  DEFAULT_MAX_AGE_MS,
  PAYLOAD_VERSION,
  type EventEnvelope,
  type JobEnvelope,
  type JobEvent,
  type Requester,
  type ResultEnvelope,
  type ResultError,
} from './envelope.js';
import { assertSecret, openEnvelope, seal } from './envelope-seal.js';
import type { NonceCache } from './nonce-cache.js';

export * from './envelope.js';
export { canonicalJson } from './envelope-seal.js';
export { NonceCache, type NonceStore } from './nonce-cache.js';

/**
 * A signed result's error as the bot takes it: its code checked against the known codes. A code this bot does not
 * know (a newer worker's) becomes gearops_job_failed, the worker's own code kept in `data.workerCode`.
 */
function resultError(raw: unknown): ResultError | null {
  if (raw === null || raw === undefined) return null;
  const e = (typeof raw === 'object' ? raw : {}) as { code?: unknown; message?: unknown; data?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'the worker gave no reason';
  const data = e.data && typeof e.data === 'object' ? (e.data as Record<string, unknown>) : undefined;
  if (isErrorCode(e.code)) return { code: e.code, message, ...(data ? { data } : {}) };
  const workerCode = typeof e.code === 'string' ? e.code.slice(0, 64) : typeof e.code;
  return { code: ErrorCode.JobFailed, message, data: { ...data, workerCode } };
}

const isStr = (v: unknown, max = 1024): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** Builds and signs a job for `capability@host`. */
export function signJob<A>(
  secret: string,
  job: { host: string; capability: string; requester: Requester; args: A; now?: number; id?: string; attempt?: number },
): { envelope: JobEnvelope<A>; payload: string } {
  assertSecret(secret);
  const envelope: JobEnvelope<A> = {
    v: PAYLOAD_VERSION,
    kind: 'job',
    id: job.id ?? randomUUID(),
    ts: job.now ?? Date.now(),
    host: job.host,
    capability: job.capability,
    requester: job.requester,
    args: job.args,
    ...(job.attempt && job.attempt > 1 ? { attempt: job.attempt } : {}),
  };
  return { envelope, payload: seal(secret, envelope) };
}

/** What the worker expects of a job: the host it serves and the capability the function names. */
export interface VerifyJobOptions {
  host: string;
  capability: string;
  nonces: NonceCache;
  /** The job server's hand-out of this job (`server|instance|handle`): the same hand-out again is not a replay. */
  binding?: string;
  maxAgeMs?: number;
  now?: number;
}

/** Verifies a job received by a worker. Throws a GearopsError naming the reason; runs nothing. */
export function verifyJob(secret: string, raw: Buffer | string, opts: VerifyJobOptions): JobEnvelope {
  const body = openEnvelope(secret, raw, 'job');
  if (
    body.kind !== 'job' ||
    !isStr(body.id, 128) ||
    typeof body.ts !== 'number' ||
    !isStr(body.host, 255) ||
    !isStr(body.capability, 255)
  ) {
    throw new GearopsError(ErrorCode.BadSignature, 'job refused: malformed job envelope');
  }
  const r = body.requester as Record<string, unknown> | undefined;
  if (
    !r ||
    typeof r !== 'object' ||
    !isStr(r.userId, 255) ||
    typeof r.channelId !== 'string' ||
    !Array.isArray(r.roles) ||
    !r.roles.every((x) => typeof x === 'string') ||
    (r.groups !== undefined && (!Array.isArray(r.groups) || !r.groups.every((x) => typeof x === 'string')))
  ) {
    throw new GearopsError(ErrorCode.BadSignature, 'job refused: malformed requester');
  }
  const now = opts.now ?? Date.now();
  const maxAge = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (Math.abs(now - body.ts) > maxAge) {
    throw new GearopsError(
      ErrorCode.StaleJob,
      `job refused: stale (${Math.round((now - body.ts) / 1000)} s old, limit ${maxAge / 1000} s)`,
      { data: { ageMs: now - body.ts } },
    );
  }
  if (body.host !== opts.host) {
    throw new GearopsError(
      ErrorCode.WrongHost,
      `job refused: addressed to ${body.host}, this worker serves ${opts.host}`,
      { data: { host: opts.host } },
    );
  }
  if (body.capability !== opts.capability) {
    throw new GearopsError(
      ErrorCode.BadSignature,
      `job refused: signed for ${body.capability}, received as ${opts.capability}`,
    );
  }
  if (
    body.attempt !== undefined &&
    (!Number.isInteger(body.attempt) || (body.attempt as number) < 2 || (body.attempt as number) > 100)
  ) {
    throw new GearopsError(ErrorCode.BadSignature, 'job refused: malformed attempt number');
  }
  // Each send of a job is its own nonce: a resend (attempt n) is new, a replay of any send is not.
  if (opts.nonces.check(body.attempt ? `${body.id}#${body.attempt}` : body.id, opts.binding, now) === 'replay') {
    throw new GearopsError(ErrorCode.ReplayedJob, 'job refused: replayed (this job id was already received)');
  }
  return body as unknown as JobEnvelope;
}

/** Signs one streamed event of job `jobId`. */
export function signEvent(
  secret: string,
  jobId: string,
  run: string,
  seq: number,
  event: JobEvent,
  to?: { host: string; capability: string },
): string {
  const env: EventEnvelope = { v: PAYLOAD_VERSION, kind: 'event', job: jobId, run, seq, ...to, event };
  return seal(secret, env);
}

/** How large an event or result may be (the frame limit the bot reads with); default MAX_ENVELOPE_BYTES. */
export interface VerifyAnswerOptions {
  maxBytes?: number;
  /** For events: the host and capability the job was for; when given, the event must name them. */
  to?: { host: string; capability: string };
}

/** Verifies a streamed event; it must belong to `jobId`. */
export function verifyEvent(
  secret: string,
  raw: Buffer | string,
  jobId: string,
  opts: VerifyAnswerOptions = {},
): EventEnvelope {
  const body = openEnvelope(secret, raw, 'event', opts.maxBytes);
  if (
    body.kind !== 'event' ||
    body.job !== jobId ||
    typeof body.seq !== 'number' ||
    (body.run !== undefined && typeof body.run !== 'string') ||
    (opts.to !== undefined && (body.host !== opts.to.host || body.capability !== opts.to.capability)) ||
    !body.event ||
    typeof body.event !== 'object'
  ) {
    throw new GearopsError(ErrorCode.BadResult, 'event refused: not an event of this job');
  }
  return body as unknown as EventEnvelope;
}

/** Signs the final result of job `job`. */
export function signResult<V>(secret: string, result: Omit<ResultEnvelope<V>, 'v' | 'kind'>): string {
  return seal(secret, { v: PAYLOAD_VERSION, kind: 'result', ...result });
}

/** Verifies a result received by the bot: signature, job id, host and capability must all match. */
export function verifyResult<V = unknown>(
  secret: string,
  raw: Buffer | string,
  job: { id: string; host: string; capability: string },
  opts: VerifyAnswerOptions = {},
): ResultEnvelope<V> {
  let body: Record<string, unknown>;
  try {
    body = openEnvelope(secret, raw, 'result', opts.maxBytes);
  } catch (err) {
    throw new GearopsError(
      ErrorCode.BadResult,
      `result from ${job.capability}@${job.host} rejected: ${(err as Error).message.replace(/^result refused: /, '')} — a worker without the shared secret may be registered under this name`,
      { cause: err, data: { host: job.host } },
    );
  }
  if (
    body.kind !== 'result' ||
    body.job !== job.id ||
    body.host !== job.host ||
    body.capability !== job.capability ||
    typeof body.ok !== 'boolean'
  ) {
    throw new GearopsError(
      ErrorCode.BadResult,
      `result from ${job.capability}@${job.host} rejected: it answers a different job`,
      { data: { host: job.host } },
    );
  }
  return { ...(body as unknown as ResultEnvelope<V>), error: resultError(body.error) };
}
