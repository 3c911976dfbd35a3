/**
 * The allow-list policy: deny by default, every decision with a reason.
 * Files are YAML validated by a strict schema; a bad file stops start-up
 * with `file:line: reason` (load.ts). Decisions are evaluate.ts's; this
 * module puts the two together behind the Policy port.
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Policy, PolicyAction } from '../ports/policy.js';
import { loadPolicy } from './load.js';
import { checkAction, checkRun, checkSql, describeAllowed } from './evaluate.js';

/** Parses and validates policy text; `source` names it in messages. */
export function parsePolicy(text: string, source: string): Policy {
  const loaded = loadPolicy(text, source);
  const { file: p, rules } = loaded;
  return {
    source,
    settings: {
      autoOffline: p.settings.auto_offline,
      autoFailover: p.settings.auto_failover,
      failoverBlockS: p.settings.failover_block_s,
      failcount: p.settings.failcount,
      switchoverTimeoutS: p.settings.switchover_timeout_s,
    },
    rolesFor(userId, groups = []) {
      return Object.entries(p.roles)
        .filter(([, r]) => r.users.includes(userId) || r.groups.some((g) => groups.includes(g)))
        .map(([name]) => name);
    },
    groupIds() {
      return [...new Set(Object.values(p.roles).flatMap((r) => r.groups))].sort();
    },
    checkRun: (req) => checkRun(loaded, req),
    checkAction: (req) => checkAction(loaded, req),
    checkSql: (req) => checkSql(loaded, req),
    hostGroups() {
      return Object.fromEntries(Object.entries(p.groups).map(([k, v]) => [k, [...v]]));
    },
    programs() {
      return [
        ...new Set(rules.flatMap((r) => r.patterns.map((pt) => (pt.tokens[0] as { value: string }).value))),
      ].sort();
    },
    describe: (principal, opts) => describeAllowed(loaded, principal, opts),
  };
}

/** Reads and validates a policy file. */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GearopsError(
      ErrorCode.PolicyInvalid,
      `cannot read policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} — set GEAROPS_POLICY or --policy to a policy file (see policies/default.yml)`,
      { cause: err, data: { file: path } },
    );
  }
  return parsePolicy(text, path);
}

/** Re-exported for callers that name actions. */
export type { PolicyAction };
