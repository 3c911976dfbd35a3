/**
 * Hides credentials in command output before it reaches a channel. `ps auxww`
 * on a database host shows other people's command lines, and those carry
 * MySQL passwords (`mysql -pS3cret`, `--password=…`, `MYSQL_PWD=…`, URLs with
 * a password); a channel is no place for them. The value is replaced, the
 * shape kept, so the output still reads as what it is.
 */

const MASK = '****';

/**
 * Where one value ends for sure: output is split into lines on every one of these (NUL from
 * /proc/<pid>/environ and cmdline, CR, FF, VT, the Unicode line and paragraph separators, NEL, the ASCII
 * file/group/record separators) before any rule runs, so no rule is kept from matching by a separator it
 * did not expect, and no mask runs past one. The separators themselves are kept.
 */
const SEPARATORS = /(\r\n|[\n\r\0\f\v\u0085\u2028\u2029\u001c-\u001e])/;

/** A quoted value, escapes and doubled quotes included, or else a whole word: never a guess at its end. */
const VALUE = `(?:'(?:[^'\\\\]|\\\\.|'')*'|"(?:[^"\\\\]|\\\\.|"")*"|\\S+)`;
/** A quoted SQL string. */
const QUOTED = `(?:'(?:[^'\\\\]|\\\\.|'')*'|"(?:[^"\\\\]|\\\\.|"")*")`;
/** Not a value already masked (redaction runs on the worker and again on the bot: it must be idempotent). */
const NOT_MASKED = `(?!['"]?\\*{4}(?:['"]|\\s|$))`;

/** Programs whose attached `-p<value>` is a password (for others, such as ssh, it is a port). */
const MYSQL_TOOLS =
  /\b(mysql|mysql_[a-z_]+|mysqlsh|mysqld?ump|mysqladmin|mysqlcheck|mysqlimport|mysqlshow|mysqlslap|mysqlbinlog|mariadb(?:-[a-z]+)?|mariabackup|xtrabackup|innobackupex|pt-[a-z-]+|mydumper|myloader|orchestrator-client)\b/;
/** Programs whose `-p <value>`, with a space, is a password too (mysql's own `-p word` prompts, word is a database). */
const SPACED_P_TOOLS = /\b(pt-[a-z-]+|mydumper|myloader)\b/;

const re = (source: string, flags = 'g') => new RegExp(source, flags);

const RULES: Array<[RegExp, string]> = [
  // SQL first: IDENTIFIED BY 'x', IDENTIFIED BY PASSWORD 'x', IDENTIFIED WITH p AS 'x'
  [re(`(\\bIDENTIFIED\\s+(?:WITH\\s+\\S+\\s+)?(?:BY|AS)\\s+(?:PASSWORD\\s+)?)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // IDENTIFIED VIA plugin USING 'x' [OR plugin USING 'y'], USING PASSWORD('x') is PASSWORD('x') below
  [re(`(\\b(?:VIA|OR)\\s+[A-Za-z0-9_]+\\s+USING\\s+)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // SET PASSWORD [FOR user] = 'x'
  [re(`(\\bSET\\s+PASSWORD\\b[^=]*=\\s*)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // MASTER_PASSWORD='x', SOURCE_PASSWORD = 'x'
  [re(`(\\b(?:MASTER|SOURCE)_PASSWORD\\s*=\\s*)${QUOTED}`, 'gi'), `$1'${MASK}'`],
  // PASSWORD('x'), OLD_PASSWORD('x')
  [re(`(\\bPASSWORD\\s*\\(\\s*)${QUOTED}(\\s*\\))`, 'gi'), `$1'${MASK}'$2`],
  // --password=x, --password x, --pass=x, --passwd=x, --master-password=x, --ssl-key-password=x
  [re(`(--[a-z-]*(?:pass(?:word|wd)?|pwd)(?:=|\\s+))${NOT_MASKED}${VALUE}`, 'gi'), `$1${MASK}`],
  // MYSQL_PWD=x, password=x, db_passwd=x, any *password*= / *pwd*= / *secret*= / *token*= assignment, any case
  [
    re(
      `(\\b[A-Za-z0-9_.-]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN)[A-Za-z0-9_.-]*\\s*=\\s*)(?!PASSWORD\\s*\\()${NOT_MASKED}${VALUE}`,
      'gi',
    ),
    `$1${MASK}`,
  ],
  // scheme://user:password@host: the password runs to the last @ of the word (it may hold / or @)
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)(?!\*{4}@)(\S*)(@[^\s@]*)/gi, `$1${MASK}$3`],
  // user:password@host without a scheme, as mysqlsh takes it (`mysqlsh root:pw@db1`, `--uri root:pw@db1`, `\c …`)
  [
    /((?:--uri(?:=|\s+)|\bmysqlsh(?:\s+-\S+)*\s+|\\c(?:onnect)?\s+)[^\s:/@]+:)(?!\/\/|\*{4}@)(\S*)(@[^\s@]*)/gi,
    `$1${MASK}$3`,
  ],
  // Percona-toolkit DSNs: h=db1,u=root,p=secret,D=shop (the value ends at the next comma)
  [/((?:^|[\s=])(?:[A-Za-z]=[^,\s]*,)+p=)(?!\*{4}(?:,|\s|$))[^,\s]+/g, `$1${MASK}`],
  [/((?:^|[\s=])p=)(?!\*{4}(?:,|\s|$))[^,\s]+(?=(?:,[A-Za-z]=[^,\s]*)+)/g, `$1${MASK}`],
  // curl -u user:password, --user, --proxy-user, -U
  [
    re(`(\\bcurl\\b.*?(?:\\s-[uU]\\s*|\\s--(?:proxy-)?user(?:=|\\s+))['"]?[^\\s:'"]*:)${NOT_MASKED}${VALUE}`),
    `$1${MASK}`,
  ],
  // sshpass -p password (its first -p; a later `ssh -p 22` is a port)
  [re(`(\\bsshpass(?:\\s+-[^p\\s]\\S*)*\\s+-p\\s*)${NOT_MASKED}${VALUE}`), `$1${MASK}`],
  // redis-cli -a password
  [re(`(\\bredis-cli\\b.*?\\s-a\\s*)${NOT_MASKED}${VALUE}`), `$1${MASK}`],
  // mysql_native_password hashes (*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29): crackable, so not for a channel
  [/\*[0-9A-Fa-f]{40}\b/g, MASK],
  // Slack tokens anywhere
  [/\bx(?:ox[abprs]|app)-[A-Za-z0-9-]{8,}/g, `xox?-${MASK}`],
];

const ATTACHED_P = re(`(\\s-p)(?=[^\\s-])${NOT_MASKED}${VALUE}`);
const SPACED_P = re(`(\\s-p\\s+)(?!-)${NOT_MASKED}${VALUE}`);

function redactLine(line: string): string {
  let out = line;
  for (const [rule, to] of RULES) out = out.replace(rule, to);
  // -p<password> attached, only on lines that run a MySQL tool; `-p <password>` for the tools that take it so.
  if (MYSQL_TOOLS.test(out)) out = out.replace(ATTACHED_P, `$1${MASK}`);
  if (SPACED_P_TOOLS.test(out)) out = out.replace(SPACED_P, `$1${MASK}`);
  return out;
}

/** Returns `text` with credentials masked. */
export function redactSecrets(text: string): string {
  const parts = text.split(SEPARATORS);
  // Odd indexes are the separators split() kept.
  for (let i = 0; i < parts.length; i += 2) parts[i] = redactLine(parts[i]!);
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
