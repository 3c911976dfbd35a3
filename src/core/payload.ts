/**
 * The signed job codec: every Gearman payload between bot and workers.
 *
 * Gearman has no authentication, so jobs, streamed events and results are all
 * versioned JSON envelopes signed with HMAC-SHA256 over a canonical encoding
 * (sorted keys). Jobs carry a timestamp and a nonce so a worker can refuse
 * stale and replayed jobs; events and results name the job they answer so a
 * rogue worker cannot pass off output of its own or of another job.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { ErrorCode, GearopsError, isErrorCode, type ErrorCodeValue } from '../errors.js';

/** The only envelope version this build reads and writes. */
export const PAYLOAD_VERSION = 1;
/** A job older than this (or this far in the future) is refused. */
export const DEFAULT_MAX_AGE_MS = 60_000;
/**
 * No job may be larger than this; larger input is refused before parsing. Events and results are bounded by
 * the frame limit the bot reads with instead (GEAROPS_MAX_FRAME_BYTES), which also bounds max_output_bytes.
 */
export const MAX_ENVELOPE_BYTES = 256 * 1024;

/** Who asked for a job: carried inside the signature so the worker can re-check the policy. */
export interface Requester {
  userId: string;
  channelId: string;
  /**
   * The Slack user-group ids the bot found the user in (among those its policy names). The worker maps them,
   * and the user id, through its own policy's `roles:`.
   */
  groups?: string[];
  /** The roles the bot resolved. Workers ignore them (they resolve roles from their own policy); kept for old workers. */
  roles: string[];
}

/** A job as the worker sees it after verification. */
export interface JobEnvelope<A = unknown> {
  v: 1;
  kind: 'job';
  id: string;
  ts: number;
  host: string;
  capability: string;
  requester: Requester;
  args: A;
  /**
   * 2, 3, … when the bot sends the same job again because the job server
   * went away while it ran (absent on the first send). A worker that already
   * has this job id runs nothing new: it answers with that job's output and result.
   */
  attempt?: number;
}

/** Something a running job reports before it ends (output, steps, progress). */
export type JobEvent =
  | { type: 'output'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'step'; step: string; state: 'start' | 'ok' | 'fail' | 'info'; detail?: string; node?: string }
  | { type: 'status'; numerator: number; denominator: number }
  /**
   * Said by the bot's dispatcher, never by a worker: the job began again from the start on a new worker process
   * (the first one died and the job server handed the job on); what was streamed so far belongs to the lost run.
   */
  | { type: 'rerun' };

/** A streamed event envelope (sent as WORK_DATA). */
export interface EventEnvelope {
  v: 1;
  kind: 'event';
  job: string;
  /** Which execution of the job: a worker picks a new id each time it starts the job (seq counts within it). */
  run?: string;
  seq: number;
  /** The host and capability the job was signed for (a worker moving an event to another job's stream fails). */
  host?: string;
  capability?: string;
  event: JobEvent;
}

/** Serialisable error carried in a result. */
export interface ResultError {
  code: ErrorCodeValue;
  message: string;
  data?: Record<string, unknown>;
}

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

/** The final answer of a job (sent as WORK_COMPLETE). */
export interface ResultEnvelope<V = unknown> {
  v: 1;
  kind: 'result';
  job: string;
  host: string;
  capability: string;
  ok: boolean;
  value: V | null;
  error: ResultError | null;
  durationMs: number;
}

