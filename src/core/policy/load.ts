/**
 * Loading a policy: YAML parsed with line numbers, validated by the strict schema, then checked across the file
 * (rule names used once, groups that expand, roles that exist) and compiled into rules ready to evaluate. A bad
 * file stops start-up with `file:line: reason`.
 */
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { ErrorCode, GearopsError } from '../../errors.js';
import { compilePattern, type PatternToken } from './pattern.js';
import { policySchema, type PolicyFile } from './schema.js';
import { expandNodeSet } from '../nodeset.js';

/** Who a rule is for, as the file says it. */
export type Who = PolicyFile['commands'][number]['who'];
/** Which channels a rule is for, as the file says it. */
export type Channels = PolicyFile['commands'][number]['channels'];

/** A `commands:` rule compiled: its patterns tokenized, its host globs as expressions, its limits resolved. */
export interface RunRule {
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
}

/** A loaded policy: the file as validated, and its run rules compiled. */
export interface LoadedPolicy {
  source: string;
  file: PolicyFile;
  rules: RunRule[];
}

/** A host glob (`db*`, `web?`) as an anchored expression. */
export function globToRegExp(glob: string): RegExp {
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

/** The line of the deepest node of `path` that the document has (1 when none). */
function lineFinder(doc: Document, lc: LineCounter) {
  return (path: PropertyKey[]): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as Array<string | number>, true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return 1;
  };
}

/** Parses and validates policy text; `source` names it in messages. Throws PolicyInvalid with `file:line`. */
export function loadPolicy(text: string, source: string): LoadedPolicy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw invalid(source, lc.linePos(e.pos[0]).line, e.message.split('\n')[0] ?? 'YAML error');
  }
  const lineOf = lineFinder(doc, lc);
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
  const rules = compileRules(p, source, lineOf);
  checkAcrossFile(p, source, lineOf, new Set(rules.map((r) => r.rule)));
  return { source, file: p, rules };
}

/** The `commands:` rules compiled; a rule name used twice or a pattern that does not compile stops the load. */
function compileRules(p: PolicyFile, source: string, lineOf: (path: PropertyKey[]) => number): RunRule[] {
  const seen = new Set<string>();
  const rules: RunRule[] = [];
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
  return rules;
}

/** Action rule names unique among all rules, groups that expand, and every `role:` defined under roles. */
function checkAcrossFile(p: PolicyFile, source: string, lineOf: (path: PropertyKey[]) => number, seen: Set<string>) {
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
}
