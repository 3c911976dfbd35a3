import { describe, expect, it } from 'vitest';
import { redactRows, redactSecrets } from '../../../src/core/redact.js';

describe('redactSecrets', () => {
  it.each([
    ['root  4242  0.0 mysql -uadmin -pS3cr3t! -h db1 shop', 'mysql -uadmin -p**** -h db1 shop'],
    ['/usr/bin/mysqldump --user=bk --password=hunter2 --all-databases', '--password=****'],
    ['mariadb-admin --password "two words" status', '--password ****'],
    ['xtrabackup --backup --pass=abc', '--pass=****'],
    ['env MYSQL_PWD=topsecret mysql -e "select 1"', 'MYSQL_PWD=****'],
    ['GEAROPS_JOB_SECRET=abcd1234 node worker', 'GEAROPS_JOB_SECRET=****'],
    ['app --db mysql://app:pa55@db3:3306/common', 'mysql://app:****@db3:3306/common'],
    ["CREATE USER 'x'@'%' IDENTIFIED BY 'pw1'", "IDENTIFIED BY '****'"],
    ["CHANGE MASTER TO MASTER_HOST='a', MASTER_PASSWORD='r3pl'", "MASTER_PASSWORD='****'"],
    ["SET PASSWORD = PASSWORD('old')", "PASSWORD('****')"],
    ['token xoxb-1234567890-abcdefghij in a log line', 'xox?-****'],
    [
      "GRANT USAGE ON *.* TO `msandbox`@`%` IDENTIFIED BY PASSWORD '*6C387FC3893DBA1E3BA155E74754DA6682D04747'",
      "IDENTIFIED BY PASSWORD '****'",
    ],
  ])('masks %s', (input, expected) => {
    const out = redactSecrets(input);
    expect(out).toContain(expected);
    for (const secret of [
      'S3cr3t',
      'hunter2',
      'two words',
      'abc ',
      'topsecret',
      'abcd1234',
      'pa55',
      'pw1',
      'r3pl',
      "'old'",
      '1234567890-abcdefghij',
      '6C387FC3',
    ])
      expect(out).not.toContain(secret);
  });

  it('leaves what is not a credential alone', () => {
    const text = [
      'tcp 0 0 127.0.0.1:3306 0.0.0.0:* LISTEN',
      'root 1 ssh -p22 backup@db2',
      'ps -p 1234',
      'grep -p pattern file',
      'password_reuse_check enabled',
      'mysql -p (prompted)',
    ].join('\n');
    expect(redactSecrets(text)).toBe(text);
  });

  it('is idempotent', () => {
    const once = redactSecrets('mysql -pabc --password=def MYSQL_PWD=ghi');
    expect(redactSecrets(once)).toBe(once);
  });
});

describe('redactRows', () => {
  it('masks every value of a credential column and credentials inside other values, and keeps the rest', () => {
    const columns = ['User', 'Host', 'authentication_string', 'plugin', 'Grants'];
    const rows = [
      [
        'msandbox',
        '%',
        '*6C387FC3893DBA1E3BA155E74754DA6682D04747',
        'mysql_native_password',
        "GRANT ALL ON *.* TO x IDENTIFIED BY PASSWORD '*6C387FC3893DBA1E3BA155E74754DA6682D04747'",
      ],
      ['mariadb.sys', 'localhost', '', 'mysql_native_password', 'NULL'],
      ['app', '%', '$A$005$opaque-sha2-bytes', 'caching_sha2_password', ''],
    ];
    const out = redactRows(columns, rows);
    expect(out[0]).toEqual([
      'msandbox',
      '%',
      '****',
      'mysql_native_password',
      "GRANT ALL ON *.* TO x IDENTIFIED BY PASSWORD '****'",
    ]);
    expect(out[1]).toEqual(rows[1]);
    expect(out[2]?.[2]).toBe('****');
    expect(JSON.stringify(out)).not.toContain('6C387FC3');
  });
});
