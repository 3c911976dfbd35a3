import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy } from '../../../src/core/policy/index.js';
import { runPolicyCheckCommand } from '../../../src/policy-check.js';

const base = `version: 1
roles:
  dba:
    users: [UDBA]
commands:
  - rule: diag
    hosts: ["db*"]
    who: everyone
    channels: [COPS]
    allow:
      - uptime
  - rule: dba-only
    who: [role:dba]
    allow:
      - free -m
actions:
  - rule: changes
    actions: [pool.add]
    hosts: ["db*"]
    who: [role:dba]
`;

function errorOf(text: string): string {
  try {
    parsePolicy(text, 'p.yml');
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('policy files', () => {
  it('loads both shipped files', () => {
    expect(loadPolicyFile('policies/default.yml').settings.autoOffline).toBe(false);
    expect(loadPolicyFile('policies/demo.yml').settings.autoOffline).toBe(true);
  });

  it('names file, line and reason for an unknown key', () => {
    expect(errorOf(`${base}  - rule: x\n    actions: [pool.set]\n    whom: everyone\n`)).toMatch(
      /^p\.yml:23: actions\.1: unknown key \(whom\)/,
    );
    expect(errorOf('version: 1\nsettingz: {}\n')).toMatch(/^p\.yml:2: unknown key \(settingz\)/);
  });

  it('names file, line and reason for bad types, ranges and placeholders', () => {
    expect(errorOf('version: 1\nsettings:\n  timeout_s: "ten"\n')).toMatch(/^p\.yml:3: settings\.timeout_s/);
    expect(errorOf('version: 1\ncommands:\n  - rule: a\n    allow:\n      - tail -n <int:9..1>\n')).toMatch(
      /^p\.yml:5: .*range is empty/,
    );
    expect(errorOf('version: 1\ncommands:\n  - rule: a\n    allow:\n      - /bin/ls\n')).toMatch(
      /^p\.yml:5: .*without a path/,
    );
    expect(errorOf('version: 1\ncommands:\n  - rule: a\n    who: [role:nobody]\n    allow: [uptime]\n')).toMatch(
      /^p\.yml:4: role nobody is not defined/,
    );
    expect(errorOf('version: 2\n')).toMatch(/^p\.yml:1: version/);
    expect(errorOf('version: 1\nactions:\n  - rule: a\n    actions: [pool.explode]\n')).toMatch(
      /^p\.yml:4: actions\.0\.actions\.0/,
    );
    expect(errorOf('version: 1\n  bad: [yaml\n')).toMatch(/^p\.yml:\d+: /);
  });

  it('checks hosts, users, roles and channels, naming the rule', () => {
    const p = parsePolicy(base, 'p.yml');
    const who = { userId: 'U1', channelId: 'COPS', roles: [] };
    expect(p.checkRun({ host: 'db1', principal: who, line: 'uptime' })).toMatchObject({ allow: true, rule: 'diag' });
    expect(p.checkRun({ host: 'web1', principal: who, line: 'uptime' }).reason).toMatch(
      /rule `diag` is for hosts db\*, not web1/,
    );
    expect(p.checkRun({ host: 'db1', principal: { ...who, channelId: 'C9' }, line: 'uptime' }).reason).toMatch(
      /not for channel C9/,
    );
    expect(p.checkRun({ host: 'db1', principal: who, line: 'uptime | grep x' }).reason).toMatch(
      /does not allow a `\| grep` stage/,
    );
    expect(p.checkRun({ host: 'db1', principal: who, line: 'free -m' }).reason).toMatch(
      /rule `dba-only` is for role:dba/,
    );
    expect(p.rolesFor('UDBA')).toEqual(['dba']);
    expect(
      p.checkRun({ host: 'db1', principal: { ...who, userId: 'UDBA', roles: ['dba'] }, line: 'free -m' }).allow,
    ).toBe(true);
    expect(p.checkAction({ action: 'pool.add', host: 'db1', principal: { ...who, roles: ['dba'] } }).allow).toBe(true);
    expect(p.checkAction({ action: 'pool.add', host: 'web1', principal: { ...who, roles: ['dba'] } }).reason).toMatch(
      /not web1/,
    );
    expect(p.checkAction({ action: 'pool.del', principal: { ...who, roles: ['dba'] } }).reason).toMatch(
      /no rule of p\.yml allows pool\.del/,
    );
  });

  it('maps user-group ids to roles and lists the groups it names', () => {
    const p = parsePolicy(
      'version: 1\nroles:\n  dba:\n    users: [UDBA]\n    groups: [S0DBA, S0OPS]\n  ops:\n    groups: [S0OPS]\n  audit:\n    users: [UAUD]\n',
      'p.yml',
    );
    expect(p.groupIds()).toEqual(['S0DBA', 'S0OPS']);
    expect(p.rolesFor('UX', ['S0DBA'])).toEqual(['dba']);
    expect(p.rolesFor('UX', ['S0OPS'])).toEqual(['dba', 'ops']);
    expect(p.rolesFor('UX', ['S9'])).toEqual([]);
    expect(p.rolesFor('UX')).toEqual([]);
    expect(parsePolicy(base, 'p.yml').groupIds()).toEqual([]);
    expect(loadPolicyFile('policies/default.yml').groupIds()).toEqual([]);
  });

  it('rejects a group given as a handle or a name, with the line', () => {
    expect(errorOf('version: 1\nroles:\n  dba:\n    groups: ["@dbas"]\n')).toMatch(
      /^p\.yml:4: roles\.dba\.groups\.0: expected a Slack user-group id/,
    );
    expect(errorOf('version: 1\nroles:\n  dba:\n    groups: [dbas]\n')).toMatch(/user-group id/);
  });

  it('allows only single read-only SQL statements', () => {
    const p = loadPolicyFile('policies/default.yml');
    const who = { userId: 'U1', channelId: 'C1', roles: [] };
    expect(p.checkSql({ statement: 'SELECT @@server_id', principal: who }).allow).toBe(true);
    expect(p.checkSql({ statement: 'SHOW SLAVE STATUS;', principal: who }).allow).toBe(true);
    for (const [s, why] of [
      ['DELETE FROM t', /DELETE/],
      ['SELECT 1; DROP TABLE t', /one statement/],
      ['SELECT * FROM t INTO OUTFILE "/tmp/x"', /INTO/],
      ['SELECT * FROM t FOR UPDATE', /locking/],
      ['SELECT 1 -- x', /comments/],
      ['SELECT /*!50000 1*/', /comments/],
      ['SELECT SLEEP(100)', /function/],
      ['', /no statement/],
    ] as Array<[string, RegExp]>) {
      const d = p.checkSql({ statement: s, principal: who });
      expect(d.allow, s).toBe(false);
      expect(d.reason).toMatch(why);
    }
  });
});

describe('gearops policy check', () => {
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runPolicyCheckCommand(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  it('exits 0 on allow, 1 on deny, 2 on usage', async () => {
    const allow = await run(['check', '--host', 'server1', '--user', 'U1', '--', 'netstat -nat | grep 80']);
    expect(allow.code).toBe(0);
    expect(allow.out).toMatch(/^allow \(rule diagnostics\)/);
    expect(allow.out).toContain('["netstat","-nat"] | ["grep","80"]');
    const deny = await run(['check', '--host', 'server1', '--user', 'U1', '--', 'rm -rf /']);
    expect(deny.code).toBe(1);
    expect(deny.out).toMatch(/^deny: `rm` is not in any rule/);
    expect((await run(['check', '--host', 'server1'])).code).toBe(2);
    expect((await run(['lint', 'policies/demo.yml'])).code).toBe(0);
    expect((await run(['lint', 'package.json'])).code).toBe(2);
  });

  it("takes the user's groups with --group, as the bot resolves them", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gearops-policy-'));
    try {
      const file = join(dir, 'p.yml');
      writeFileSync(
        file,
        'version: 1\nroles:\n  dba:\n    groups: [S0DBA]\ncommands:\n  - rule: dba-only\n    who: [role:dba]\n    allow: [uptime]\n',
      );
      const member = await run([
        'check',
        '--policy',
        file,
        '--host',
        'db1',
        '--user',
        'U1',
        '--group',
        'S0OPS',
        '--group',
        'S0DBA',
        '--',
        'uptime',
      ]);
      expect(member).toMatchObject({ code: 0, out: expect.stringMatching(/^allow \(rule dba-only\)/) });
      const other = await run([
        'check',
        '--policy',
        file,
        '--host',
        'db1',
        '--user',
        'U1',
        '--group',
        'S0OPS',
        '--',
        'uptime',
      ]);
      expect(other).toMatchObject({
        code: 1,
        out: expect.stringMatching(/^deny \(rule dba-only\): rule `dba-only` is for role:dba/),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
