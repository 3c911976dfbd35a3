/**
 * Attack corpus: every hole found by trying gearops as an attacker would, as a test that fails if it
 * opens again. Each group of cases lives in its own describe block; add to it, do not rewrite it.
 */
import { describe, expect, it } from 'vitest';
import { createLineRedactor, redactSecrets } from '../../../src/core/redact.js';

describe('attack corpus: passwords on DBA tool command lines and in general logs are masked', () => {
  // [tool, what `ps auxww` or a general log showed, the secret, what stays readable]
  const cases: Array<[string, string, string, string]> = [
    ['mysqlsh --uri', 'mysqlsh --uri admin:Pw7-uri@db1:3306', 'Pw7-uri', 'mysqlsh --uri admin:****@db1:3306'],
    ['mysqlsh --uri=scheme', 'mysqlsh --uri=mysql://admin:Pw7-u2@db1', 'Pw7-u2', 'mysql://admin:****@db1'],
    ['mysqlsh positional', 'mysqlsh --js root:Pw7-pos@localhost:3306', 'Pw7-pos', 'root:****@localhost:3306'],
    ['mysql_upgrade -p', 'mysql_upgrade -uroot -pUpgr4de!', 'Upgr4de', 'mysql_upgrade -uroot -p****'],
    ['mydumper -p <pw>', 'mydumper -u bk -p Dump3r-pw -o /backup', 'Dump3r-pw', 'mydumper -u bk -p **** -o /backup'],
    ['myloader -p <pw>', 'myloader -u bk -p L0ad-pw -d /backup', 'L0ad-pw', '-p **** -d /backup'],
    ['pt-* -p <pw>', 'pt-table-checksum -u cs -p Chk-pw --replicate x.y', 'Chk-pw', '-p **** --replicate x.y'],
    ['--passwd=', 'innobackupex --user=bk --passwd=Passwd-pw /b', 'Passwd-pw', '--passwd=****'],
    ['lowercase password=', 'app --opt password=low3r-pw', 'low3r-pw', 'password=****'],
    ['libpq-style user= password=', 'psql "host=db1 user=x password=libpq-pw"', 'libpq-pw', 'password=****'],
    ['pt DSN p=', 'pt-online-schema-change h=db1,u=root,p=DsnPw-1,D=shop,t=orders', 'DsnPw-1', 'p=****,D=shop'],
    ['pt DSN p= first', 'pt-archiver --source p=DsnPw-2,h=db1,u=r', 'DsnPw-2', 'p=****,h=db1'],
    ['pt DSN p= last', 'pt-kill --dsn=h=db1,u=root,p=DsnPw-3', 'DsnPw-3', 'h=db1,u=root,p=****'],
    ['curl -u', 'curl -s -u admin:Curl-pw https://db1/api', 'Curl-pw', '-u admin:**** https://db1/api'],
    ['curl --user=', 'curl --user=admin:Curl-pw2 https://db1', 'Curl-pw2', '--user=admin:****'],
    ['sshpass -p', 'sshpass -p Ssh-pw ssh -p 2222 db2', 'Ssh-pw', 'sshpass -p **** ssh -p 2222 db2'],
    ['sshpass -p attached', 'sshpass -pSsh-pw2 scp a db2:', 'Ssh-pw2', 'sshpass -p****'],
    ['redis-cli -a', 'redis-cli -h cache1 -a Red1s-pw ping', 'Red1s-pw', '-a **** ping'],
    [
      'URL with / in the password',
      'app --db mysql://app:pa/ss@w0rd@db3:3306/common',
      'pa/ss',
      'mysql://app:****@db3:3306/common',
    ],
    ['quoted password with spaces', 'mysqldump --password="two words here" shop', 'two words', '--password=**** shop'],
    ['quoted -p with spaces', "mysql -p'sp ace pw' -e 'select 1'", 'sp ace', "mysql -p**** -e 'select 1'"],
    ['quoted sshpass with spaces', "sshpass -p 'ssh sp ace' ssh db2", 'ssh sp', 'sshpass -p **** ssh db2'],
    [
      'SET PASSWORD = plain',
      "SET PASSWORD FOR 'app'@'%' = 'Set-pw-1'",
      'Set-pw-1',
      "SET PASSWORD FOR 'app'@'%' = '****'",
    ],
    ['SET PASSWORD escaped quote', "SET PASSWORD = 'it''s-Set\\'pw'", 's-Set', "SET PASSWORD = '****'"],
    ['IDENTIFIED VIA … USING', "ALTER USER x IDENTIFIED VIA ed25519 USING 'Via-hash-1'", 'Via-hash-1', "USING '****'"],
    [
      'IDENTIFIED VIA … OR … USING',
      "CREATE USER y IDENTIFIED VIA mysql_native_password USING 'Via-1' OR ed25519 USING 'Via-2'",
      'Via-',
      "USING '****' OR ed25519 USING '****'",
    ],
    [
      'IDENTIFIED VIA … USING PASSWORD()',
      "ALTER USER z IDENTIFIED VIA ed25519 USING PASSWORD('Via-3')",
      'Via-3',
      "PASSWORD('****')",
    ],
  ];
  it.each(cases)('%s', (_tool, line, secret, shown) => {
    const out = redactSecrets(`root 4242 0.0 ${line}`);
    expect(out).not.toContain(secret);
    expect(out).toContain(shown);
    expect(redactSecrets(out)).toBe(out);
  });

  it('masks nothing that is not a credential on the same tools', () => {
    const text = [
      'mysql -p shop',
      'ssh -p 2222 db2',
      'curl -s https://db1/api',
      'redis-cli -h cache1 ping',
      'pt-query-digest --type slowlog /var/log/mysql/slow.log',
      'mydumper -u bk -p -o /b',
      'password_reuse_check enabled',
      'git@github.com:org/repo.git',
    ].join('\n');
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('attack corpus: separators other than \\n do not hide a secret from the redactor', () => {
  // /proc/<pid>/environ and cmdline are NUL-separated: one symlink away from a log file, they showed the job secret.
  it.each([
    ['NUL', '\0'],
    ['CR', '\r'],
    ['CRLF', '\r\n'],
    ['FF', '\f'],
    ['VT', '\v'],
    ['LINE SEPARATOR', '\u2028'],
    ['PARAGRAPH SEPARATOR', '\u2029'],
    ['NEL', '\u0085'],
    ['RS', '\u001e'],
  ])('%s', (_name, sep) => {
    const environ = ['PATH=/usr/bin', 'GEAROPS_JOB_SECRET=job-secret-42', 'HOME=/root', ''].join(sep);
    const cmdline = ['mysql', '-uroot', '-pNulPw-9', 'shop'].join(sep);
    const out = redactSecrets(`${environ}${sep}${cmdline}`);
    expect(out).not.toContain('job-secret-42');
    expect(out).toContain(`GEAROPS_JOB_SECRET=****${sep}HOME=/root`);
    expect(out).toContain('PATH=/usr/bin');
    // The separators are kept, and a mask stops at one: the next variable still reads.
    expect(out.split(sep).length).toBe(`${environ}${sep}${cmdline}`.split(sep).length);
    // A NUL-separated cmdline has no spaces: -p is no longer preceded by whitespace, so it shows as it is (not a secret of
    // ours); but a password assignment on its own line is masked.
    expect(redactSecrets(`x${sep}MYSQL_PWD=NulPw-10${sep}y`)).not.toContain('NulPw-10');
  });

  it('a streamed secret cut by a chunk boundary is still masked', () => {
    const r = createLineRedactor();
    const chunks = ['root 1 mysql -uroot -pStr', 'eam-pw-1 shop\nnext line', ' MYSQL_PWD=abc', 'def\0tail'];
    const out = chunks.map((c) => r.write(c)).join('') + r.end();
    expect(out).not.toContain('eam-pw-1');
    expect(out).not.toContain('abcdef');
    expect(out).toBe('root 1 mysql -uroot -p**** shop\nnext line MYSQL_PWD=****\0tail');
  });
});
