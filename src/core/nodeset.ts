/**
 * Node sets in the bracket syntax DBAs know from pdsh and ClusterShell:
 * `db[1-12]`, `db[1-3,7]`, `db[01-12]` (zero padding kept), `rack[1-2]-db[1-4]`,
 * several sets joined by commas. Expanding turns a pattern into names; folding
 * turns names back into the shortest such pattern (`db1,db2,db3,db5` → `db[1-3,5]`).
 * Pure: no I/O, no knowledge of live hosts (src/core/targets.ts adds that).
 */
import { ErrorCode, GearopsError } from '../errors.js';

/** Most names one pattern may expand to: a typo such as `db[1-99999999]` must not take the bot's memory. */
export const MAX_EXPANSION = 10_000;

/** Digit runs longer than this are kept as text: they are serial numbers, not indexes, and exceed exact doubles. */
const MAX_INDEX_DIGITS = 15;

function bad(pattern: string, why: string): GearopsError {
  return new GearopsError(ErrorCode.Usage, `\`${pattern.slice(0, 80)}\`: ${why}`, { data: { pattern } });
}

/** Splits on commas that are not inside brackets: `a[1,2],b` → [`a[1,2]`, `b`]. */
export function splitTopLevel(pattern: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of pattern) {
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    if (depth < 0) throw bad(pattern, 'a `]` without its `[`');
    if (depth > 1) throw bad(pattern, 'brackets do not nest');
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw bad(pattern, 'a `[` without its `]`');
  parts.push(cur);
  if (parts.some((p) => p.length === 0)) throw bad(pattern, 'an empty name between commas');
  return parts;
}

const isPadded = (s: string) => s.length > 1 && s.startsWith('0');

/** The index strings of one bracket's content: `1-3,7` → 1 2 3 7; `01-03` → 01 02 03; `0-10/5` → 0 5 10. */
export function expandRange(content: string, pattern = content, limit = MAX_EXPANSION): string[] {
  if (content.length === 0) throw bad(pattern, 'empty brackets');
  const out: string[] = [];
  for (const part of content.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?:\/(\d+))?)?$/.exec(part);
    if (!m) throw bad(pattern, `\`${part}\` is not a number or a range such as 1-12 (digits only)`);
    const [, lo = '', hi, stepText] = m;
    if (lo.length > MAX_INDEX_DIGITS || (hi?.length ?? 0) > MAX_INDEX_DIGITS)
      throw bad(pattern, `\`${part}\`: an index has at most ${MAX_INDEX_DIGITS} digits`);
    if (hi === undefined) {
      out.push(lo);
      continue;
    }
    // Zero padding comes from the low end and must hold for the high end too (`01-010` is a typo, not a range).
    const width = isPadded(lo) || isPadded(hi) ? lo.length : 0;
    if (width > 0 && hi.length !== lo.length)
      throw bad(pattern, `\`${part}\`: both ends of a zero-padded range need the same number of digits`);
    const a = Number(lo);
    const b = Number(hi);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (a > b) throw bad(pattern, `\`${part}\`: the range goes down (write the lower number first)`);
    if (step < 1) throw bad(pattern, `\`${part}\`: the step must be at least 1`);
    if ((b - a) / step + 1 + out.length > limit) throw bad(pattern, `expands to more than ${limit} names`);
    for (let n = a; n <= b; n += step) out.push(String(n).padStart(width, '0'));
  }
  return [...new Set(out)];
}

/** Expands one pattern (comma-separated sets, brackets anywhere in each) into names, in the order written. */
export function expandNodeSet(pattern: string, limit = MAX_EXPANSION): string[] {
  const names = new Set<string>();
  for (const element of splitTopLevel(pattern)) {
    // Literal pieces and bracket contents alternate: `a[1-2]b[3]` → ['a', '1-2', 'b', '3', ''].
    const pieces = element.split(/\[([^\]]*)\]/);
    if (pieces.some((p, i) => i % 2 === 0 && /[[\]]/.test(p))) throw bad(pattern, 'unbalanced brackets');
    let acc = [''];
    pieces.forEach((piece, i) => {
      if (i % 2 === 0) {
        acc = acc.map((a) => a + piece);
        return;
      }
      const indexes = expandRange(piece, pattern, limit);
      if (acc.length * indexes.length + names.size > limit) throw bad(pattern, `expands to more than ${limit} names`);
      acc = acc.flatMap((a) => indexes.map((ix) => a + ix));
    });
    for (const n of acc) names.add(n);
    if (names.size > limit) throw bad(pattern, `expands to more than ${limit} names`);
  }
  return [...names];
}

