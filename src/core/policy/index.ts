/**
 * The allow-list policy: deny by default, every decision with a reason.
 * Files are YAML validated by a strict schema; a bad file stops start-up
 * with `file:line: reason`.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { ErrorCode, GearopsError } from '../../errors.js';
import { tokenizeCommandLine } from '../command-line.js';
import { checkReadOnlyStatement } from '../sql-guard.js';
import type { Decision, Policy, PolicyAction, PolicyPrincipal, RunDecision } from '../ports/policy.js';
import { checkGrepStage, compilePattern, describePattern, matchPattern, type PatternToken } from './pattern.js';
import { policySchema, type PolicyFile } from './schema.js';
import { expandNodeSet } from '../nodeset.js';

type Who = PolicyFile['commands'][number]['who'];
type Channels = PolicyFile['commands'][number]['channels'];

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}

function invalid(file: string, line: number, reason: string): GearopsError {
  return new GearopsError(ErrorCode.PolicyInvalid, `${file}:${line}: ${reason}`, { data: { file, line } });
}

/** Parses and validates policy text; `source` names it in messages. */
export function parsePolicy(text: string, source: string): Policy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw invalid(source, lc.linePos(e.pos[0]).line, e.message.split('\n')[0] ?? 'YAML error');
  }
  const lineOf = (path: PropertyKey[]): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as Array<string | number>, true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return 1;
  };
  const parsed = policySchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path as PropertyKey[];
    const extra = issue.code === 'unrecognized_keys' ? ` (${(issue as { keys: string[] }).keys.join(', ')})` : '';
    const where = path.length ? `${path.join('.')}: ` : '';
    const key = issue.code === 'unrecognized_keys' ? [...path, (issue as { keys: string[] }).keys[0] ?? ''] : path;
    let line = lineOf(key);
    if (issue.code === 'unrecognized_keys') {
      const map = doc.getIn(path as Array<string | number>, true) as
        { items?: Array<{ key: { value: unknown; range?: [number, number, number] } }> } | undefined;
      const item = map?.items?.find((it) => it.key?.value === (issue as { keys: string[] }).keys[0]);
      if (item?.key?.range) line = lc.linePos(item.key.range[0]).line;
    }
    throw invalid(
      source,
      line,
      `${where}${issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message}${extra}`,
    );
  }
  const p = parsed.data;
  const seen = new Set<string>();
  const rules: Array<{
    rule: string;
    patterns: Array<{ text: string; tokens: PatternToken[] }>;
    hosts: RegExp[];
    hostText: string[];
    who: Who;
    channels: Channels;
    grep: boolean;
    timeoutMs: number;
    maxOutputBytes: number;
    maxHosts: number;
  }> = [];
  p.commands.forEach((r, i) => {
    if (seen.has(r.rule)) throw invalid(source, lineOf(['commands', i, 'rule']), `rule name ${r.rule} is used twice`);
    seen.add(r.rule);
    const patterns = r.allow.map((text, j) => {
      try {
        return { text, tokens: compilePattern(text) };
      } catch (err) {
        throw invalid(source, lineOf(['commands', i, 'allow', j]), `${(err as Error).message}`);
      }
    });
    rules.push({
      rule: r.rule,
      patterns,
      hosts: r.hosts.map(globToRegExp),
      hostText: r.hosts,
      who: r.who,
      channels: r.channels,
      grep: r.grep,
      timeoutMs: (r.timeout_s ?? p.settings.timeout_s) * 1000,
      maxOutputBytes: r.max_output_bytes ?? p.settings.max_output_bytes,
      maxHosts: r.max_hosts ?? p.settings.max_hosts,
    });
  });
  for (const [i, r] of p.actions.entries()) {
    if (seen.has(r.rule)) throw invalid(source, lineOf(['actions', i, 'rule']), `rule name ${r.rule} is used twice`);
    seen.add(r.rule);
  }
  // A group is checked when the file loads: a bad range there must stop start-up, not fail a command later.
  for (const [name, patterns] of Object.entries(p.groups)) {
    patterns.forEach((pattern, j) => {
      try {
        expandNodeSet(pattern);
      } catch (err) {
        throw invalid(source, lineOf(['groups', name, j]), `groups.${name}: ${(err as Error).message}`);
      }
    });
  }
  const checkRoles = (who: Who, path: PropertyKey[]) => {
    if (who === 'everyone') return;
    who.forEach((w, k) => {
      if (w.startsWith('role:') && !p.roles[w.slice(5)])
        throw invalid(source, lineOf([...path, k]), `role ${w.slice(5)} is not defined under roles`);
    });
  };
  p.commands.forEach((r, i) => checkRoles(r.who, ['commands', i, 'who']));
  p.actions.forEach((r, i) => checkRoles(r.who, ['actions', i, 'who']));
  p.sql.forEach((r, i) => checkRoles(r.who, ['sql', i, 'who']));

  const whoAllows = (who: Who, pr: PolicyPrincipal) =>
    who === 'everyone' || who.some((w) => (w.startsWith('role:') ? pr.roles.includes(w.slice(5)) : w === pr.userId));
  const channelAllows = (c: Channels, pr: PolicyPrincipal) => c === 'any' || c.includes(pr.channelId);
  const describeWho = (who: Who) => (who === 'everyone' ? 'everyone' : who.join(', '));

  const policy: Policy = {
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
    checkRun({ host, principal, line }): RunDecision {
      const deny = (reason: string, rule?: string): RunDecision => ({
        allow: false,
        reason,
        rule,
        timeoutMs: 0,
        maxOutputBytes: 0,
      });
      const t = tokenizeCommandLine(line);
      if (!t.ok) return deny(t.reason);
      const [cmd, grep] = t.stages as [string[], string[] | undefined];
      const program = cmd[0]!;
      if (program.includes('/'))
        return deny(`\`${program}\`: commands are named without a path (the worker runs them from a fixed PATH)`);
      if (grep) {
        const g = checkGrepStage(grep);
        if (g) return deny(g);
      }
      const candidates = rules.filter((r) =>
        r.patterns.some((pt) => pt.tokens[0]?.kind === 'literal' && pt.tokens[0].value === program),
      );
      if (candidates.length === 0) return deny(`\`${program}\` is not in any rule of ${source}`);
      let why = '';
      let whyRule: string | undefined;
      for (const r of candidates) {
        const matched = r.patterns.find((pt) => matchPattern(pt.tokens, cmd) === null);
        if (!matched) {
          if (!why) {
            const shapes = r.patterns.filter(
              (pt) => pt.tokens[0]?.kind === 'literal' && (pt.tokens[0] as { value: string }).value === program,
            );
            const first = shapes[0];
            why = `rule \`${r.rule}\` allows ${shapes.map((s) => `\`${describePattern(s.tokens)}\``).join(', ')}${first ? `: ${matchPattern(first.tokens, cmd)}` : ''}`;
            whyRule = r.rule;
          }
          continue;
        }
        if (!r.hosts.some((h) => h.test(host))) {
          why = `rule \`${r.rule}\` is for hosts ${r.hostText.join(', ')}, not ${host}`;
          whyRule = r.rule;
          continue;
        }
        if (!whoAllows(r.who, principal)) {
          why = `rule \`${r.rule}\` is for ${describeWho(r.who)}`;
          whyRule = r.rule;
          continue;
        }
        if (!channelAllows(r.channels, principal)) {
          why = `rule \`${r.rule}\` is not for channel ${principal.channelId}`;
          whyRule = r.rule;
          continue;
        }
        if (grep && !r.grep) {
          why = `rule \`${r.rule}\` does not allow a \`| grep\` stage`;
          whyRule = r.rule;
          continue;
        }
        return {
          allow: true,
          rule: r.rule,
          reason: `allowed by rule \`${r.rule}\``,
          pipeline: grep ? [cmd, grep] : [cmd],
          paths: matched.tokens.flatMap((t, index) => (t.kind === 'path' ? [{ index, prefix: t.prefix }] : [])),
          timeoutMs: r.timeoutMs,
          maxOutputBytes: r.maxOutputBytes,
          maxHosts: r.maxHosts,
        };
      }
      return deny(why, whyRule);
    },
    checkAction({ action, host, principal }): Decision {
      let why = `no rule of ${source} allows ${action}`;
      let whyRule: string | undefined;
      for (const r of p.actions) {
        if (!r.actions.includes(action as (typeof r.actions)[number])) continue;
        if (host && !r.hosts.some((h) => globToRegExp(h).test(host))) {
          why = `rule \`${r.rule}\` allows ${action} on ${r.hosts.join(', ')}, not ${host}`;
          whyRule = r.rule;
          continue;
        }
        // A host-scoped rule stays host-scoped: asked without a host (all clusters, the pool), only a rule for
        // every host answers; a caller asking about one cluster asks for each of its nodes' hosts.
        if (!host && !r.hosts.includes('*')) {
          why = `rule \`${r.rule}\` allows ${action} only on hosts ${r.hosts.join(', ')}, not on every host`;
          whyRule = r.rule;
          continue;
        }
        if (!whoAllows(r.who, principal)) {
          why = `rule \`${r.rule}\` allows ${action} only for ${describeWho(r.who)}`;
          whyRule = r.rule;
          continue;
        }
        if (!channelAllows(r.channels, principal)) {
          why = `rule \`${r.rule}\` allows ${action} only in ${(r.channels as string[]).join(', ')}`;
          whyRule = r.rule;
          continue;
        }
        return { allow: true, rule: r.rule, reason: `allowed by rule \`${r.rule}\`` };
      }
      return { allow: false, rule: whyRule, reason: why };
    },
    checkSql({ statement, principal }): Decision {
      const checked = checkReadOnlyStatement(statement);
      if (!('verb' in checked)) return { allow: false, rule: checked.rule, reason: checked.reason };
      const verb = checked.verb;
      let why = `no rule of ${source} allows ${verb || 'that'} statements`;
      for (const r of p.sql) {
        if (!r.statements.includes(verb as (typeof r.statements)[number])) continue;
        if (!whoAllows(r.who, principal)) {
          why = `rule \`${r.rule}\` allows ${verb} only for ${describeWho(r.who)}`;
          continue;
        }
        if (!channelAllows(r.channels, principal)) {
          why = `rule \`${r.rule}\` is not for channel ${principal.channelId}`;
          continue;
        }
        return { allow: true, rule: r.rule, reason: `allowed by rule \`${r.rule}\`` };
      }
      return { allow: false, reason: why };
    },
    hostGroups() {
      return Object.fromEntries(Object.entries(p.groups).map(([k, v]) => [k, [...v]]));
    },
    programs() {
      return [
        ...new Set(rules.flatMap((r) => r.patterns.map((pt) => (pt.tokens[0] as { value: string }).value))),
      ].sort();
    },
    describe(principal, opts) {
      const lines: string[] = [];
      for (const r of rules) {
        if (!whoAllows(r.who, principal) || !channelAllows(r.channels, principal)) continue;
        if (opts?.host && !r.hosts.some((h) => h.test(opts.host!))) continue;
        for (const pt of r.patterns)
          lines.push(
            `${describePattern(pt.tokens)}${r.grep ? ' [| grep PATTERN]' : ''}   (rule ${r.rule}, hosts ${r.hostText.join(',')})`,
          );
      }
      const actions = new Set<string>();
      for (const r of p.actions)
        if (whoAllows(r.who, principal) && channelAllows(r.channels, principal))
          r.actions.forEach((a) => actions.add(a));
      if (actions.size) lines.push(`actions: ${[...actions].join(', ')}`);
      const sqlVerbs = new Set<string>();
      for (const r of p.sql) if (whoAllows(r.who, principal)) r.statements.forEach((s) => sqlVerbs.add(s));
      if (sqlVerbs.size) lines.push(`/replica sql: ${[...sqlVerbs].join(', ')}`);
      return lines;
    },
  };
  return policy;
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
