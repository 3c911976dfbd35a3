/** The port through which commands run jobs on hosts; src/gearman implements it. */
import type { JobEvent, Requester, ResultError } from '../payload.js';
import type { ArgsOf, CapabilityName, ValueOf } from '../capabilities.js';

export type { JobEvent, Requester, ResultError };

/** One job for `capability@host`, its args typed by the capability contract (src/core/capabilities.ts). */
export interface JobRequest<N extends CapabilityName = CapabilityName> {
  capability: N;
  host: string;
  /** The capability's JSON-serialisable arguments (signed with the job). */
  args: ArgsOf<N>;
  requester: Requester;
  /** Client-side limit for the whole job; the default comes from the dispatcher's preset. */
  timeoutMs?: number;
  /** Verified events streamed by the worker while the job runs. */
  onEvent?: (event: JobEvent) => void;
  signal?: AbortSignal;
  /** The job's id, when the caller needs it beforehand (to seal secrets for this job); a fresh one otherwise. */
  id?: string;
  /**
   * The job's id, when the caller journals it before submitting; with `firstAttempt` > 1 the job is a re-send of
   * that id (a restarted bot following a command): the worker that ran it answers with that run's output.
   */
  jobId?: string;
  firstAttempt?: number;
}

/** The verified final answer of a job. `ok: false` is a worker-side refusal or failure with its reason. */
export interface JobResult<V = unknown> {
  host: string;
  capability: string;
  handle: string;
  ok: boolean;
  value: V | null;
  error: ResultError | null;
  durationMs: number;
}

/** A live host, discovered from the job servers' admin protocol. */
export interface HostInfo {
  host: string;
  /** Capabilities with at least one worker registered, e.g. ['run', 'sandbox.install']. */
  capabilities: string[];
  /** Job servers on which the host has a worker. */
  servers: string[];
}

/** Runs jobs on named hosts. */
export interface Dispatcher {
  /**
   * Submits a signed job and resolves with its verified result. Rejects with
   * GearopsError: gearops_no_worker (fast, before queueing), gearops_job_timeout,
   * gearops_bad_result (unverifiable answer), gearops_gearman_unavailable,
   * gearops_job_failed (the worker died or failed the job without a result).
   */
  submit<N extends CapabilityName>(req: JobRequest<N>): Promise<JobResult<ValueOf<N>>>;
  /**
   * Resolves when a job server has a worker for `capability` on `host`; rejects as submit would
   * (gearops_no_worker naming the live hosts). Lets a command answer "no such host" before it posts anything.
   */
  reachable(host: string, capability: string): Promise<void>;
  /** Live hosts and their capabilities. */
  hosts(): Promise<HostInfo[]>;
  /** True when at least one job server answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
