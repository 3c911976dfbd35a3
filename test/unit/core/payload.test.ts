import { describe, expect, it } from 'vitest';
import { ErrorCode, isGearopsError } from '../../../src/errors.js';
import {
  NonceCache,
  canonicalJson,
  signEvent,
  signJob,
  signResult,
  verifyEvent,
  verifyJob,
  verifyResult,
} from '../../../src/core/payload.js';

const SECRET = 'unit-test-secret-0123456789';
const requester = { userId: 'U1', channelId: 'C1', roles: ['dba'] };

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(isGearopsError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
  it('refuses non-finite numbers', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
  });
});

describe('jobs', () => {
  const opts = () => ({ host: 'server1', capability: 'run', nonces: new NonceCache() });

  it('round-trips a signed job', () => {
    const { payload, envelope } = signJob(SECRET, {
      host: 'server1',
      capability: 'run',
      requester,
      args: { line: 'uptime' },
    });
    const job = verifyJob(SECRET, Buffer.from(payload), opts());
    expect(job).toEqual(envelope);
  });

  it('refuses unsigned, non-JSON and non-UTF-8 input', () => {
    expectCode(() => verifyJob(SECRET, '{"v":1,"kind":"job"}', opts()), ErrorCode.BadSignature);
    expectCode(() => verifyJob(SECRET, 'uptime', opts()), ErrorCode.BadSignature);
    expectCode(() => verifyJob(SECRET, Buffer.from([0xff, 0xfe, 0x7b]), opts()), ErrorCode.BadSignature);
  });

  it('refuses a job signed with another secret', () => {
    const { payload } = signJob('another-secret-0123456789', {
      host: 'server1',
      capability: 'run',
      requester,
      args: {},
    });
    expectCode(() => verifyJob(SECRET, payload, opts()), ErrorCode.BadSignature);
  });

  it('refuses a tampered job (args changed after signing)', () => {
    const { payload } = signJob(SECRET, { host: 'server1', capability: 'run', requester, args: { line: 'uptime' } });
    const tampered = payload.replace('uptime', 'reboot');
    expect(tampered).not.toBe(payload);
    expectCode(() => verifyJob(SECRET, tampered, opts()), ErrorCode.BadSignature);
  });

  it('refuses stale and far-future jobs', () => {
    const old = signJob(SECRET, { host: 'server1', capability: 'run', requester, args: {}, now: Date.now() - 61_000 });
    expectCode(() => verifyJob(SECRET, old.payload, opts()), ErrorCode.StaleJob);
    const future = signJob(SECRET, {
      host: 'server1',
      capability: 'run',
      requester,
      args: {},
      now: Date.now() + 61_000,
    });
    expectCode(() => verifyJob(SECRET, future.payload, opts()), ErrorCode.StaleJob);
  });

  it('refuses a replay of the same job', () => {
    const o = opts();
    const { payload } = signJob(SECRET, { host: 'server1', capability: 'run', requester, args: {} });
    verifyJob(SECRET, payload, o);
    expectCode(() => verifyJob(SECRET, payload, o), ErrorCode.ReplayedJob);
  });

  it('takes a resend of a job (a new attempt, signed anew) once, and refuses a replay of any send', () => {
    const o = opts();
    const first = signJob(SECRET, { host: 'server1', capability: 'run', requester, args: {} });
    verifyJob(SECRET, first.payload, o);
    const again = signJob(SECRET, {
      host: 'server1',
      capability: 'run',
      requester,
      args: {},
      id: first.envelope.id,
      attempt: 2,
    });
    expect(verifyJob(SECRET, again.payload, o)).toMatchObject({ id: first.envelope.id, attempt: 2 });
    expectCode(() => verifyJob(SECRET, again.payload, o), ErrorCode.ReplayedJob);
    expectCode(() => verifyJob(SECRET, first.payload, o), ErrorCode.ReplayedJob);
    // The attempt number is signed: it cannot be changed to slip a replay through.
    const tampered = again.payload.replace('"attempt":2', '"attempt":3');
    expect(tampered).not.toBe(again.payload);
    expectCode(() => verifyJob(SECRET, tampered, o), ErrorCode.BadSignature);
    for (const attempt of [1.5, 101]) {
      const odd = signJob(SECRET, { host: 'server1', capability: 'run', requester, args: {}, attempt });
      expectCode(() => verifyJob(SECRET, odd.payload, o), ErrorCode.BadSignature);
    }
  });

  it('refuses a job for another host or capability', () => {
    const { payload } = signJob(SECRET, { host: 'server2', capability: 'run', requester, args: {} });
    expectCode(() => verifyJob(SECRET, payload, opts()), ErrorCode.WrongHost);
    const other = signJob(SECRET, { host: 'server1', capability: 'sandbox.remove', requester, args: {} });
    expectCode(() => verifyJob(SECRET, other.payload, opts()), ErrorCode.BadSignature);
  });

  it('refuses a too-short secret at signing time', () => {
    expectCode(() => signJob('short', { host: 'h', capability: 'run', requester, args: {} }), ErrorCode.Config);
  });

  it('refuses oversized envelopes before parsing', () => {
    expectCode(() => verifyJob(SECRET, 'x'.repeat(300 * 1024), opts()), ErrorCode.BadSignature);
  });
});