/** Canonical JSON: object keys sorted at every depth, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in payload');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function mac(secret: string, body: unknown): Buffer {
  return createHmac('sha256', secret).update(canonicalJson(body)).digest();
}

function seal(secret: string, body: object): string {
  return canonicalJson({ ...body, sig: mac(secret, body).toString('hex') });
}

function assertSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new GearopsError(ErrorCode.Config, 'job secret must be at least 16 characters', {
      data: { variable: 'GEAROPS_JOB_SECRET' },
    });
  }
}

/** Parses and checks the signature of any envelope; returns the body without `sig`. */
function openEnvelope(
  secret: string,
  raw: Buffer | string,
  what: string,
  maxBytes = MAX_ENVELOPE_BYTES,
): Record<string, unknown> {
  assertSecret(secret);
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes)
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: ${size} bytes is over the ${maxBytes}-byte limit`);
  let parsed: unknown;
  try {
    const text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw);
    parsed = JSON.parse(text);
  } catch {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: not a gearops envelope (not UTF-8 JSON)`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: not a gearops envelope`);
  }
  const { sig, ...body } = parsed as Record<string, unknown>;
  if (typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: unsigned`);
  }
  if (body.v !== PAYLOAD_VERSION) {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: unsupported payload version ${String(body.v)}`);
  }
  let expected: Buffer;
  try {
    expected = mac(secret, body);
  } catch {
    throw new GearopsError(ErrorCode.BadSignature, `${what} refused: malformed envelope`);
  }
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) {
    throw new GearopsError(
      ErrorCode.BadSignature,
      `${what} refused: bad signature (wrong GEAROPS_JOB_SECRET, or forged)`,
    );
  }
  return body;
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

/** Where a NonceCache keeps what it saw across restarts (the worker's state file); none: memory only. */
export interface NonceStore {
  /** Entries saved earlier and not expired yet. */
  load(now: number): Array<{ id: string; expires: number; binding: string }>;
  append(entry: { id: string; expires: number; binding: string }): void;
  /** Replaces everything saved with these entries (the live ones), so the file does not grow for ever. */
  rewrite(entries: Array<{ id: string; expires: number; binding: string }>): void;
}

/**
 * Remembers job nonces long enough to refuse a replay inside the freshness window. Each is bound to the
 * job-server hand-out it came with (`server|instance|handle`, the instance naming one run of gearmand, since a
 * restarted gearmand numbers handles from 1 again): gearmand handing the same job out again — to another
 * connection after one dropped, or to this worker restarted after a crash — has the same handle, and is not
 * a replay; anyone sending a captured job again gets a new handle, and is. With a store, what was seen
 * outlives a restart, so a worker that just came back refuses a replay too.
 */
export class NonceCache {
  private readonly seen = new Map<string, { expires: number; binding: string }>();
  private appended = 0;
  constructor(
    private readonly ttlMs: number = 2 * DEFAULT_MAX_AGE_MS,
    private readonly max = 100_000,
    private readonly store?: NonceStore,
  ) {
    for (const e of store?.load(Date.now()) ?? []) this.seen.set(e.id, { expires: e.expires, binding: e.binding });
  }

  /**
   * Records `id` as handed out by `binding`. 'new' the first time; 'again' for the same hand-out seen before
   * (gearmand re-handing the job); 'replay' for the same id from anywhere else (or with no binding).
   */
  check(id: string, binding = '', now = Date.now()): 'new' | 'again' | 'replay' {
    this.prune(now);
    const prior = this.seen.get(id);
    if (prior) return binding !== '' && prior.binding === binding ? 'again' : 'replay';
    if (this.seen.size >= this.max) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    const entry = { expires: now + this.ttlMs, binding };
    this.seen.set(id, entry);
    if (this.store) {
      this.store.append({ id, ...entry });
      // Now and then the saved record is cut back to the live entries.
      if (++this.appended > Math.max(1000, 2 * this.seen.size)) {
        this.appended = 0;
        this.store.rewrite([...this.seen].map(([i, e]) => ({ id: i, ...e })));
      }
    }
    return 'new';
  }

  /** Records `id`; returns false when it was already seen (whatever its hand-out). */
  remember(id: string, now = Date.now()): boolean {
    return this.check(id, '', now) === 'new';
  }

  private prunedAt = -Infinity;

  /** Drops expired entries: a whole sweep, at most once a second (entries loaded from a store need not be in expiry order). */
  private prune(now: number): void {
    if (now - this.prunedAt < 1000 && this.seen.size < this.max) return;
    this.prunedAt = now;
    for (const [id, e] of this.seen) if (e.expires <= now) this.seen.delete(id);
  }
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
