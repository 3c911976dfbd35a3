/**
 * What the dispatcher takes from a worker, checked: streamed events verified and followed across sends and
 * reruns (a worker process that died and another that started the job again), the sealed result opened and
 * verified, and unsigned failure text made inert and labelled as what it is.
 */
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../errors.js';
import { verifyEvent, verifyResult, type ResultEnvelope } from '../core/payload.js';
import { openFrom } from '../core/sealed.js';
import type { JobEvent } from '../core/payload.js';

/** The most of an unverified worker text shown, once made inert. */
const UNVERIFIED_CHARS = 300;

/**
 * Text nobody signed, made harmless to show: control characters dropped, `<`, `>`, `&`, `@` and backticks
 * replaced by look-alikes (so no mention, channel ping, link or code span can come out of it), and cut.
 */
export function inertText(text: string, max = UNVERIFIED_CHARS): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/&/g, '＆')
    .replace(/@/g, '＠')
    .replace(/`/g, 'ʼ')
    .trim();
  return flat.length <= max ? flat : `${flat.slice(0, max)}…`;
}

/**
 * A WORK_FAIL or WORK_EXCEPTION carries text nobody signed: any process registered under the function
 * (a rogue that took the job first) can write it. It is never passed off as the job's error: it is labelled
 * as what it is, made inert, and coded gearops_unverified_answer.
 */
export function unverifiedAnswer(err: unknown, host: string, fn: string): unknown {
  const data = isGearopsError(err) ? (err.data as { workerText?: unknown } | undefined) : undefined;
  if (!isGearopsError(err) || typeof data?.workerText !== 'string') return err;
  const text = inertText(data.workerText);
  return new GearopsError(
    ErrorCode.UnverifiedAnswer,
    `unverified answer from a process claiming to be ${host}${text ? `: “${text}”` : ' (no text)'}` +
      ' — it failed the job without a signature; the real worker may not have seen it',
    { cause: err, data: { host, fn } },
  );
}

/** One job as its answers must name it. */
export interface AnsweredJob {
  secret: string;
  fn: string;
  host: string;
  capability: string;
  maxFrameBytes: number;
}

/**
 * Follows one job's streamed events over all its sends. The first event that fails verification, comes out of
 * order (outside a resend's replay) or belongs to a run given up is kept as `forged()`, logged, and not passed on.
 */
export function createEventFollower(job: AnsweredJob, log: Logger, onEvent?: (ev: JobEvent) => void) {
  let forged: GearopsError | null = null;
  let seq = -1;
  // The execution whose events are being followed, and those given up (a dead worker's run never comes back).
  let run: string | null = null;
  const pastRuns = new Set<string>();
  const { secret, fn } = job;
  return {
    forged: () => forged,
    /** Takes one WORK_DATA frame of send `attempt` of job `jobId`. */
    take(b: Buffer, jobId: string, attempt: number): void {
      try {
        const ev = verifyEvent(secret, openFrom(secret, jobId, b), jobId, { maxBytes: job.maxFrameBytes });
        const r = ev.run ?? '';
        if (run === null) run = r;
        else if (r !== run) {
          // The worker running it died and the job server gave the job to another, which starts it again.
          if (pastRuns.has(r)) throw new GearopsError(ErrorCode.BadResult, 'event of an earlier run of this job');
          pastRuns.add(run);
          run = r;
          seq = -1;
          log.warn(
            { event: 'job_rerun', fn, job: jobId },
            'the job started again on another worker process; following the new run',
          );
          onEvent?.({ type: 'rerun' });
        }
        if (ev.seq <= seq) {
          // A resend replays what the worker already sent: drop what arrived before.
          if (attempt > 1) return;
          throw new GearopsError(ErrorCode.BadResult, 'event out of order or repeated');
        }
        seq = ev.seq;
        onEvent?.(ev.event);
      } catch (err) {
        forged ??= new GearopsError(
          ErrorCode.BadResult,
          `output from ${fn} rejected: ${(err as Error).message} — a worker without the shared secret may be registered under this name`,
          { cause: err, data: { host: job.host } },
        );
        log.error({ event: 'unverifiable_event', fn }, forged.message);
      }
    },
  };
}

/** Opens and verifies the WORK_COMPLETE of job `jobId`: sealed to it, signed, and naming this job. */
export function openResult<V>(job: AnsweredJob, jobId: string, data: Buffer): ResultEnvelope<V> {
  let opened: string;
  try {
    opened = openFrom(job.secret, jobId, data);
  } catch (err) {
    throw new GearopsError(
      ErrorCode.BadResult,
      `result from ${job.fn} rejected: ${(err as Error).message} — ` +
        'a worker without the shared secret may be registered under this name',
      { cause: err, data: { host: job.host } },
    );
  }
  return verifyResult<V>(
    job.secret,
    opened,
    { id: jobId, host: job.host, capability: job.capability },
    { maxBytes: job.maxFrameBytes, to: { host: job.host, capability: job.capability } },
  );
}
