/**
 * Authorization in one place. Every command and button asks `authorize()`: it returns the policy's allowing
 * decision, or throws the coded policy error (`gearops_policy_denied`, with the rule, host and action as data).
 * The router turns that error into the one denial everybody sees — "Denied: <reason>", the rule in the audit
 * row — so no command builds a denial of its own.
 */
import { ErrorCode, GearopsError, isGearopsError, type ErrorData } from '../errors.js';
import type { Principal } from './ports/commands.js';
import type { Decision, Policy, PolicyAction, PolicyPrincipal, RunDecision } from './ports/policy.js';

/** What is asked: a `/run` line on a host, a named action (on a host, or on every host), or a `/replica sql` statement. */
export type AuthorizeRequest =
  { run: string; host: string } | { action: PolicyAction; host?: string } | { sql: string };

/** The policy's view of the person who asked (the roles the router resolved included). */
export function policyPrincipal(p: Principal | PolicyPrincipal): PolicyPrincipal {
  return { userId: p.userId, channelId: p.channelId, groups: p.groups, roles: p.roles };
}

/** The coded error of a denial: its message is the policy's reason, its data the rule, host and action. */
export function policyDenied(d: Decision, where: { host?: string; action?: string } = {}): GearopsError {
  const data: ErrorData = {};
  if (d.rule !== undefined) data.rule = d.rule;
  if (where.host !== undefined) data.host = where.host;
  if (where.action !== undefined) data.action = where.action;
  return new GearopsError(ErrorCode.PolicyDenied, d.reason, { data });
}

/** True when `err` is a policy denial (from `authorize`, or a worker's answer re-thrown). */
export function isPolicyDenied(err: unknown): err is GearopsError {
  return isGearopsError(err, ErrorCode.PolicyDenied);
}

type PolicyChecks = Pick<Policy, 'checkRun' | 'checkAction' | 'checkSql'>;

/**
 * Asks the policy; returns the allowing decision (a run's carries its pipeline, time-out and output cap) or throws
 * the denial (see `policyDenied`).
 */
export function authorize(
  policy: PolicyChecks,
  who: Principal | PolicyPrincipal,
  req: { run: string; host: string },
): RunDecision;
export function authorize(policy: PolicyChecks, who: Principal | PolicyPrincipal, req: AuthorizeRequest): Decision;
export function authorize(policy: PolicyChecks, who: Principal | PolicyPrincipal, req: AuthorizeRequest): Decision {
  const principal = policyPrincipal(who);
  if ('run' in req) {
    const d = policy.checkRun({ host: req.host, principal, line: req.run });
    if (!d.allow) throw policyDenied(d, { host: req.host });
    return d;
  }
  if ('action' in req) {
    const d = policy.checkAction({ action: req.action, host: req.host, principal });
    if (!d.allow) throw policyDenied(d, { host: req.host, action: req.action });
    return d;
  }
  const d = policy.checkSql({ statement: req.sql, principal });
  if (!d.allow) throw policyDenied(d, { action: 'replica.sql' });
  return d;
}

/** `authorize`'s answer as a value, for commands that gather many decisions (a fan-out: one per host). */
export type Authorized<D extends Decision> = { ok: true; decision: D } | { ok: false; denial: GearopsError };

/** Like `authorize`, but a denial is returned (to be gathered and shown with the others), not thrown. */
export function tryAuthorize(
  policy: PolicyChecks,
  who: Principal | PolicyPrincipal,
  req: { run: string; host: string },
): Authorized<RunDecision> {
  try {
    return { ok: true, decision: authorize(policy, who, req) };
  } catch (err) {
    if (isPolicyDenied(err)) return { ok: false, denial: err };
    throw err;
  }
}

/** The rule a denial names, if any. */
export function deniedRule(err: GearopsError): string | undefined {
  return typeof err.data.rule === 'string' ? err.data.rule : undefined;
}
