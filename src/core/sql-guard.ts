/**
 * What `/replica sql` checks in a statement before any rule of the policy is
 * looked at. The statement is tokenized the way the server reads it (strings,
 * `backtick` and "double-quoted" names, comments, operators), so a quoted name
 * cannot hide a function call (SELECT `SLEEP`(240)) and a `;` or `#` inside a
 * string is not mistaken for one outside. This is the first fence only: the
 * statement then runs as a read-only account, in a read-only transaction,
 * under a server-side time limit.
 */

/** One lexical token of a statement. */
export interface SqlToken {
  kind: 'word' | 'quoted' | 'string' | 'comment' | 'space' | 'punct';
  /** The source text of the token. */
  text: string;
  /** For `quoted` and `string`: the content without its quotes (doubled quotes made single). */
  value: string;
}

/** Functions /replica sql refuses by their canonical (upper-case) name, each with why. */
export const DENIED_SQL_FUNCTIONS: Readonly<Record<string, string>> = {
  SLEEP: 'it holds a connection of every node for as long as it is told',
  BENCHMARK: 'it burns the CPU of every node for as long as it is told',
  GET_LOCK: 'it takes a named lock that outlives the statement',
  RELEASE_LOCK: 'it releases named locks other sessions hold',
  RELEASE_ALL_LOCKS: 'it releases named locks',
  IS_FREE_LOCK: 'it probes named locks other sessions use',
  IS_USED_LOCK: 'it probes named locks other sessions use',
  LOAD_FILE: "it reads the server host's files",
  MASTER_POS_WAIT: 'it waits for replication for as long as it is told',
  MASTER_GTID_WAIT: 'it waits for replication for as long as it is told',
  SOURCE_POS_WAIT: 'it waits for replication for as long as it is told',
  WAIT_FOR_EXECUTED_GTID_SET: 'it waits for replication for as long as it is told',
  WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS: 'it waits for replication for as long as it is told',
  NEXTVAL: 'it changes a sequence',
  SETVAL: 'it changes a sequence',
  SYS_EXEC: 'it runs programs on the server host (a user-defined function)',
  SYS_EVAL: 'it runs programs on the server host (a user-defined function)',
};

/** A statement /replica sql refuses: the built-in rule and the reason shown to the user. */
export interface SqlRefusal {
  rule: string;
  reason: string;
}

const WORD_RE = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Splits `sql` into tokens; an unterminated string, name or comment is a refusal. */
export function tokenizeSql(sql: string): SqlToken[] | SqlRefusal {
  const out: SqlToken[] = [];
  let i = 0;
  const push = (kind: SqlToken['kind'], end: number, value = '') => {
    out.push({ kind, text: sql.slice(i, end), value });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1] ?? '';
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /\s/.test(sql[j]!)) j++;
      push('space', j);
    } else if (c === '#' || (c === '-' && next === '-')) {
      // `--` starts a comment only before a space in the server's grammar; any `--` is refused, which is stricter.
      const j = sql.indexOf('\n', i);
      push('comment', j < 0 ? sql.length : j);
    } else if (c === '/' && next === '*') {
      const j = sql.indexOf('*/', i + 2);
      if (j < 0) return { rule: 'sql-syntax', reason: 'a comment is not closed' };
      push('comment', j + 2);
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= sql.length)
          return {
            rule: 'sql-syntax',
            reason: c === '`' ? 'a quoted name is not closed' : 'a string is not closed',
          };
        const d = sql[j]!;
        if (d === '\\' && c !== '`')
          return {
            rule: 'sql-backslash',
            reason: 'backslashes are not allowed in strings (what they escape depends on the server’s sql_mode)',
          };
        if (d === c) {
          if (sql[j + 1] === c) {
            value += c;
            j += 2;
            continue;
          }
          break;
        }
        value += d;
        j++;
      }
      push(c === '`' ? 'quoted' : 'string', j + 1, value);
    } else if (WORD_RE.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_RE.test(sql[j]!)) j++;
      push('word', j, sql.slice(i, j));
    } else push('punct', i + 1);
  }
  return out;
}

/** Checks one statement for /replica sql; returns its verb (SELECT, SHOW …) or the refusal with its rule. */
export function checkReadOnlyStatement(statement: string): { verb: string } | SqlRefusal {
  const s = statement.trim();
  if (s.replace(/;\s*$/, '').length === 0) return { rule: 'sql-empty', reason: 'no statement given' };
  if (s.length > 2000) return { rule: 'sql-too-long', reason: 'the statement is longer than 2000 characters' };
  if (/[\u0000-\u001f\u007f]/.test(s.replace(/[\n\t\r]/g, ' ')))
    return { rule: 'sql-control-characters', reason: 'control characters are not allowed' };
  const tokens = tokenizeSql(s);
  if (!Array.isArray(tokens)) return tokens;
  const code = tokens.filter((t) => t.kind !== 'space');
  if (code.some((t) => t.kind === 'comment'))
    return {
      rule: 'sql-no-comments',
      reason: 'comments are not allowed in statements (`/*! … */` and `/*M! … */` would run as code)',
    };
  const semis = code.map((t, i) => (t.kind === 'punct' && t.text === ';' ? i : -1)).filter((i) => i >= 0);
  if (semis.some((i) => i !== code.length - 1))
    return { rule: 'sql-one-statement', reason: 'one statement at a time (`;` is not allowed)' };
  const words = code.map((t) => (t.kind === 'word' ? t.value.toUpperCase() : ''));
  for (let i = 0; i < code.length; i++) {
    const t = code[i]!;
    const callee = t.kind === 'word' || t.kind === 'quoted' || t.kind === 'string';
    if (callee && code[i + 1]?.text === '(') {
      const name = (t.kind === 'word' ? t.value : t.value.trim()).toUpperCase();
      const why = DENIED_SQL_FUNCTIONS[name];
      if (why)
        return {
          rule: 'sql-denied-function',
          reason: `the function ${name} is not allowed in /replica sql (rule sql-denied-function): ${why}`,
        };
    }
    if (words[i] === 'INTO') return { rule: 'sql-no-into', reason: 'SELECT … INTO is not read-only' };
    const locking =
      (words[i] === 'FOR' && (words[i + 1] === 'UPDATE' || words[i + 1] === 'SHARE')) ||
      (words[i] === 'LOCK' && words[i + 1] === 'IN' && words[i + 2] === 'SHARE' && words[i + 3] === 'MODE');
    if (locking) return { rule: 'sql-no-locking-read', reason: 'locking reads are not allowed' };
  }
  return { verb: code[0]?.kind === 'word' ? code[0].value.toUpperCase() : '' };
}
