/**
 * Argument shapes of command rules: `tail -n <int:1..1000> <path:/var/log/mysql/>`.
 * A literal token must match exactly; a placeholder matches one word.
 */
import { posix } from 'node:path';

/** One compiled token of a pattern. */
export type PatternToken =
  | { kind: 'literal'; value: string }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'path'; prefix: string }
  | { kind: 'word' };

/** Compiles a pattern string; throws with a reason on a malformed placeholder. */
export function compilePattern(text: string): PatternToken[] {
  const tokens = text.trim().split(/\s+/);
  return tokens.map((t, i): PatternToken => {
    if (!t.startsWith('<')) {
      if (!/^[A-Za-z0-9._\-/:=,+@%]+$/.test(t)) throw new Error(`\`${t}\` is not a plain word`);
      if (i === 0 && t.includes('/'))
        throw new Error('a command is named without a path (the worker resolves it on a fixed PATH)');
      return { kind: 'literal', value: t };
    }
    if (i === 0) throw new Error('the command itself must be a literal name');
    let m = /^<int:(\d+)\.\.(\d+)>$/.exec(t);
    if (m) {
      const min = Number(m[1]);
      const max = Number(m[2]);
      if (min > max) throw new Error(`${t}: the range is empty`);
      return { kind: 'int', min, max };
    }
    m = /^<path:(\/[A-Za-z0-9._\-/]*\/)>$/.exec(t);
    if (m?.[1]) {
      if (m[1].split('/').includes('..')) throw new Error(`${t}: the prefix may not contain ..`);
      return { kind: 'path', prefix: m[1] };
    }
    if (t === '<word>') return { kind: 'word' };
    throw new Error(`unknown placeholder ${t} (use <int:MIN..MAX>, <path:/dir/> or <word>)`);
  });
}

/** Renders a pattern for people. */
export function describePattern(p: PatternToken[]): string {
  return p
    .map((t) =>
      t.kind === 'literal'
        ? t.value
        : t.kind === 'int'
          ? `<${t.min}..${t.max}>`
          : t.kind === 'path'
            ? `<file under ${t.prefix}>`
            : '<word>',
    )
    .join(' ');
}

/** Matches argv against a pattern: null on a match, else why not. */
export function matchPattern(p: PatternToken[], argv: string[]): string | null {
  if (argv.length !== p.length) return `expected ${p.length - 1} argument(s), got ${argv.length - 1}`;
  for (let i = 0; i < p.length; i++) {
    const t = p[i]!;
    const a = argv[i]!;
    switch (t.kind) {
      case 'literal':
        if (a !== t.value) return `\`${a}\` where \`${t.value}\` is expected`;
        break;
      case 'int':
        if (!/^\d{1,9}$/.test(a)) return `\`${a}\` is not a number`;
        if (Number(a) < t.min || Number(a) > t.max) return `\`${a}\` is out of range ${t.min}..${t.max}`;
        break;
      case 'path': {
        if (a.split('/').includes('..')) return `\`${a}\`: \`..\` is not allowed in paths`;
        const norm = posix.normalize(a);
        if (!norm.startsWith(t.prefix) || norm === t.prefix) return `\`${a}\` is not a file under ${t.prefix}`;
        break;
      }
      case 'word':
        if (a.startsWith('-') || a.includes('/')) return `\`${a}\` is not a plain word`;
        break;
    }
  }
  return null;
}

const GREP_FLAGS = /^-[ivcwEFnxh]+$/;

/** Checks a `grep` stage: harmless flags, exactly one pattern, no files. Null when fine, else why not. */
export function checkGrepStage(argv: string[]): string | null {
  if (argv[0] !== 'grep') return 'a pipe may only go into grep';
  let pattern: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e') {
      if (pattern !== null || i + 1 >= argv.length) return 'grep takes exactly one pattern';
      pattern = argv[++i]!;
      continue;
    }
    if (a.startsWith('-') && pattern === null) {
      if (!GREP_FLAGS.test(a)) return `grep option \`${a}\` is not allowed (allowed: -i -v -c -w -E -F -n -x -h)`;
      continue;
    }
    if (pattern !== null) return `grep may not read files: \`${a}\` is an extra operand`;
    pattern = a;
  }
  if (pattern === null || pattern === '') return 'grep needs a pattern';
  return null;
}
