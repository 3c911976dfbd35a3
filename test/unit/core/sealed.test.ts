import { describe, expect, it } from 'vitest';
import { seal, unseal } from '../../../src/core/sealed.js';

describe('sealed values', () => {
  const secret = 'a-job-secret-of-enough-length';

  it('opens with the same secret and job id, and hides the plaintext', () => {
    const s = seal(secret, 'job-1', '{"password":"hunter2"}');
    expect(s).toMatch(/^s1\.[\w-]+$/);
    expect(s).not.toContain('hunter2');
    expect(unseal(secret, 'job-1', s)).toBe('{"password":"hunter2"}');
    // A fresh nonce every time: the same plaintext never seals the same way twice.
    expect(seal(secret, 'job-1', 'x')).not.toBe(seal(secret, 'job-1', 'x'));
  });

  it('does not open for another job, another secret, or after any change', () => {
    const s = seal(secret, 'job-1', 'payload');
    expect(() => unseal(secret, 'job-2', s)).toThrow(/does not open/);
    expect(() => unseal(`${secret}x`, 'job-1', s)).toThrow(/does not open/);
    const blob = Buffer.from(s.slice(3), 'base64url');
    // One bit changed anywhere: the version byte, the IV, the tag, the ciphertext.
    for (const at of [0, 1, 13, 29, blob.length - 1]) {
      const bad = Buffer.from(blob.map((b, i) => (i === at ? b ^ 1 : b)));
      expect(() => unseal(secret, 'job-1', `s1.${bad.toString('base64url')}`), `byte ${at}`).toThrow(/does not open/);
    }
    for (const junk of ['', 's1', 's2.a.b.c', 'plain text', 's1...'])
      expect(() => unseal(secret, 'job-1', junk)).toThrow(expect.objectContaining({ code: 'gearops_bad_signature' }));
  });
});
