/**
 * The attack corpus: every attempt that once got past gearops, kept as a case
 * that must stay refused. Each area has its own describe block; add to it
 * whenever a hole is found.
 */
import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../src/core/policy/index.js';
import { checkReadOnlyStatement, tokenizeSql } from '../../../src/core/sql-guard.js';

describe('attack corpus: /replica sql statements', () => {
  const policy = loadPolicyFile('policies/default.yml');
  const who = { userId: 'U1', channelId: 'C1', roles: [] };
  const check = (statement: string) => policy.checkSql({ statement, principal: who });

  it('refuses denied functions however their name is quoted, cased or spaced, naming the canonical name', () => {
    const cases: Array<[string, string]> = [
      ['SELECT `SLEEP`(240)', 'SLEEP'],
      ['SELECT `sleep` (240)', 'SLEEP'],
      ['SELECT "SLEEP"(240)', 'SLEEP'],
      ['SELECT sLeEp\n(240)', 'SLEEP'],
      ["SELECT 1 FROM DUAL WHERE `GET_LOCK`('x', 10)", 'GET_LOCK'],
      ["SELECT `LOAD_FILE`('/etc/passwd')", 'LOAD_FILE'],
      ["SELECT MASTER_GTID_WAIT('0-1-100', 3600)", 'MASTER_GTID_WAIT'],
      ["SELECT `master_pos_wait`('mysql-bin.000001', 4)", 'MASTER_POS_WAIT'],
      ["SELECT SOURCE_POS_WAIT('mysql-bin.000001', 4)", 'SOURCE_POS_WAIT'],
      ['SELECT BENCHMARK(100000000, MD5(1))', 'BENCHMARK'],
      ["SELECT RELEASE_ALL_LOCKS(), IS_USED_LOCK('x')", 'RELEASE_ALL_LOCKS'],
      ['SELECT `mysql`.`SLEEP`(1)', 'SLEEP'],
      ['SELECT NEXTVAL(app.seq)', 'NEXTVAL'],
    ];
    for (const [statement, name] of cases) {
      const d = check(statement);
      expect(d.allow, statement).toBe(false);
      expect(d.rule, statement).toBe('sql-denied-function');
      expect(d.reason, statement).toContain(`the function ${name} is not allowed`);
      expect(d.reason, statement).toContain('rule sql-denied-function');
    }
  });

  it('refuses every kind of comment, including executable ones', () => {
    for (const statement of [
      'SELECT /*! SLEEP(10) */ 1',
      'SELECT /*M!100000 SLEEP(10) */ 1',
      'SELECT /**/1',
      'SELECT 1 # and then',
      'SELECT 1 -- x',
      'SELECT 1 --x',
    ]) {
      const d = check(statement);
      expect(d.allow, statement).toBe(false);
      expect(d.rule, statement).toBe('sql-no-comments');
    }
  });

  it('refuses a second statement, an unclosed quote and backslashes whose meaning depends on sql_mode', () => {
    expect(check('SELECT 1; SELECT SLEEP(1)').rule).toBe('sql-one-statement');
    expect(check("SELECT ';' ; DROP TABLE t").rule).toBe('sql-one-statement');
    expect(check("SELECT 'abc").rule).toBe('sql-syntax');
    expect(check('SELECT `abc').rule).toBe('sql-syntax');
    // With NO_BACKSLASH_ESCAPES the string would end at the backslash and SLEEP would run.
    expect(check("SELECT 'a\\' , SLEEP(1), '").rule).toBe('sql-backslash');
  });

  it('refuses INTO and locking reads outside strings and names', () => {
    expect(check("SELECT * FROM t INTO OUTFILE '/tmp/x'").rule).toBe('sql-no-into');
    expect(check('SELECT 1 INTO @x').rule).toBe('sql-no-into');
    expect(check('SELECT * FROM t FOR UPDATE').rule).toBe('sql-no-locking-read');
    expect(check('SELECT * FROM t LOCK IN SHARE MODE').rule).toBe('sql-no-locking-read');
  });

  it('lets the same words through where they are only data: in strings and as quoted names', () => {
    for (const statement of [
      "SELECT 'SLEEP(1)' AS s",
      "SELECT 'a;b', 'c#d', 'e--f', '/*g*/'",
      'SELECT `into`, `sleep` FROM app.t',
      'SELECT \'it\'\'s\', "say ""hi"""',
      'SHOW SLAVE STATUS;',
      "SELECT SUBSTR(authentication_string, 2), HEX(authentication_string) FROM mysql.user WHERE User = 'msandbox'",
    ]) {
      const d = check(statement);
      expect(d.allow, `${statement}: ${d.reason}`).toBe(true);
    }
  });

  it('tokenizes doubled quotes inside quoted names as one name', () => {
    const t = tokenizeSql('SELECT `a``b`(1)');
    expect(Array.isArray(t) && t.find((x) => x.kind === 'quoted')?.value).toBe('a`b');
    expect(checkReadOnlyStatement('SELECT `SLE``EP`(1)')).toEqual({ verb: 'SELECT' });
  });
});
