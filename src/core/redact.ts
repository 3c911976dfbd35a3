/**
 * Hides credentials in command output before it reaches a channel. `ps auxww`
 * on a database host shows other people's command lines, and those carry
 * MySQL passwords (`mysql -pS3cret`, `--password=…`, `MYSQL_PWD=…`, URLs with
 * a password); a channel is no place for them. The value is replaced, the
 * shape kept, so the output still reads as what it is.
 */

const MASK = '****';

/**
 * Where one value ends for sure: NUL (/proc/<pid>/environ and cmdline), CR, FF, VT, the Unicode line and
 * paragraph separators, NEL and the ASCII file/group/record separators end a line as LF does. No rule
 * matches across one (so none is kept from matching by a separator it did not expect, and no mask runs
 * past one), and the per-line pass splits on them. The separators themselves are kept.
 */
const SEPARATORS = /(\r\n|[\n\r\0\f\v\u0085\u2028\u2029\u001c-\u001e])/;

/** The separator characters, for character classes (`\s` covers only some of them). */
const SEP = '\\n\\r\\0\\f\\v\\u0085\\u2028\\u2029\\u001c-\\u001e';
/** One character of a word: not whitespace, not a separator. */
const S = `[^\\s${SEP}]`;
/** Whitespace within a line. */
const H = `[^\\S${SEP}]`;
/** Any character within a line. */
const L = `[^${SEP}]`;
/** Where a value or a word ends. */
const END = `(?:['"]|[\\s${SEP}]|$)`;
/**
 * A quoted value, escapes and doubled quotes included, or else a whole word: never a guess at its end.
 * No rule matches across a separator. Every open-ended run is bounded, or starts only where such a run
 * starts (a lookbehind), so no output costs more than linear time to redact: what a command prints is
 * attacker text.
 */
const QUOTED = `(?:'(?:[^'\\\\${SEP}]|\\\\${L}|''){0,1024}'|"(?:[^"\\\\${SEP}]|\\\\${L}|""){0,1024}")`;
const VALUE = `(?:${QUOTED}|${S}+)`;
/** Not a value already masked (redaction runs on the worker and again on the bot: it must be idempotent). */
const NOT_MASKED = `(?!['"]?\\*{4}${END})`;
/** Where a DSN starts: the start of the text, after whitespace or a separator, or as an option's value (`--source=`). */
const DSN_START = `(?:^|(?<=[\\s${SEP}]|--[a-z-]{1,32}=))`;

/** Programs whose attached `-p<value>` is a password (for others, such as ssh, it is a port). */
const MYSQL_TOOLS =
  /\b(mysql|mysql_[a-z_]+|mysqlsh|mysqld?ump|mysqladmin|mysqlcheck|mysqlimport|mysqlshow|mysqlslap|mysqlbinlog|mariadb(?:-[a-z]+)?|mariabackup|xtrabackup|innobackupex|pt-[a-z-]+|mydumper|myloader|orchestrator-client)\b/;
/** Programs whose `-p <value>`, with a space, is a password too (mysql's own `-p word` prompts, word is a database). */
const SPACED_P_TOOLS = /\b(pt-[a-z-]+|mydumper|myloader)\b/;

const re = (source: string, flags = 'g') => new RegExp(source, flags);

