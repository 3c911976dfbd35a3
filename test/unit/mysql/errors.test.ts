import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { toStoreError } from '../../../src/mysql/errors.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5001'), { code: 'ECONNREFUSED', fatal: true });
const denied = Object.assign(new Error('x'), {
  code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  sqlMessage: 'Access denied; you need the SUPER privilege',
});

describe('toStoreError', () => {
  it('names the store when the store fails', () => {
    const a = toStoreError(refused, 'db:3306');
    expect(a.code).toBe(ErrorCode.StoreUnavailable);
    expect(a.message).toBe('the store at db:3306 is unavailable: ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5001');
    const b = toStoreError(denied, 'db:3306');
    expect(b.code).toBe(ErrorCode.Store);
    expect(b.message).toBe(
      'store error (ER_SPECIFIC_ACCESS_DENIED_ERROR): Access denied; you need the SUPER privilege',
    );
  });

  it('names the replication node, not the store, when a node fails', () => {
    const a = toStoreError(refused, '127.0.0.1:5001', 'the server');
    expect(a.code).toBe(ErrorCode.StoreUnavailable);
    expect(a.message).toMatch(/^the server at 127\.0\.0\.1:5001 is unavailable: ECONNREFUSED/);
    const b = toStoreError(denied, '127.0.0.1:5001', 'the server');
    expect(b.code).toBe(ErrorCode.Store);
    expect(b.message).toBe(
      'MySQL error at 127.0.0.1:5001 (ER_SPECIFIC_ACCESS_DENIED_ERROR): Access denied; you need the SUPER privilege',
    );
    expect(b.message).not.toMatch(/store/);
  });

  it('keeps a duplicate key a conflict, with the server text', () => {
    const e = toStoreError(
      Object.assign(new Error('x'), { code: 'ER_DUP_ENTRY', sqlMessage: "Duplicate entry 'a' for key 'PRIMARY'" }),
      'db:3306',
    );
    expect(e.code).toBe(ErrorCode.Conflict);
    expect(e.message).toBe("Duplicate entry 'a' for key 'PRIMARY'");
  });
});
