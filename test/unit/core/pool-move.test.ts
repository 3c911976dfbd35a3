import { describe, expect, it } from 'vitest';
import { planWriteMove, writersOf, type WriteMove } from '../../../src/core/pool-move.js';
import type { PoolNode, PoolRole } from '../../../src/core/ports/store.js';

const n = (host: string, type: PoolRole[]): PoolNode => ({ host, port: 3306, sock: '', type });
const at = (host: string) => ({ host, port: 3306 });
const cluster = ['a', 'b', 'c'].map(at);
const move = (m: Partial<WriteMove>): WriteMove => ({
  cluster,
  to: at('b'),
  from: at('a'),
  fromAfter: ['READ'],
  actor: 'U1',
  reason: 'switchover',
  ...m,
});
const apply = (nodes: PoolNode[], m: WriteMove) => {
  const rows = new Map(nodes.map((x) => [x.host, x]));
  for (const r of planWriteMove(nodes, m)) {
    if (r.after === null) rows.delete(r.host);
    else rows.set(r.host, { ...n(r.host, r.after), sock: r.sock });
  }
  return [...rows.values()];
};

describe('moving WRITE within a cluster', () => {
  it('switchover: the new master READ,WRITE, the old READ, WRITE taken before it is given', () => {
    const pool = [n('a', ['READ', 'WRITE']), n('b', ['READ']), n('c', ['READ']), n('x', ['READ', 'WRITE'])];
    const plan = planWriteMove(pool, move({}));
    expect(plan.map((r) => [r.host, r.before?.join(), r.after?.join()])).toEqual([
      ['a', 'READ,WRITE', 'READ'],
      ['b', 'READ', 'READ,WRITE'],
    ]);
    const after = apply(pool, move({}));
    expect(writersOf(after, cluster).map((x) => x.host)).toEqual(['b']);
    // Another cluster's WRITE server is left alone.
    expect(after.find((x) => x.host === 'x')?.type).toEqual(['READ', 'WRITE']);
  });

  it('failover: the old master leaves the pool; a stray WRITE elsewhere in the cluster is taken too', () => {
    const pool = [n('a', ['READ', 'WRITE']), n('b', ['READ']), n('c', ['WRITE'])];
    const after = apply(pool, move({ fromAfter: 'out' }));
    expect(after.map((x) => [x.host, x.type.join()])).toEqual([
      ['b', 'READ,WRITE'],
      ['c', ''],
    ]);
  });

  it('adds a new master missing from the pool; never gives the old one WRITE back; nothing when already so', () => {
    expect(
      planWriteMove([n('a', ['WRITE'])], move({ to: { ...at('b'), sock: '/s' }, fromAfter: ['READ', 'WRITE'] })),
    ).toEqual([
      { host: 'a', port: 3306, sock: '', before: ['WRITE'], after: ['READ'] },
      { host: 'b', port: 3306, sock: '/s', before: null, after: ['READ', 'WRITE'] },
    ]);
    expect(planWriteMove([n('a', ['READ']), n('b', ['READ', 'WRITE'])], move({}))).toEqual([]);
    expect(() => planWriteMove([], move({ from: at('b') }))).toThrow(/both/);
  });
});
