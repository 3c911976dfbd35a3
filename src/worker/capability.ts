/** What a worker can do: each capability is registered as `<name>@<host>` on every job server. */
import type { Logger } from '../log.js';
import type { JobEnvelope, JobEvent, Requester } from '../core/payload.js';
import type { Policy, PolicyAction, PolicyPrincipal } from '../core/ports/policy.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { parseArgs, type ArgsOf, type CapabilityName, type ValueOf } from '../core/capabilities.js';

/** Everything a capability handler gets for one verified job. */
export interface CapabilityContext<A = unknown> {
  /** The verified job (requester, id, timestamp). */
  job: JobEnvelope<A>;
  args: A;
  /** Streams a signed event back to the bot (WORK_DATA). */
  emit(event: JobEvent): void;
  /** Aborted on worker shutdown or when the job's time is up. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * One capability. The handler's resolved value becomes the signed result's
 * `value`; a thrown GearopsError becomes `ok: false` with its code and message.
 * gearmand re-sends a foreground job whose worker disconnected mid-job, so a
 * handler must be safe to run twice or guard against it (say how in its doc).
 */
export interface Capability<A = unknown, V = unknown> {
  name: string;
  handler(ctx: CapabilityContext<A>): Promise<V>;
}

/**
 * A capability of the contract (src/core/capabilities.ts): its handler is typed by the contract's args and value,
 * and gets its args only once they fit the capability's schema (a usage error naming what is wrong otherwise).
 */
export function defineCapability<N extends CapabilityName>(
  name: N,
  handler: (ctx: CapabilityContext<ArgsOf<N>>) => Promise<ValueOf<N>>,
): Capability<ArgsOf<N>, ValueOf<N>> {
  return {
    name,
    async handler(ctx) {
      return handler({ ...ctx, args: parseArgs(name, ctx.args) });
    },
  };
}

/**
 * The requester as this worker's policy sees them: roles come from its own `roles:` (by user id, and by the user-group
 * ids the bot signed), never from the roles the bot signed — a host's owner decides who is a dba on their host.
 */
export function workerPrincipal(policy: Policy, r: Requester): PolicyPrincipal {
  const groups = r.groups ?? [];
  return { userId: r.userId, channelId: r.channelId, groups, roles: policy.rolesFor(r.userId, groups) };
}

/**
 * Wraps a capability so that the worker's own policy must allow, for the signed requester on this
 * host, at least one of the actions `actionsFor(args)` names — the worker's second look at what the
 * bot already allowed (as `run` re-checks its command line). A denial runs nothing.
 */
export function requireAction<A, V>(
  cap: Capability<A, V>,
  deps: { host: string; policy: Policy },
  actionsFor: (args: A) => PolicyAction[],
): Capability<A, V> {
  return {
    name: cap.name,
    async handler(ctx) {
      const principal = workerPrincipal(deps.policy, ctx.job.requester);
      let denial: { reason: string; rule?: string } | undefined;
      for (const action of actionsFor(ctx.args ?? ({} as A))) {
        const d = deps.policy.checkAction({ action, host: deps.host, principal });
        if (d.allow) return cap.handler(ctx);
        denial ??= d;
      }
      throw new GearopsError(
        ErrorCode.PolicyDenied,
        `worker ${deps.host} policy: ${denial?.reason ?? `nothing allows ${cap.name}`}`,
        { data: { host: deps.host, ...(denial?.rule ? { rule: denial.rule } : {}) } },
      );
    },
  };
}

/**
 * The policy actions each sandbox capability needs on the worker: check is read-only (an install's
 * first step, or /replica diagnose); remove is /replica remove's, or, marked `undo: 'install'`, the
 * clean-up of an install that failed (whoever may install may take back what their install made); cancel
 * stops the other nodes of an install that failed, or what is left of an interrupted install being removed.
 */
export const SANDBOX_ACTIONS: Record<string, (args: { undo?: unknown }) => PolicyAction[]> = {
  'sandbox.check': () => ['replica.diagnose', 'replica.install'],
  'sandbox.install': () => ['replica.install'],
  'sandbox.remove': (a) => (a.undo === 'install' ? ['replica.install'] : ['replica.remove']),
  'sandbox.cancel': () => ['replica.install', 'replica.remove'],
};
