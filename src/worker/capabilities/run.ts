/**
 * The `run` capability: re-checks the worker's own policy for the signed
 * requester and spawns only the pipeline that policy produced — never
 * anything else the bot sent. Its output is redacted before it leaves the host. Read-only diagnostics: safe to run twice when
 * gearmand re-sends a job whose worker disconnected.
 */
import type { Logger } from '../../log.js';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Policy } from '../../core/ports/policy.js';
import { defineCapability, workerPrincipal, type Capability } from '../capability.js';
import { runPipeline } from '../exec.js';
import type { RunArgs, RunValue } from '../../core/capabilities.js';
import { resolvePathArgs } from '../real-path.js';
import { createLineRedactor, redactSecrets } from '../../core/redact.js';

/** What `run` returns (the contract's, src/core/capabilities.ts). */
export type { RunValue };

/** Creates the run capability for `host`. */
export function createRunCapability(deps: {
  host: string;
  policy: Policy;
  logger: Logger;
}): Capability<RunArgs, RunValue> {
  return defineCapability('run', async (ctx) => {
    const line = typeof ctx.args?.line === 'string' ? ctx.args.line : '';
    const d = deps.policy.checkRun({
      host: deps.host,
      principal: workerPrincipal(deps.policy, ctx.job.requester),
      line,
    });
    if (!d.allow || !d.pipeline) {
      throw new GearopsError(ErrorCode.PolicyDenied, `worker ${deps.host} policy: ${d.reason}`, {
        data: { rule: d.rule, host: deps.host },
      });
    }
    // The policy matched paths by their text; on this host, links are resolved first (see real-path.ts).
    const [cmd, ...rest] = d.pipeline as [string[], ...string[][]];
    const real = await resolvePathArgs(cmd, d.paths ?? []);
    if (!real.ok) {
      throw new GearopsError(ErrorCode.PolicyDenied, `worker ${deps.host} policy: rule \`${d.rule}\`: ${real.reason}`, {
        data: { rule: d.rule, host: deps.host },
      });
    }
    // Redacted here, before anything leaves the host: whoever holds the job server's port (a rogue worker
    // relaying the job) sees no more than the channel does. Streamed by whole lines so a cut hides nothing.
    const redactors = { stdout: createLineRedactor(), stderr: createLineRedactor() };
    const send = (stream: 'stdout' | 'stderr', text: string) => {
      if (text) ctx.emit({ type: 'output', stream, text });
    };
    const result = await runPipeline([real.argv, ...rest], {
      timeoutMs: d.timeoutMs,
      maxOutputBytes: d.maxOutputBytes,
      signal: ctx.signal,
      onOutput: (stream, text) => send(stream, redactors[stream].write(text)),
    });
    for (const stream of ['stdout', 'stderr'] as const) send(stream, redactors[stream].end());
    result.output = redactSecrets(result.output);
    if (result.error && result.exitCode === null && !result.timedOut) {
      throw new GearopsError(ErrorCode.JobFailed, `${deps.host}: ${result.error}`, {
        data: { host: deps.host, rule: d.rule },
      });
    }
    return { ...result, rule: d.rule };
  });
}
