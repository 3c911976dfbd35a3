import { describe, expect, it } from 'vitest';
import { parseMysqlStatusArgs } from '../../../src/worker/capabilities/mysql-status.js';

describe('mysql.status arguments', () => {
  it('takes a port, a credentials entry name and the facts flag, nothing else', () => {
    expect(parseMysqlStatusArgs({ port: 3306, credentials: 'prod', facts: true })).toEqual({
      port: 3306,
      credentials: 'prod',
      facts: true,
    });
    for (const bad of [
      {},
      { port: 0 },
      { port: 70000 },
      { port: '3306' },
      { port: 3306, credentials: '../etc/passwd' },
      { port: 3306, credentials: 'a b' },
      { port: 3306, facts: 'yes' },
      { port: 3306, sql: 'DROP TABLE t' },
      { port: 3306, host: '10.0.0.9' },
    ])
      expect(() => parseMysqlStatusArgs(bad), JSON.stringify(bad)).toThrow(/^mysql\.status: /);
  });
});
