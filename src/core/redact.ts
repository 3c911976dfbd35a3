/**
 * Hides credentials in command output before it reaches a channel. `ps auxww`
 * on a database host shows other people's command lines, and those carry
 * MySQL passwords (`mysql -pS3cret`, `--password=…`, `MYSQL_PWD=…`, URLs with
 * a password); a channel is no place for them. The value is replaced, the
 * shape kept, so the output still reads as what it is.
 */

const MASK = '****';

/** Programs whose attached `-p<value>` is a password (for others, such as ssh, it is a port). */
const MYSQL_TOOLS =
  /\b(mysql|mysqld?ump|mysqladmin|mysqlcheck|mysqlimport|mysqlshow|mysqlbinlog|mariadb(?:-[a-z]+)?|mariabackup|xtrabackup|innobackupex|pt-[a-z-]+|mydumper|myloader|orchestrator-client)\b/;

const RULES: Array<[RegExp, string]> = [
  // SQL first: IDENTIFIED BY 'x', MASTER_PASSWORD='x', SOURCE_PASSWORD = 'x', PASSWORD('x')
  [/(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+)('[^']*'|"[^"]*")/gi, `$1'${MASK}'`],
  [/(\b(?:MASTER|SOURCE)_PASSWORD\s*=\s*)('[^']*'|"[^"]*")/gi, `$1'${MASK}'`],
  [/(\bPASSWORD\s*\(\s*)('[^']*'|"[^"]*")(\s*\))/gi, `$1'${MASK}'$3`],
  // --password=x, --password x, --pass=x, --master-password=x, --ssl-key-password=x
  [/(--[a-z-]*pass(?:word)?[= ])(?!\s|['"]?\*{4})("[^"]*"|'[^']*'|\S+)/gi, `$1${MASK}`],
  // MYSQL_PWD=x, PGPASSWORD=x, any *PASSWORD*= / *PWD*= / *SECRET*= / *TOKEN*= environment assignment
  [/\b([A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN)[A-Z0-9_]*=)(?!\s|['"]?\*{4})("[^"]*"|'[^']*'|\S+)/g, `$1${MASK}`],
  // scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)([^\s@/]+)(@)/gi, `$1${MASK}$3`],
  // mysql_native_password hashes (*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29): crackable, so not for a channel
  [/\*[0-9A-Fa-f]{40}\b/g, MASK],
  // Slack tokens anywhere
  [/\bx(?:ox[abprs]|app)-[A-Za-z0-9-]{8,}/g, `xox?-${MASK}`],
];

/** Returns `text` with credentials masked. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, to] of RULES) out = out.replace(re, to);
  // -p<password> attached, only on lines that run a MySQL tool.
  return out
    .split('\n')
    .map((line) => (MYSQL_TOOLS.test(line) ? line.replace(/(\s-p)(?=[^\s-])(\S+)/g, `$1${MASK}`) : line))
    .join('\n');
}

/** Columns of a result whose values are credentials whatever they look like (mysql.user and friends). */
const SECRET_COLUMNS = /^(authentication_string|password|plugin_auth_string|.*_password)$/i;

/** A result's rows with credentials masked: every value of a credential column, and credentials inside any other value. */
export function redactRows(columns: string[], rows: string[][]): string[][] {
  const secret = columns.map((c) => SECRET_COLUMNS.test(c));
  return rows.map((r) => r.map((v, i) => (secret[i] && v !== '' && v !== 'NULL' ? MASK : redactSecrets(v))));
}
