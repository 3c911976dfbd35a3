import { describe, expect, it } from 'vitest';
import { createHostLimiter } from '../../../src/core/host-limiter.js';

/** A job that runs until its `release` is called. */
function gate() {
  let release = () => {};
  const done = new Promise<void>((r) => (release = r));
  return { release, job: () => done };
}

describe('host limiter', () => {
  it('tells each job scheduled at once past the cap that it waits, with its place in line', async () => {
    const limiter = createHostLimiter({ maxConcurrent: 1 });
    const g = gate();
    const told: Array<[string, number]> = [];
    // Scheduled in one tick: the first has not started yet when the others come.
    const runs = ['a', 'b', 'c'].map((id) => limiter.schedule('h1', g.job, (p) => told.push([id, p])));
    expect(told).toEqual([
      ['b', 1],
      ['c', 2],
    ]);
    expect(limiter.load('h1')).toEqual({ running: 1, queued: 2 });
    // Another host has its own slots.
    const other: number[] = [];
    const o = limiter.schedule(
      'h2',
      async () => 'x',
      (p) => other.push(p),
    );
    expect(other).toEqual([]);
    g.release();
    await Promise.all([...runs, o]);
    expect(limiter.load('h1')).toEqual({ running: 0, queued: 0 });
  });

  it('frees the slot of a job that fails', async () => {
    const limiter = createHostLimiter({ maxConcurrent: 1 });
    await expect(limiter.schedule('h1', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const told: number[] = [];
    expect(
      await limiter.schedule(
        'h1',
        async () => 'ok',
        (p) => told.push(p),
      ),
    ).toBe('ok');
    expect(told).toEqual([]);
  });
});
