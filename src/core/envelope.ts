/**
 * The wire shapes of gearops job payloads: versioned JSON envelopes for jobs, streamed events and results, and
 * the limits they are read under. Types and constants only; signing and verification are payload.ts's.
 */
import type { ErrorCodeValue } from '../errors.js';

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
