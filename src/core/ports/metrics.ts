/**
 * The metrics port: what the bot and the worker count and time. src/metrics implements it with prom-client;
 * tests and code without metrics get `noopMetrics`. Every label is a fixed word, a capability, a host name
 * that passed the host-name check, a Slack method, a command name, a cluster name or a server address —
 * never a secret, a command line or other text from chat.
 */
import { ErrorCode } from '../../errors.js';

/** How a job ended, for the bot's counters. */
export type JobOutcome = 'completed' | 'failed';

/** Why a worker refused a job before anything ran (or, `policy`, its own policy said no). */
export type RefusalReason = 'bad_signature' | 'stale' | 'replay' | 'wrong_host' | 'policy' | 'other';

/** Outcome of one Slack Web API attempt. */
export type SlackCallOutcome = 'ok' | 'ratelimited' | 'error';

/** The counters, gauges and histograms both processes feed. */
export interface Metrics {
  /** A job was handed to the dispatcher. */
  jobSubmitted(capability: string, host: string): void;
  /** A job ended, with the time from submission to its verified result (or failure). */
  jobFinished(capability: string, host: string, outcome: JobOutcome, seconds: number): void;
  /** A slash command or button was decided: `decision` is the outcome's status (ok, denied, failed, …). */
  command(name: string, decision: string): void;
  /** One Slack Web API attempt (a call retried after a 429 counts each attempt). */
  slackCall(method: string, outcome: SlackCallOutcome): void;
  /** One monitor poll cycle took `seconds`. */
  monitorPoll(seconds: number): void;
  /** A connection to a job server came up or went down (`role`: the bot's client or the worker). */
  gearmanConnection(role: 'client' | 'worker', server: string, up: boolean): void;
  /** The worker refused a job. */
  jobRefused(reason: RefusalReason): void;
}

/** Metrics that record nothing: for tests and for processes run without metrics. */
export const noopMetrics: Metrics = {
  jobSubmitted() {},
  jobFinished() {},
  command() {},
  slackCall() {},
  monitorPoll() {},
  gearmanConnection() {},
  jobRefused() {},
};

/** The refusal reason of a worker-side error code (verification failures and the worker's policy). */
export function refusalReason(code: string): RefusalReason {
  switch (code) {
    case ErrorCode.BadSignature:
      return 'bad_signature';
    case ErrorCode.StaleJob:
      return 'stale';
    case ErrorCode.ReplayedJob:
      return 'replay';
    case ErrorCode.WrongHost:
      return 'wrong_host';
    case ErrorCode.PolicyDenied:
      return 'policy';
    default:
      return 'other';
  }
}