describe('events and results', () => {
  const job = { id: 'job-1', host: 'server1', capability: 'run' };

  it('verifies an event of the right job only', () => {
    const raw = signEvent(SECRET, 'job-1', 'r1', 0, { type: 'output', stream: 'stdout', text: 'hi' });
    expect(verifyEvent(SECRET, raw, 'job-1').event).toEqual({ type: 'output', stream: 'stdout', text: 'hi' });
    expectCode(() => verifyEvent(SECRET, raw, 'job-2'), ErrorCode.BadResult);
    expectCode(() => verifyEvent('wrong-secret-0123456789', raw, 'job-1'), ErrorCode.BadSignature);
  });

  it('verifies a result and rejects one from a rogue worker or for another job', () => {
    const raw = signResult(SECRET, {
      job: 'job-1',
      host: 'server1',
      capability: 'run',
      ok: true,
      value: { exitCode: 0 },
      error: null,
      durationMs: 5,
    });
    expect(verifyResult(SECRET, raw, job).value).toEqual({ exitCode: 0 });
    const rogue = signResult('rogue-secret-0123456789', {
      job: 'job-1',
      host: 'server1',
      capability: 'run',
      ok: true,
      value: 'pwned',
      error: null,
      durationMs: 1,
    });
    expectCode(() => verifyResult(SECRET, rogue, job), ErrorCode.BadResult);
    expectCode(() => verifyResult(SECRET, raw, { ...job, id: 'job-2' }), ErrorCode.BadResult);
    expectCode(() => verifyResult(SECRET, raw, { ...job, host: 'server2' }), ErrorCode.BadResult);
    expectCode(() => verifyResult(SECRET, 'plain text result', job), ErrorCode.BadResult);
  });
});

describe('NonceCache', () => {
  it('tells the job server handing a job out again from a replay, by the hand-out it came with', () => {
    const c = new NonceCache(1000);
    expect(c.check('j1', 'g1:4730|H:a:1', 0)).toBe('new');
    // gearmand re-hands the same job (same handle): to another connection, or to the worker back after a crash.
    expect(c.check('j1', 'g1:4730|H:a:1', 10)).toBe('again');
    // The same signed job submitted again by anyone gets a new handle: a replay.
    expect(c.check('j1', 'g1:4730|H:a:2', 20)).toBe('replay');
    expect(c.check('j1', 'g2:4730|H:a:1', 20)).toBe('replay');
    expect(c.check('j1', '', 20)).toBe('replay');
    expect(c.check('j2', '', 20)).toBe('new');
    expect(c.check('j2', '', 30)).toBe('replay');
  });

  it('keeps what it saw in its store, so a new cache (a restarted worker) still refuses a replay, and cuts the store back now and then', () => {
    let saved: Array<{ id: string; expires: number; binding: string }> = [];
    let rewrites = 0;
    const store = {
      load: (now: number) => saved.filter((e) => e.expires > now),
      append: (e: { id: string; expires: number; binding: string }) => void saved.push(e),
      rewrite: (entries: Array<{ id: string; expires: number; binding: string }>) => {
        rewrites++;
        saved = [...entries];
      },
    };
    const now = Date.now();
    const first = new NonceCache(60_000, 100_000, store);
    expect(first.check('j1', 's|H:1', now)).toBe('new');
    const second = new NonceCache(60_000, 100_000, store);
    expect(second.check('j1', 's|H:9', now + 1)).toBe('replay');
    expect(second.check('j1', 's|H:1', now + 1)).toBe('again');
    // A busy worker: jobs every 10 ms, each remembered for a second. The saved record is cut back to the
    // hundred or so live entries instead of growing by a line per job for ever.
    const busy = new NonceCache(1000, 100_000, store);
    for (let i = 0; i < 3000; i++) busy.check(`k${i}`, 's|H', now + 10 * i);
    expect(rewrites).toBeGreaterThanOrEqual(2);
    expect(saved.length).toBeLessThan(1200);
    expect(saved.some((e) => e.id === 'k2999')).toBe(true);
  });

  it('forgets ids after the ttl and caps its size', () => {
    const c = new NonceCache(1000, 2);
    expect(c.remember('a', 0)).toBe(true);
    expect(c.remember('a', 500)).toBe(false);
    expect(c.remember('a', 1500)).toBe(true);
    c.remember('b', 1500);
    c.remember('c', 1500);
    expect(c.remember('a', 1600)).toBe(true);
  });
});