/** Folds index strings into range text: 1 2 3 5 → `1-3,5`; 01 02 10 → `01-02,10`; 0 01 002 → `0,01,002`. */
export function foldRange(indexes: Iterable<string>): string {
  const unique = [...new Set(indexes)];
  // Padding classes: zero-padded indexes by width; an unpadded index joins the class of its own width if one
  // exists (10 continues 08, 09), else the unpadded class 0.
  const widths = new Set(unique.filter(isPadded).map((s) => s.length));
  const classes = new Map<number, number[]>();
  for (const s of unique) {
    const w = isPadded(s) || widths.has(s.length) ? s.length : 0;
    classes.set(w, [...(classes.get(w) ?? []), Number(s)]);
  }
  const runs: Array<{ from: number; width: number; text: string }> = [];
  for (const [width, values] of classes) {
    values.sort((a, b) => a - b);
    const fmt = (n: number) => String(n).padStart(width, '0');
    for (let i = 0; i < values.length;) {
      let j = i;
      while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
      const a = values[i]!;
      const b = values[j]!;
      runs.push({ from: a, width, text: a === b ? fmt(a) : `${fmt(a)}-${fmt(b)}` });
      i = j + 1;
    }
  }
  return runs
    .sort((x, y) => x.from - y.from || x.width - y.width)
    .map((r) => r.text)
    .join(',');
}

interface Folding {
  /** Literal text around the indexes: lits.length === axes.length + 1. */
  lits: string[];
  axes: Array<Set<string>>;
}

function tokenize(name: string): Folding {
  const parts = name.split(/(\d+)/);
  const lits: string[] = [parts[0] ?? ''];
  const axes: Array<Set<string>> = [];
  for (let i = 1; i < parts.length; i += 2) {
    const digits = parts[i]!;
    const after = parts[i + 1] ?? '';
    if (digits.length > MAX_INDEX_DIGITS) lits[lits.length - 1] += digits + after;
    else {
      axes.push(new Set([digits]));
      lits.push(after);
    }
  }
  return { lits, axes };
}

const axisText = (s: Set<string>) => (s.size === 1 ? [...s][0]! : `[${foldRange(s)}]`);

/** Folds names into one node set the way ClusterShell writes it: `db1,db2,db3,db5,web` → `db[1-3,5],web`. */
export function foldNodeSet(names: Iterable<string>): string {
  const bySkeleton = new Map<string, Folding[]>();
  for (const name of new Set(names)) {
    const f = tokenize(name);
    const key = f.lits.join('\u0000');
    bySkeleton.set(key, [...(bySkeleton.get(key) ?? []), f]);
  }
  const folded: Folding[] = [];
  for (const items of bySkeleton.values()) {
    let current = items;
    const dims = current[0]?.axes.length ?? 0;
    // One axis at a time, last first: names alike everywhere but on this axis merge their indexes on it.
    for (let axis = dims - 1; axis >= 0; axis--) {
      const merged = new Map<string, Folding>();
      for (const f of current) {
        const key = f.axes.map((s, k) => (k === axis ? '*' : foldRange(s))).join('\u0000');
        const into = merged.get(key);
        if (into) for (const ix of f.axes[axis]!) into.axes[axis]!.add(ix);
        else merged.set(key, { lits: f.lits, axes: f.axes.map((s) => new Set(s)) });
      }
      current = [...merged.values()];
    }
    folded.push(...current);
  }
  const sortKey = (f: Folding) => f.lits.map((l, k) => l + (k < f.axes.length ? ' ' : '')).join('');
  const firstIndex = (f: Folding) => f.axes.map((s) => Math.min(...[...s].map(Number)));
  folded.sort((x, y) => {
    const c = sortKey(x).localeCompare(sortKey(y));
    if (c !== 0) return c;
    const a = firstIndex(x);
    const b = firstIndex(y);
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k]! - b[k]!;
    return 0;
  });
  return folded
    .map((f) => f.lits.map((l, k) => l + (k < f.axes.length ? axisText(f.axes[k]!) : '')).join(''))
    .join(',');
}

/** Sorts host names in natural order (db2 before db10), as folded sets read. */
export function compareHosts(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
