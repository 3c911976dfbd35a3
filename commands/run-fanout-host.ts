/**
 * One host of a `/run` fan-out: its job, start to end, as an answer to gather (a host that fails, is denied or
 * has no worker is an answer, not an error), with the outcome its audit row gets.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, isGearopsError, type GearopsError } from '../src/errors.js';
import { deniedRule } from '../src/core/authorize.js';
import { stripAnsi } from '../src/core/message.js';
import { redactSecrets } from '../src/core/redact.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher } from '../src/core/ports/dispatcher.js';
import type { RunDecision } from '../src/core/ports/policy.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import type { HostAnswer } from '../src/core/gather.js';
import { formatDuration, requesterOf } from './shared.js';

/** What one host's job needs. */
export interface FanoutHostDeps {
  dispatcher: Dispatcher;
  limiter: HostLimiter;
  logger: Logger;
  extraTimeoutMs: number;
}

/** One host's end, for gathering and for its audit row. */
export interface HostResult extends HostAnswer {
  outcome: CommandOutcome;
}

/** A denial's reason with the host's own name taken out, so hosts denied alike gather into one block. */
function sameForEveryHost(reason: string, host: string): string {
  const escaped = host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return reason.replace(new RegExp(`(?<![A-Za-z0-9._-])${escaped}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`, 'g'), 'this host');
}

/** A host the bot's policy denied: nothing was sent to it. */
export function deniedHost(host: string, denial: GearopsError): HostResult {
  return {
    host,
    failed: true,
    status: `denied: ${sameForEveryHost(denial.message, host)}`,
    output: '',
    outcome: { status: 'denied', host, rule: deniedRule(denial), summary: denial.message },
  };
}

/** A host named by the targets with no worker registered for it. */
export function noWorker(host: string, d: RunDecision): HostResult {
  return {
    host,
    failed: true,
    status: 'no worker: not registered on the job servers',
    output: '',
    outcome: { status: 'failed', host, rule: d.rule, summary: `no worker for run@${host}` },
  };
}

/** One host's job, start to end; never throws (a host that fails is an answer, not an error). */
export async function runFanoutHost(
  deps: FanoutHostDeps,
  inv: CommandInvocation,
  host: string,
  line: string,
  d: RunDecision,
): Promise<HostResult> {
  const fail = (status: string, summary: string, extra: Partial<CommandOutcome> = {}): HostResult => ({
    host,
    failed: true,
    status,
    output: '',
    outcome: { status: 'failed', host, rule: d.rule, summary, ...extra },
  });
  try {
    const result = await deps.limiter.schedule(host, () =>
      deps.dispatcher.submit({
        capability: 'run',
        host,
        args: { line },
        requester: requesterOf(inv.principal),
        timeoutMs: d.timeoutMs + deps.extraTimeoutMs,
        signal: inv.signal,
      }),
    );
    if (!result.ok || !result.value) {
      const reason = result.error?.message ?? 'the worker returned no result';
      if (result.error?.code === ErrorCode.PolicyDenied) {
        const rule = typeof result.error.data?.rule === 'string' ? result.error.data.rule : d.rule;
        return {
          host,
          failed: true,
          status: `denied by the worker: ${sameForEveryHost(reason, host)}`,
          output: '',
          outcome: { status: 'denied', host, rule, jobHandle: result.handle, summary: reason },
        };
      }
      return fail(`failed: ${reason}`, reason, { jobHandle: result.handle });
    }
    const v = result.value;
    const grepStage = (d.pipeline?.length ?? 1) > 1;
    const ok = !v.timedOut && v.signal === null && (v.exitCode === 0 || (v.exitCode === 1 && grepStage));
    const how = v.timedOut
      ? `killed after its time limit (${formatDuration(d.timeoutMs)})`
      : v.signal
        ? `killed by ${v.signal}`
        : `exit ${v.exitCode}`;
    const status = v.truncated ? `${how} · output cut at ${v.outputBytes} bytes` : how;
    return {
      host,
      failed: !ok,
      status,
      // Credentials in the output never reach the channel, gathered or not.
      output: redactSecrets(stripAnsi(v.output)),
      outcome: {
        status: ok ? 'ok' : 'failed',
        host,
        jobHandle: result.handle,
        exitCode: v.exitCode,
        durationMs: v.durationMs,
        outputBytes: v.outputBytes,
        rule: v.rule ?? d.rule,
        summary: `${how} · ${formatDuration(v.durationMs)}`,
      },
    };
  } catch (err) {
    const message = isGearopsError(err) ? err.message : (err as Error).message;
    if (isGearopsError(err) && err.code === ErrorCode.NoWorker) return { ...noWorker(host, d) };
    if (isGearopsError(err) && err.code === ErrorCode.JobTimeout)
      return fail(`timed out: no answer within ${formatDuration(d.timeoutMs + deps.extraTimeoutMs)}`, message);
    deps.logger.warn({ event: 'fanout_host_failed', host, err: message }, 'a host of a fan-out failed');
    return fail(`failed: ${sameForEveryHost(message, host)}`, message);
  }
}
