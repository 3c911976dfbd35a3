/**
 * A policy that can be read again from its file while the process runs
 * (SIGHUP in the bot and the worker). Everything holding it sees the new
 * rules at its next decision; a file that does not load changes nothing.
 */
import type { Policy } from '../ports/policy.js';
import { loadPolicyFile } from './index.js';

/** What a reload did. */
export interface PolicyReload {
  /** The file that was read. */
  source: string;
  /** Whether the user-group ids the roles name changed (the Slack side looks up a different set). */
  groupsChanged: boolean;
}

/** A policy that delegates to whatever its file last loaded as. */
export interface ReloadablePolicy {
  /** Hand this to everything that decides: it always answers with the current rules. */
  readonly policy: Policy;
  /** Reads the file again; throws (and keeps the current rules) when it does not load. */
  reload(): PolicyReload;
}

/** Loads `path` now (throwing on a bad file, as at start-up) and returns the reloadable handle. */
export function createReloadablePolicy(
  path: string,
  load: (path: string) => Policy = loadPolicyFile,
): ReloadablePolicy {
  let current = load(path);
  const policy: Policy = {
    get source() {
      return current.source;
    },
    get settings() {
      return current.settings;
    },
    rolesFor: (userId, groups) => current.rolesFor(userId, groups),
    groupIds: () => current.groupIds(),
    checkRun: (req) => current.checkRun(req),
    checkAction: (req) => current.checkAction(req),
    checkSql: (req) => current.checkSql(req),
    programs: () => current.programs(),
    hostGroups: () => current.hostGroups?.() ?? {},
    describe: (principal, opts) => current.describe(principal, opts),
  };
  return {
    policy,
    reload() {
      const next = load(path);
      const groupsChanged = next.groupIds().join(',') !== current.groupIds().join(',');
      current = next;
      return { source: next.source, groupsChanged };
    },
  };
}
