import { describe, expect, it } from 'vitest';
import { unreachableStatus, type NodeStatus } from '../../../src/core/ports/replication.js';
import { chooseCandidate, rankCandidates, type ReplicaPosition } from '../../../src/cluster/candidate.js';

const status = (s: Partial<NodeStatus> = {}): NodeStatus => ({
  reachable: true,
  isReplica: true,
  ioRunning: 'Connecting',
  sqlRunning: 'Yes',
  secondsBehind: null,
  lastIoErrno: 2003,
  lastIoError: null,
  lastSqlErrno: null,
  lastSqlError: null,
  ...s,
});
const rep = (
  host: string,
  received: string | null,
  executed: string | null = received,
  extra: Partial<ReplicaPosition> = {},
): ReplicaPosition => ({
  node: { host, address: host, port: 3306, role: 'replica', serverId: 2, sandbox: '' },
  status: status(),
  received,
  executed,
  usingGtid: true,
  ...extra,
});
const names = (rs: ReplicaPosition[]) => rs.map((r) => r.node.host);

describe('ranking candidates', () => {
  it('puts the most advanced received GTID first', () => {
    expect(names(rankCandidates([rep('a', '0-1-10'), rep('b', '0-1-12'), rep('c', '0-1-11')]))).toEqual([
      'b',
      'c',
      'a',
    ]);
  });

  it('among equals, puts the least relay log to apply first, then the smaller relay log', () => {
    const r = rankCandidates([
      rep('a', '0-1-12', '0-1-8'),
      rep('b', '0-1-12', '0-1-11'),
      rep('c', '0-1-12', '0-1-11', { relayLogSpace: 100 }),
      rep('d', '0-1-12', '0-1-11', { relayLogSpace: 50 }),
    ]);
    expect(names(r)).toEqual(['b', 'd', 'c', 'a']);
  });

  it('orders incomparable positions by their total', () => {
    expect(names(rankCandidates([rep('a', '0-1-10,1-1-5'), rep('b', '0-1-9,1-1-7')]))).toEqual(['b', 'a']);
  });
});

describe('choosing a candidate', () => {
  it('chooses the best healthy replica and says what the others had that it never got', () => {
    const c = chooseCandidate([rep('a', '0-1-10'), rep('b', '0-1-12')]);
    expect(c.ok && c.chosen.node.host).toBe('b');
    expect(c.ok && c.lostOnChosen).toEqual([]);
  });

  it('excludes replicas that cannot be promoted, with the reason', () => {
    const c = chooseCandidate([
      rep('a', '0-1-20', '0-1-20', { status: unreachableStatus('ECONNREFUSED') }),
      rep('b', '0-1-19', '0-1-19', {
        status: status({ sqlRunning: 'No', lastSqlErrno: 1062, lastSqlError: 'Duplicate' }),
      }),
      rep('c', '0-1-18', '0-1-18', { usingGtid: false }),
      rep('d', '0-1-17'),
    ]);
    expect(c.ok && c.chosen.node.host).toBe('d');
    expect(c.excluded.map((x) => x.node)).toEqual(['a:3306', 'b:3306', 'c:3306']);
    expect(c.excluded[1]?.why).toMatch(/SQL thread failed \(error 1062/);
    expect(c.excluded[2]?.why).toMatch(/not by GTID/);
    // The unreachable one had received more: named as lost on the chosen replica.
    expect(c.ok && c.lostOnChosen.find((x) => x.node === 'a:3306')?.ranges).toEqual([
      { domain: 0, server: 1, from: 18n, to: 20n },
    ]);
  });

  it('refuses when no replica can be promoted', () => {
    const c = chooseCandidate([rep('a', '0-1-1', '0-1-1', { status: status({ sqlRunning: 'No' }) })]);
    expect(c.ok).toBe(false);
    expect(!c.ok && c.reason).toMatch(/no replica can be promoted: a:3306 its SQL thread is stopped/);
  });

  it('takes to= when it is a healthy candidate, and names what the better ones had', () => {
    const c = chooseCandidate([rep('a', '0-1-10'), rep('b', '0-1-12')], 'a:3306');
    expect(c.ok && c.chosen.node.host).toBe('a');
    expect(c.ok && c.lostOnChosen).toEqual([
      { node: 'b:3306', ranges: [{ domain: 0, server: 1, from: 11n, to: 12n }] },
    ]);
  });

  it('refuses a to= that is not a healthy candidate, or not a replica at all', () => {
    const sick = rep('a', '0-1-10', '0-1-10', { status: status({ sqlRunning: 'No' }) });
    const c = chooseCandidate([sick, rep('b', '0-1-12')], 'a:3306');
    expect(!c.ok && c.reason).toMatch(/^a:3306 cannot be promoted \(its SQL thread is stopped/);
    const d = chooseCandidate([rep('b', '0-1-12')], 'zz:1');
    expect(!d.ok && d.reason).toMatch(/zz:1 is not a replica of this cluster's master \(replicas: b:3306\)/);
  });
});
