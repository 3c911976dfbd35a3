import { describe, expect, it } from 'vitest';
import { checkAutomaticChange } from '../../../src/core/pool-guard.js';
import type { PoolNode, PoolRole } from '../../../src/core/ports/store.js';

const node = (host: string, ...type: PoolRole[]): PoolNode => ({ host, port: 3306, sock: '', type });
const take = (host: string, after: PoolRole[] = []) => ({ host, port: 3306, after });

describe('checkAutomaticChange', () => {
  const pool = [node('db1', 'READ', 'WRITE'), node('db2', 'READ'), node('db3', 'READ')];

  it('lets the monitor take out a replica while other READ servers remain', () => {
    expect(checkAutomaticChange(pool, take('db2'))).toEqual({
      allowed: true,
      reason: 'db2:3306 may change automatically',
    });
    expect(checkAutomaticChange(pool, take('db1', ['WRITE'])).allowed).toBe(true);
  });

  it('refuses to take out the last READ server, and says so', () => {
    const last = [node('db1', 'WRITE'), node('db2', 'READ'), node('db3')];
    expect(checkAutomaticChange(last, take('db2'))).toEqual({
      allowed: false,
      reason: 'not taking db2:3306 out: it is the last READ server',
    });
    // The master is the last reader once the replicas are out: dropping only its READ role is refused too.
    const masterOnly = [node('db1', 'READ', 'WRITE'), node('db2'), node('db3')];
    expect(checkAutomaticChange(masterOnly, take('db1', ['WRITE']))).toEqual({
      allowed: false,
      reason: 'not taking db1:3306 out: it is the last READ server',
    });
  });

  it('refuses to leave the pool without a WRITE server, and says so', () => {
    expect(checkAutomaticChange(pool, take('db1', ['READ']))).toEqual({
      allowed: false,
      reason: 'not taking db1:3306 out: it is the last WRITE server',
    });
    expect(checkAutomaticChange(pool, take('db1')).reason).toBe('not taking db1:3306 out: it is the last WRITE server');
  });

  it('allows taking out one of two WRITE servers', () => {
    const two = [node('db1', 'WRITE'), node('db2', 'WRITE'), node('db3', 'READ')];
    expect(checkAutomaticChange(two, take('db1')).allowed).toBe(true);
  });

  it('always allows putting a server back', () => {
    const out = [node('db1', 'WRITE'), node('db2')];
    expect(checkAutomaticChange(out, take('db2', ['READ'])).allowed).toBe(true);
  });

  it('refuses a change to a server that is not in the pool', () => {
    expect(checkAutomaticChange(pool, { host: 'db9', port: 3306, after: [] })).toEqual({
      allowed: false,
      reason: 'db9:3306 is not in the pool',
    });
    // Same host, other port: a different server.
    expect(checkAutomaticChange(pool, { host: 'db2', port: 3307, after: [] }).allowed).toBe(false);
  });

  it('does not change the list it was given', () => {
    const copy = structuredClone(pool);
    checkAutomaticChange(pool, take('db2'));
    expect(pool).toEqual(copy);
  });
});
