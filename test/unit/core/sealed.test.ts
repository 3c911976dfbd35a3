import { describe, expect, it } from 'vitest';
import { seal, unseal } from '../../../src/core/sealed.js';

describe('sealed values', () => {
  const secret = 'a-job-secret-of-enough-length';

  it('opens with the same secret and job id, and hides the plaintext', () => {
    const s = seal(secret, 'job-1', '{"password":"hunter2"}');
    expect(s).toMatch(/^s1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(s).not.toContain('hunter2');
    expect(unseal(secret, 'job-1', s)).toBe('{"password":"hunter2"}');
    // A fresh nonce every time: the same plaintext never seals the same way twice.
    expect(seal(secret, 'job-1', 'x')).not.toBe(seal(secret, 'job-1', 'x'));
  });

  it('does not open for another job, another secret, or after any change', () => {
    const s = seal(secret, 'job-1', 'payload');
    expect(() => unseal(secret, 'job-2', s)).toThrow(/does not open/);
    expect(() => unseal(`${secret}x`, 'job-1', s)).toThrow(/does not open/);
    const parts = s.split('.');
    const flip = (p: string) =>
      Buffer.from(Buffer.from(p, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url');
    for (const i of [1, 2, 3]) {
      const bad = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      expect(() => unseal(secret, 'job-1', bad), `part ${i}`).toThrow(/does not open/);
    }
    for (const junk of ['', 's1', 's2.a.b.c', 'plain text', 's1...'])
      expect(() => unseal(secret, 'job-1', junk)).toThrow(expect.objectContaining({ code: 'gearops_bad_signature' }));
  });
});
