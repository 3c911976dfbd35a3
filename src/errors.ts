/**
 * One error type for the whole project. Every failure a user can see has a
 * stable string `code` and the data that explains it (host, rule, step…).
 * Adapters translate outside errors (gearman, mysql2, Slack) into these in
 * one place each.
 */

/** Stable error codes. Add new ones here; never rename an existing one. */
export const ErrorCode = {
  Config: 'gearops_config',
  Usage: 'gearops_usage',
  PolicyInvalid: 'gearops_policy_invalid',
  PolicyDenied: 'gearops_policy_denied',
  NoWorker: 'gearops_no_worker',
  JobTimeout: 'gearops_job_timeout',
  JobFailed: 'gearops_job_failed',
  JobRejected: 'gearops_job_rejected',
  BadSignature: 'gearops_bad_signature',
  StaleJob: 'gearops_stale_job',
  ReplayedJob: 'gearops_replayed_job',
  WrongHost: 'gearops_wrong_host',
  BadResult: 'gearops_bad_result',
  /** A worker-side failure whose text nobody signed (WORK_FAIL/WORK_EXCEPTION): shown labelled, never as the error. */
  UnverifiedAnswer: 'gearops_unverified_answer',
  GearmanUnavailable: 'gearops_gearman_unavailable',
  Store: 'gearops_store',
  StoreUnavailable: 'gearops_store_unavailable',
  Sandbox: 'gearops_sandbox',
  Conflict: 'gearops_conflict',
  NotFound: 'gearops_not_found',
  Slack: 'gearops_slack',
  Cancelled: 'gearops_cancelled',
  Internal: 'gearops_internal',
} as const;

/** Union of every stable error code. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `code` is one of the stable codes: a code that came over the wire is checked with this, never cast. */
export function isErrorCode(code: unknown): code is ErrorCodeValue {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

/** Extra, machine-readable facts about a failure (never secrets). */
export interface ErrorData {
  host?: string;
  rule?: string;
  step?: string;
  capability?: string;
  retryAfterMs?: number;
  variable?: string;
  file?: string;
  line?: number;
  [key: string]: unknown;
}

/** Base class of every error gearops raises on purpose. */
export class GearopsError extends Error {
  readonly code: ErrorCodeValue;
  readonly data: ErrorData;

  constructor(code: ErrorCodeValue, message: string, options: { cause?: unknown; data?: ErrorData } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GearopsError';
    this.code = code;
    this.data = options.data ?? {};
  }

  /** A plain object for logs and signed job results. */
  toJSON(): { code: ErrorCodeValue; message: string; data: ErrorData } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

/** True when `err` is a GearopsError (optionally with the given code). */
export function isGearopsError(err: unknown, code?: ErrorCodeValue): err is GearopsError {
  return err instanceof GearopsError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a GearopsError, keeping it as the cause. */
export function toGearopsError(err: unknown, fallback: ErrorCodeValue = ErrorCode.Internal): GearopsError {
  if (err instanceof GearopsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GearopsError(fallback, message, { cause: err });
}
