/**
 * The `run` capability: re-checks the worker's own policy for the signed
 * requester and spawns only the pipeline that policy produced — never
 * anything else the bot sent. Read-only diagnostics: safe to run twice when
 * gearmand re-sends a job whose worker disconnected.
 */
import type { Logger } from '../../log.js';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Policy } from '../../core/ports/policy.js';
import type { Capability } from '../capability.js';
import { runPipeline, type ExecResult } from '../exec.js';

/** What `run` returns. */
export interface RunValue extends ExecResult {
  rule?: string;
}

/** Creates the run capability for `host`. */
export function createRunCapability(deps: {
  host: string;
  policy: Policy;
  logger: Logger;
}): Capability<{ line: string }, RunValue> {
  return {
    name: 'run',
    async handler(ctx) {
      const line = typeof ctx.args?.line === 'string' ? ctx.args.line : '';
      const r = ctx.job.requester;
      const d = deps.policy.checkRun({
        host: deps.host,
        principal: { userId: r.userId, channelId: r.channelId, roles: r.roles },
        line,
      });
      if (!d.allow || !d.pipeline) {
        throw new GearopsError(ErrorCode.PolicyDenied, `worker ${deps.host} policy: ${d.reason}`, {
          data: { rule: d.rule, host: deps.host },
        });
      }
      const result = await runPipeline(d.pipeline, {
        timeoutMs: d.timeoutMs,
        maxOutputBytes: d.maxOutputBytes,
        signal: ctx.signal,
        onOutput: (stream, text) => ctx.emit({ type: 'output', stream, text }),
      });
      if (result.error && result.exitCode === null && !result.timedOut) {
        throw new GearopsError(ErrorCode.JobFailed, `${deps.host}: ${result.error}`, {
          data: { host: deps.host, rule: d.rule },
        });
      }
      return { ...result, rule: d.rule };
    },
  };
}
