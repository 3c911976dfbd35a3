import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../src/core/policy/index.js';

const policy = loadPolicyFile('policies/default.yml');
const principal = { userId: 'U1', channelId: 'C1', roles: [] };
const check = (line: string) => policy.checkRun({ host: 'server1', principal, line });

// Every line here must be denied, with a reason that names what is wrong.
const corpus: Array<[string, RegExp]> = [
  ['uptime; id', /`;`/],
  ['uptime && id', /`&&`/],
  ['uptime || id', /`\|\|`/],
  ['uptime & id', /`&`/],
  ['ps aux | sh', /only go into grep/],
  ['ps aux | grep x | sh', /only one pipe/],
  ['ps aux | xargs rm', /only go into grep/],
  ['uptime `id`', /backticks/],
  ['uptime $(id)', /\$\( \)/],
  ['uptime ${IFS}', /\$\{ \}/],
  ['df -h $HOME', /variables/],
  ['uptime > /tmp/x', /redirections/],
  ['uptime < /etc/passwd', /redirections/],
  ['uptime >> /tmp/x', /redirections/],
  ['uptime\nid', /line breaks/],
  ['uptime\rid', /line breaks/],
  ['uptime\u0000id', /NUL/],
  ["uptime 'x'", /quotes/],
  ['uptime "x"', /quotes/],
  ['df -h /*', /glob/],
  ['df -h /tm?', /glob/],
  ['df -h /[a]', /glob/],
  ['df -h ~', /`~`/],
  ['df --exec=id', /rule `diagnostics` allows/],
  ['df -h -e', /rule `diagnostics` allows|expected/],
  ['ps aux --exec id', /rule `diagnostics`/],
  ['tail -n1000000 /var/log/mysql/error.log', /rule `mysql-logs`/],
  ['tail -n abc /var/log/mysql/error.log', /not a number/],
  ['tail -n 5000 /var/log/mysql/error.log', /out of range/],
  ['tail -f /var/log/mysql/error.log', /rule `mysql-logs`/],
  ['netstat -nat | grep 80 /etc/passwd', /extra operand/],
  ['netstat -nat | grep -f /etc/passwd', /`-f` is not allowed/],
  ['netstat -nat | grep -r root /etc', /`-r` is not allowed/],
  ['netstat -nat | grep -R root', /`-R` is not allowed/],
  ['netstat -nat | grep --include=x y', /not allowed/],
  ['netstat -nat | grep', /needs a pattern/],
  ['/bin/sh -c id', /without a path/],
  ['/usr/bin/uptime', /without a path/],
  ['./uptime', /without a path/],
  ['tail -n 10 /var/log/mysql/../../etc/shadow', /`\.\.`/],
  ['tail -n 10 /var/log/mysql/./../x', /`\.\.`/],
  ['tail -n 10 /var/log/mysqlx/y', /not a file under/],
  ['tail -n 10 /var/log/mysql/', /not a file under/],
  ['x'.repeat(100_000), /limit is 1000/],
  ['uptime \uFFFD', /UTF-8/],
  ['uptime \uD800', /UTF-8/],
  ['uptime\uFF1B id', /U\+FF1B/],
  ['uptime\u00A0id', /U\+00A0/],
  ['', /no command/],
  ['   ', /no command/],
  ['rm -rf /', /`rm` is not in any rule/],
  ['cat /etc/shadow', /`cat` is not in any rule/],
  ['uptime\tid', /control characters/],
];

describe('injection corpus against policies/default.yml', () => {
  it.each(corpus)('denies %j', (line, reason) => {
    const d = check(line);
    expect(d.allow).toBe(false);
    expect(d.pipeline).toBeUndefined();
    expect(d.reason).toMatch(reason);
  });

  it('allows the legitimate forms with the exact pipeline to spawn', () => {
    expect(check('netstat -nat | grep 80')).toMatchObject({
      allow: true,
      rule: 'diagnostics',
      pipeline: [
        ['netstat', '-nat'],
        ['grep', '80'],
      ],
    });
    expect(check('uptime').pipeline).toEqual([['uptime']]);
    expect(check('ps auxww | grep -iv mysqld').pipeline).toEqual([
      ['ps', 'auxww'],
      ['grep', '-iv', 'mysqld'],
    ]);
    expect(check('ss -nat | grep -e 3306').pipeline).toEqual([
      ['ss', '-nat'],
      ['grep', '-e', '3306'],
    ]);
    expect(check('tail -n 100 /var/log/mysql/error.log')).toMatchObject({
      allow: true,
      rule: 'mysql-logs',
      pipeline: [['tail', '-n', '100', '/var/log/mysql/error.log']],
    });
    expect(check('  uptime  ').pipeline).toEqual([['uptime']]);
  });
});
