import { describe, expect, it } from 'vitest';
import { blockHeader, gather, prefixedOutput, renderGathered, type HostAnswer } from '../../../src/core/gather.js';
import { mapLimit } from '../../../src/core/fanout.js';

const ok = (host: string, output: string): HostAnswer => ({ host, failed: false, status: 'exit 0', output });

describe('gather', () => {
  it('puts hosts with byte-identical output in one block headed by their folded names', () => {
    const blocks = gather([
      ok('db1', 'up 3 days\n'),
      ok('db2', 'up 3 days\n'),
      ok('db3', 'up 3 days\n'),
      ok('db5', 'up 3 days\n'),
    ]);
    expect(blocks).toHaveLength(1);
    expect(blockHeader(blocks[0]!)).toBe('db[1-3,5] (4 hosts) — exit 0');
  });

  it('gives hosts that differ blocks of their own, even by one byte', () => {
    const blocks = gather([ok('db1', 'a\n'), ok('db2', 'a \n'), ok('db3', 'a\n')]);
    expect(blocks.map((b) => b.nodeset)).toEqual(['db[1,3]', 'db2']);
  });

  it('lists failures first, and keeps the same output with another exit code apart', () => {
    const blocks = gather([
      ok('db1', 'x\n'),
      { host: 'db2', failed: true, status: 'exit 2', output: 'x\n' },
      { host: 'db9', failed: true, status: 'denied: rule `diagnostics` is for hosts db1, not this host', output: '' },
      { host: 'db4', failed: true, status: 'no worker: not registered on the job servers', output: '' },
      { host: 'db8', failed: true, status: 'denied: rule `diagnostics` is for hosts db1, not this host', output: '' },
    ]);
    expect(blocks.map(blockHeader)).toEqual([
      'db2 (1 host) — exit 2',
      'db4 (1 host) — no worker: not registered on the job servers',
      'db[8-9] (2 hosts) — denied: rule `diagnostics` is for hosts db1, not this host',
      'db1 (1 host) — exit 0',
    ]);
  });

  it('renders blocks as clush -b does and prefixes every line with its host for the file', () => {
    const answers = [
      ok('db2', 'l1\nl2\n'),
      ok('db1', 'l1\nl2\n'),
      { host: 'db3', failed: true, status: 'exit 1', output: '' },
    ];
    expect(renderGathered(gather(answers))).toBe(
      'db3 (1 host) — exit 1\n---------------------\n\ndb[1-2] (2 hosts) — exit 0\n--------------------------\nl1\nl2',
    );
    expect(prefixedOutput(answers)).toBe(
      'db1: l1\ndb1: l2\ndb1: [exit 0]\ndb2: l1\ndb2: l2\ndb2: [exit 0]\ndb3: [exit 1]\n',
    );
  });
});

describe('mapLimit', () => {
  it('never has more than the limit in flight, and keeps the input order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      for (let i = 0; i < n; i++) await Promise.resolve();
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('does not let one stuck task hold up the others', async () => {
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((r) => (release = r));
    const done: number[] = [];
    const all = mapLimit([0, 1, 2, 3], 2, async (n) => {
      if (n === 0) await stuck;
      done.push(n);
    });
    await new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < 5 && done.length < 3; i++) await new Promise((r) => setImmediate(r));
    expect(done).toEqual([1, 2, 3]);
    release();
    await all;
    expect(done).toEqual([1, 2, 3, 0]);
  });
});
