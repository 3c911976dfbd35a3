/**
 * The tokenizer for what users type after `/run <host>`. It never interprets
 * shell syntax: anything that would mean something to a shell is refused with
 * a reason, so that what is allowed is plain words and at most one
 * `| grep …` stage, spawned by the worker without a shell.
 */

/** Longest command line accepted. */
export const MAX_LINE = 1000;

/** A tokenized command line: one or two stages of argv. */
export type TokenizeResult = { ok: true; stages: string[][] } | { ok: false; reason: string };

/** Characters a word may contain. Everything else is refused. */
const WORD_CHAR = /^[A-Za-z0-9._\-/:=,+@%]$/;

const NAMED: Array<[RegExp, string]> = [
  [/[\r\n]/, 'line breaks are not allowed'],
  [/\u0000/, 'NUL bytes are not allowed'],
  [/[\u0001-\u001f\u007f]/, 'control characters are not allowed'],
  [/\uFFFD/, 'the text is not valid UTF-8'],
  [/[\uD800-\uDFFF]/, 'the text is not valid UTF-8'],
  [/&&/, '`&&` is not allowed: commands run without a shell'],
  [/\|\|/, '`||` is not allowed: commands run without a shell'],
  [/;/, '`;` is not allowed: commands run without a shell'],
  [/&/, '`&` is not allowed: commands run without a shell'],
  [/`/, 'backticks are not allowed: commands run without a shell'],
  [/\$\(/, '`$( )` is not allowed: commands run without a shell'],
  [/\$\{/, '`${ }` is not allowed: commands run without a shell'],
  [/\$/, '`$` (variables) is not allowed: commands run without a shell'],
  [/[<>]/, 'redirections (`<`, `>`) are not allowed: commands run without a shell'],
  [/["']/, 'quotes are not allowed: words are split on spaces only'],
  [/[*?[\]]/, 'glob characters (`*`, `?`, `[ ]`) are not allowed'],
  [/~/, '`~` is not allowed'],
  [/\\/, 'backslashes are not allowed'],
  [/[(){}!#]/, 'shell punctuation is not allowed'],
];

/** Splits a command line into stages of words, or says why it cannot. Never throws. */
export function tokenizeCommandLine(line: string): TokenizeResult {
  if (typeof line !== 'string') return { ok: false, reason: 'no command given' };
  if (line.length > MAX_LINE)
    return { ok: false, reason: `the command line is ${line.length} characters long; the limit is ${MAX_LINE}` };
  for (const [re, reason] of NAMED) if (re.test(line)) return { ok: false, reason };
  const trimmed = line.replace(/^ +| +$/g, '');
  if (trimmed === '') return { ok: false, reason: 'no command given' };
  const parts = trimmed.split('|');
  if (parts.length > 2) return { ok: false, reason: 'only one pipe is allowed, and only into grep' };
  const stages: string[][] = [];
  for (const part of parts) {
    const words = part.split(' ').filter((w) => w.length > 0);
    if (words.length === 0) return { ok: false, reason: 'a pipe needs a command on both sides' };
    for (const w of words) {
      for (const ch of w) {
        if (!WORD_CHAR.test(ch)) {
          const code = ch.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0');
          return { ok: false, reason: `the character \`${ch}\` (U+${code}) is not allowed in a command` };
        }
      }
      if (w.length > 256) return { ok: false, reason: 'a word is longer than 256 characters' };
    }
    stages.push(words);
  }
  if (stages.length === 2 && stages[1]?.[0] !== 'grep')
    return { ok: false, reason: `a pipe may only go into grep, not into \`${stages[1]?.[0]}\`` };
  return { ok: true, stages };
}
