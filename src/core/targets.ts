/**
 * The target word of `/run`: one host, a list, a glob over live hosts, a
 * bracket range, `@group` or `all`, turned into host names. Pure: the live
 * hosts and the groups are passed in.
 */
import { ErrorCode, GearopsError } from '../errors.js';
import type { HostInfo } from './ports/dispatcher.js';
import { HOST_RE } from './capabilities.js';
import { compareHosts, expandNodeSet, foldNodeSet, MAX_EXPANSION, splitTopLevel } from './nodeset.js';

/** Characters a target word may hold: host-name characters plus `,` `[` `]` `*` `?` `@` (never in the command line). */
export const TARGET_RE = /^[A-Za-z0-9._\-[\],*?@]{1,512}$/;
/** Group names, in the policy file and in `gearops worker --groups`. */
export const GROUP_NAME_RE = /^[a-z][a-z0-9_-]{0,30}$/;
/** Workers advertise group membership as a marker function `group.<name>@<host>`. */
export const GROUP_CAPABILITY_PREFIX = 'group.';

/** True when the word names exactly one host the old way (`db1`): `/run` keeps its single-host behaviour. */
export function isSingleHost(word: string): boolean {
  return HOST_RE.test(word) && word !== 'all';
}

/** The groups a set of live hosts advertise, by name (from their `group.<name>` marker functions). */
export function workerGroups(hosts: HostInfo[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of hosts)
    for (const cap of h.capabilities)
      if (cap.startsWith(GROUP_CAPABILITY_PREFIX)) {
        const name = cap.slice(GROUP_CAPABILITY_PREFIX.length);
        out.set(name, [...(out.get(name) ?? []), h.host]);
      }
  return out;
}

/** What a target word resolved to. */
export interface ResolvedTargets {
  /** Every host the word names, live or not, in natural order. */
  hosts: string[];
  /** The named hosts that no worker serves right now (listed by name, a range or a group definition). */
  notLive: string[];
}

/** Where names come from while resolving. */
export interface TargetContext {
  /** Hosts with a worker registered now. */
  live: string[];
  /** Groups of the policy file: name → node sets (may hold globs and `@other`). They win over workers' claims. */
  policyGroups: Record<string, string[]>;
  /** Groups workers advertise: name → hosts. */
  workerGroups: Map<string, string[]>;
}

const globToRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

/** Resolves a target word (`db[1-3],web*`, `@replicas`, `all`) against the live hosts and the groups. */
export function resolveTargets(word: string, ctx: TargetContext): ResolvedTargets {
  if (!TARGET_RE.test(word))
    throw new GearopsError(
      ErrorCode.Usage,
      `\`${word.slice(0, 64)}\` is not a target: use a host, a list (db1,db2), a glob (db*), a range (db[1-12]), @group or all`,
    );
  const live = new Set(ctx.live);
  const found = new Set<string>();
  const visit = (pattern: string, stack: string[]) => {
    for (const element of splitTopLevel(pattern)) {
      if (element === 'all') {
        ctx.live.forEach((h) => found.add(h));
        continue;
      }
      for (const name of expandNodeSet(element)) {
        if (name.startsWith('@')) {
          visitGroup(name.slice(1), stack);
        } else if (/[*?]/.test(name)) {
          const re = globToRegExp(name);
          ctx.live.filter((h) => re.test(h)).forEach((h) => found.add(h));
        } else if (!HOST_RE.test(name)) {
          throw new GearopsError(
            ErrorCode.Usage,
            `\`${name.slice(0, 64)}\` is not a host name (letters, digits, . _ -)`,
          );
        } else found.add(name);
        if (found.size > MAX_EXPANSION)
          throw new GearopsError(ErrorCode.Usage, `\`${word.slice(0, 64)}\` names more than ${MAX_EXPANSION} hosts`);
      }
    }
  };
  const visitGroup = (name: string, stack: string[]) => {
    if (stack.includes(name))
      throw new GearopsError(ErrorCode.Usage, `group @${name} contains itself (${[...stack, name].join(' → @')})`);
    if (!GROUP_NAME_RE.test(name))
      throw new GearopsError(
        ErrorCode.Usage,
        `@${name.slice(0, 40)} is not a group name (lower-case letters, digits, _ -)`,
      );
    // Own keys only: `@constructor` must not find Object's prototype.
    const defined = Object.hasOwn(ctx.policyGroups, name) ? ctx.policyGroups[name] : undefined;
    if (defined) {
      for (const p of defined) visit(p, [...stack, name]);
      return;
    }
    const members = ctx.workerGroups.get(name);
    if (members) {
      members.forEach((h) => found.add(h));
      return;
    }
    const known = [...new Set([...Object.keys(ctx.policyGroups), ...ctx.workerGroups.keys()])].sort();
    throw new GearopsError(
      ErrorCode.Usage,
      `no group @${name}: groups are ${known.length ? known.map((g) => `@${g}`).join(', ') : 'none defined'}`,
    );
  };
  visit(word, []);
  const hosts = [...found].sort(compareHosts);
  return { hosts, notLive: hosts.filter((h) => !live.has(h)) };
}

/** Every group with its members as they resolve now (for `/run hosts`), policy groups first. */
export function describeGroups(ctx: TargetContext): Array<{ group: string; source: string; members: string }> {
  const rows: Array<{ group: string; source: string; members: string }> = [];
  for (const name of Object.keys(ctx.policyGroups).sort()) {
    let members: string;
    try {
      const r = resolveTargets(`@${name}`, ctx);
      const up = r.hosts.filter((h) => !r.notLive.includes(h));
      members = `${up.length ? foldNodeSet(up) : '(none live)'}${r.notLive.length ? `; not live: ${foldNodeSet(r.notLive)}` : ''}`;
    } catch (err) {
      members = `(${(err as Error).message})`;
    }
    rows.push({ group: `@${name}`, source: 'policy', members });
  }
  for (const [name, hosts] of [...ctx.workerGroups].sort(([a], [b]) => a.localeCompare(b))) {
    // A policy group of the same name wins: a worker cannot add itself to a group the policy defines.
    if (Object.hasOwn(ctx.policyGroups, name)) continue;
    rows.push({ group: `@${name}`, source: 'workers', members: foldNodeSet(hosts) });
  }
  return rows;
}
