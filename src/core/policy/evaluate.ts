/**
 * Evaluating a loaded policy: deny by default, every decision with a reason and, where one rule came closest,
 * that rule's name. Pure functions over what load.ts compiled.
 */
import { tokenizeCommandLine } from '../command-line.js';
import { checkReadOnlyStatement } from '../sql-guard.js';
import type { Decision, PolicyPrincipal, RunDecision } from '../ports/policy.js';
import { checkGrepStage, describePattern, matchPattern } from './pattern.js';
import { globToRegExp, type Channels, type LoadedPolicy, type Who } from './load.js';

const whoAllows = (who: Who, pr: PolicyPrincipal) =>
  who === 'everyone' || who.some((w) => (w.startsWith('role:') ? pr.roles.includes(w.slice(5)) : w === pr.userId));
const channelAllows = (c: Channels, pr: PolicyPrincipal) => c === 'any' || c.includes(pr.channelId);
const describeWho = (who: Who) => (who === 'everyone' ? 'everyone' : who.join(', '));

/** May `principal` run `line` on `host`? The first rule that allows it answers; else the closest rule says why. */
export function checkRun(
  { source, rules }: LoadedPolicy,
  { host, principal, line }: { host: string; principal: PolicyPrincipal; line: string },
): RunDecision {
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
}

/** May `principal` take `action` (on `host`, or on every host when none is named)? */
export function checkAction(
  { source, file: p }: LoadedPolicy,
  { action, host, principal }: { action: string; host?: string; principal: PolicyPrincipal },
): Decision {
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
}

/** May `principal` run this read-only statement? The SQL guard refuses anything else first. */
export function checkSql(
  { source, file: p }: LoadedPolicy,
  { statement, principal }: { statement: string; principal: PolicyPrincipal },
): Decision {
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
}

/** What `principal` may run (on `opts.host`), one line a pattern, then their actions and SQL statements. */
export function describeAllowed(
  { file: p, rules }: LoadedPolicy,
  principal: PolicyPrincipal,
  opts?: { host?: string },
): string[] {
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
    if (whoAllows(r.who, principal) && channelAllows(r.channels, principal)) r.actions.forEach((a) => actions.add(a));
  if (actions.size) lines.push(`actions: ${[...actions].join(', ')}`);
  const sqlVerbs = new Set<string>();
  for (const r of p.sql) if (whoAllows(r.who, principal)) r.statements.forEach((s) => sqlVerbs.add(s));
  if (sqlVerbs.size) lines.push(`/replica sql: ${[...sqlVerbs].join(', ')}`);
  return lines;
}