const RULES: Array<[RegExp, string]> = [
  // SQL first: IDENTIFIED BY 'x', IDENTIFIED BY PASSWORD 'x', IDENTIFIED WITH p AS 'x'
  [re(`(\\bIDENTIFIED${H}+(?:WITH${H}+${S}+${H}+)?(?:BY|AS)${H}+(?:PASSWORD${H}+)?)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // IDENTIFIED VIA plugin USING 'x' [OR plugin USING 'y']; USING PASSWORD('x') is PASSWORD('x') below
  [re(`(\\b(?:VIA|OR)${H}+[A-Za-z0-9_]+${H}+USING${H}+)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // SET PASSWORD [FOR user] = 'x'
  [re(`(\\bSET${H}+PASSWORD\\b[^=${SEP}]{0,200}=${H}*)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // MASTER_PASSWORD='x', SOURCE_PASSWORD = 'x'
  [re(`(\\b(?:MASTER|SOURCE)_PASSWORD${H}*=${H}*)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // PASSWORD('x'), OLD_PASSWORD('x')
  [re(`(\\bPASSWORD${H}*\\(${H}*)${QUOTED}(${H}*\\))`, 'gi'), `$1'${MASK}'$2`],
  // --password=x, --password x, --pass=x, --passwd=x, --master-password=x, --ssl-key-password=x
  [re(`((?<![a-z0-9-])--[a-z-]{0,64}?(?:pass(?:word|wd)?|pwd)(?:=|${H}+))${NOT_MASKED}${VALUE}`, 'gi'), `$1${MASK}`],
  // MYSQL_PWD=x, password=x, db_passwd=x, any *password*= / *pwd*= / *secret*= / *token*= assignment, any case
  [
    re(
      `((?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,64}?(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN)[A-Za-z0-9_.-]{0,64}${H}*=${H}*)` +
        `(?!PASSWORD${H}*\\()${NOT_MASKED}${VALUE}`,
      'gi',
    ),
    `$1${MASK}`,
  ],
  // scheme://user:password@host: the password runs to the last @ of the word (it may hold / or @)
  [
    re(
      `((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,32}:\\/\\/[^\\s:/@${SEP}]{1,256}:)(?!\\*{4}@)(${S}{0,128})(@[^\\s@${SEP}]*)`,
      'gi',
    ),
    `$1${MASK}$3`,
  ],
  // user:password@host without a scheme, as mysqlsh takes it (`mysqlsh root:pw@db1`, `--uri root:pw@db1`, `\c …`)
  [
    re(
      `((?:--uri(?:=|${H}+)|\\bmysqlsh(?:${H}+-${S}+)*${H}+|\\\\c(?:onnect)?${H}+)[^\\s:/@${SEP}]{1,256}:)` +
        `(?!\\/\\/|\\*{4}@)(${S}{0,128})(@[^\\s@${SEP}]*)`,
      'gi',
    ),
    `$1${MASK}$3`,
  ],
  // Percona-toolkit DSNs: h=db1,u=root,p=secret,D=shop (the value ends at the next comma)
  [re(`(${DSN_START}(?:[A-Za-z]=[^,=\\s${SEP}]{0,256},)+p=)(?!\\*{4}(?:,|[\\s${SEP}]|$))[^,\\s${SEP}]+`), `$1${MASK}`],
  [re(`(${DSN_START}p=)(?!\\*{4}(?:,|[\\s${SEP}]|$))(?=([^,\\s${SEP}]{1,512}))\\2(?=,[A-Za-z]=)`), `$1${MASK}`],
  // sshpass -p password (its first -p; a later `ssh -p 22` is a port)
  [re(`(\\bsshpass(?:${H}+-[^p\\s${SEP}]${S}*)*${H}+-p${H}*)${NOT_MASKED}${VALUE}`), `$1${MASK}`],
  // mysql_native_password hashes (*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29): crackable, so not for a channel
  [/\*[0-9A-Fa-f]{40}\b/g, MASK],
  // Slack tokens anywhere
  [/\bx(?:ox[abprs]|app)-[A-Za-z0-9-]{8,}/g, `xox?-${MASK}`],
];

const ATTACHED_P = re(`(${H}-p)(?=[^\\s-])${NOT_MASKED}${VALUE}`);
const SPACED_P = re(`(${H}-p${H}+)(?!-)${NOT_MASKED}${VALUE}`);
/** curl -u user:password, --user, --proxy-user, -U (on lines that run curl). */
const CURL_USER = re(
  `(${H}(?:-[uU]${H}*|--(?:proxy-)?user(?:=|${H}+))['"]?[^\\s:'"${SEP}]{0,256}:)${NOT_MASKED}${VALUE}`,
);
/** redis-cli -a password (on lines that run redis-cli). */
const REDIS_AUTH = re(`(${H}-a${H}*)${NOT_MASKED}${VALUE}`);
/** Whether a line may need a rule of the per-line pass. */
const LINE_HINT = /-p|curl|redis-cli/;

/** Returns `text` with credentials masked. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [rule, to] of RULES) out = out.replace(rule, to);
  if (!LINE_HINT.test(out)) return out;
  // Options that are passwords only for some programs, on the lines that run them: -p<password> attached for
  // MySQL tools, `-p <password>` for those that take it so, curl's -u user:password, redis-cli's -a.
  const parts = out.split(SEPARATORS);
  // Odd indexes are the separators split() kept.
  for (let i = 0; i < parts.length; i += 2) {
    let line = parts[i]!;
    if (!LINE_HINT.test(line)) continue;
    if (line.includes('-p') && MYSQL_TOOLS.test(line)) line = line.replace(ATTACHED_P, `$1${MASK}`);
    if (line.includes('-p') && SPACED_P_TOOLS.test(line)) line = line.replace(SPACED_P, `$1${MASK}`);
    if (/\bcurl\b/.test(line)) line = line.replace(CURL_USER, `$1${MASK}`);
    if (/\bredis-cli\b/.test(line)) line = line.replace(REDIS_AUTH, `$1${MASK}`);
    parts[i] = line;
  }
  return parts.join('');
}

/**
 * Redacts a stream that arrives in chunks: only whole lines go out, so a password cut in two by a chunk
 * boundary is still masked; a line longer than `maxHeld` characters goes out as it is held. `end()` gives the rest.
 */
export function createLineRedactor(maxHeld = 64 * 1024): { write(text: string): string; end(): string } {
  let held = '';
  return {
    write(text) {
      held += text;
      let cut = -1;
      for (let i = held.length - 1; i >= 0; i--) {
        if (SEPARATORS.test(held[i]!)) {
          cut = i + 1;
          break;
        }
      }
      // A CR may be the first half of CRLF: keep it until the next chunk says.
      if (cut === held.length && held.endsWith('\r')) cut--;
      if (cut <= 0 && held.length <= maxHeld) return '';
      if (cut <= 0) cut = held.length;
      const out = held.slice(0, cut);
      held = held.slice(cut);
      return redactSecrets(out);
    },
    end() {
      const out = held;
      held = '';
      return redactSecrets(out);
    },
  };
}

/** Columns of a result whose values are credentials whatever they look like (mysql.user and friends). */
const SECRET_COLUMNS = /^(authentication_string|password|plugin_auth_string|.*_password)$/i;

/** A result's rows with credentials masked: every value of a credential column, and credentials inside any other value. */
export function redactRows(columns: string[], rows: string[][]): string[][] {
  const secret = columns.map((c) => SECRET_COLUMNS.test(c));
  return rows.map((r) => r.map((v, i) => (secret[i] && v !== '' && v !== 'NULL' ? MASK : redactSecrets(v))));
}
