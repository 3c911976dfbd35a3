import { describe, expect, it } from 'vitest';
import { planSwitchover, switchedNodes, type NodeReading } from '../../../src/cluster/switchover-plan.js';
import { explainSwitchover } from '../../../src/cluster/switchover.js';
import type { GtidState } from '../../../src/core/ports/replication-control.js';
import type { ClusterNode, ClusterRecord } from '../../../src/core/ports/store.js';

const node = (i: number, role: ClusterNode['role'] = 'replica'): ClusterNode => ({
  host: `db${i}`,
  address: `10.0.0.${i}`,
  port: 3306,
  role,
  serverId: i,
  sandbox: '',
});
const cluster = (nodes: ClusterNode[]): ClusterRecord => ({
  name: 'demo',
  version: '10.11',
  credentials: 'x',
  createdBy: 'U1',
  nodes,
});
const masterState = (pos = '0-1-100'): GtidState => ({
  serverId: 1,
  binlogPos: pos,
  currentPos: pos,
  slavePos: '',
  readOnly: false,
  logBin: true,
  logSlaveUpdates: true,
  replicating: false,
  usingGtid: null,
  ioRunning: null,
  sqlRunning: null,
  secondsBehind: null,
  lastIoError: null,
  lastSqlError: null,
  relayBacklog: 0,
});
const replicaState = (over: Partial<GtidState> = {}): GtidState => ({
  ...masterState(''),
  readOnly: true,
  slavePos: '0-1-100',
  replicating: true,
  master: { host: '10.0.0.1', port: 3306 },
  masterUser: 'repl',
  usingGtid: 'Slave_Pos',
  ioRunning: 'Yes',
  sqlRunning: 'Yes',
  secondsBehind: 0,
  ...over,
});
const nodes = [node(1, 'master'), node(2), node(3)];
const read = (states: Array<GtidState | string>): NodeReading[] =>
  states.map((s, i) => (typeof s === 'string' ? { node: nodes[i]!, error: s } : { node: nodes[i]!, state: s }));
const plan = (states: Array<GtidState | string>, to?: string) =>
  planSwitchover(cluster(nodes), read(states), { to, lagThresholdS: 30 });
const reasons = (r: ReturnType<typeof plan>) => (r.ok ? [] : r.reasons);

describe('planning a switchover', () => {
  it('picks the most advanced healthy replica, then the one with the least relay log left', () => {
    const r = plan([masterState(), replicaState({ slavePos: '0-1-99' }), replicaState({ slavePos: '0-1-100' })]);
    expect(r.ok && r.plan.target.host).toBe('db3');
    expect(r.ok && r.plan.others.map((n) => n.host)).toEqual(['db2']);
    const tie = plan([masterState(), replicaState({ relayBacklog: 500 }), replicaState({ relayBacklog: 10 })]);
    expect(tie.ok && [tie.plan.target.host, tie.plan.why]).toEqual(['db3', 'the most up-to-date healthy replica']);
  });

  it('takes to= by address or host name', () => {
    const states = [masterState(), replicaState(), replicaState()];
    expect(plan(states, '10.0.0.2:3306')).toMatchObject({
      ok: true,
      plan: { target: { host: 'db2' }, why: 'asked for' },
    });
    expect(plan(states, 'db2:3306')).toMatchObject({ ok: true, plan: { target: { host: 'db2' } } });
    expect(reasons(plan(states, 'db9:3306'))).toEqual(['db9:3306 is not a node of cluster demo']);
    expect(reasons(plan(states, '10.0.0.1:3306'))).toEqual(['10.0.0.1:3306 is the master already']);
  });

  it('refuses when a node does not answer, naming every one', () => {
    expect(reasons(plan([masterState(), 'connect ECONNREFUSED', 'timeout']))).toEqual([
      '10.0.0.2:3306 does not answer: connect ECONNREFUSED',
      '10.0.0.3:3306 does not answer: timeout',
    ]);
  });

  it('refuses replication by file and position, and a second writable master', () => {
    expect(reasons(plan([masterState(), replicaState({ usingGtid: 'No' }), replicaState()]))).toEqual([
      '10.0.0.2:3306 replicates by binlog file and position, not GTID (Using_Gtid No)',
    ]);
    expect(reasons(plan([masterState(), replicaState(), { ...masterState(), serverId: 3 }]))).toEqual([
      '10.0.0.3:3306 does not replicate (a second master?)',
    ]);
    expect(reasons(plan([{ ...masterState(), readOnly: true }, replicaState(), replicaState()]))[0]).toMatch(
      /read-only already/,
    );
  });

  it('refuses a target that is broken, lagging, or cannot serve the others', () => {
    const ok = replicaState();
    const cases: Array<[Partial<GtidState>, RegExp]> = [
      [
        { sqlRunning: 'No', lastSqlError: "Duplicate entry '1'" },
        /does not replicate cleanly \(IO Yes, SQL No, Duplicate/,
      ],
      [{ secondsBehind: 31 }, /is 31 s behind \(GEAROPS_LAG_THRESHOLD_S is 30\)/],
      [{ secondsBehind: null }, /unknown number of s behind/],
      [{ logSlaveUpdates: false }, /has no log_slave_updates/],
      [{ master: { host: '10.0.0.3', port: 3306 } }, /replicates from 10\.0\.0\.3:3306, not from the master/],
    ];
    for (const [bad, why] of cases) {
      expect(reasons(plan([masterState(), replicaState(bad), ok], '10.0.0.2:3306')), why.source).toEqual([
        expect.stringMatching(why),
      ]);
    }
    // Without to=, every replica's reason when none fits.
    expect(
      reasons(plan([masterState(), replicaState({ secondsBehind: 99 }), replicaState({ ioRunning: 'No' })])),
    ).toHaveLength(2);
  });

  it('plans over nodes read through their workers as over direct ones (the control routes their steps)', () => {
    const c = cluster([
      { ...node(1, 'master'), via: 'db1' },
      { ...node(2), via: 'db2' },
    ]);
    const r = planSwitchover(
      c,
      [
        { node: c.nodes[0]!, state: masterState() },
        { node: c.nodes[1]!, state: replicaState() },
      ],
      { lagThresholdS: 30 },
    );
    expect(reasons(r)).toEqual([]);
    expect(r.ok && r.plan.target.host).toBe('db2');
  });

  it('records the target as master and everyone else as its replica', () => {
    expect(switchedNodes(nodes, nodes[2]!).map((n) => [n.host, n.role, n.replicatesFrom])).toEqual([
      ['db1', 'replica', '10.0.0.3:3306'],
      ['db2', 'replica', '10.0.0.3:3306'],
      ['db3', 'master', undefined],
    ]);
  });
});

describe('a switchover cut half-way, as /replica status says it', () => {
  it('names the change, its step, and the command that finishes it', () => {
    const at = new Date(1_000_000);
    const text = explainSwitchover(
      {
        id: 4,
        cluster: 'demo',
        kind: 'switchover',
        from: '10.0.0.1:3306',
        to: '10.0.0.2:3306',
        step: 'promote',
        state: 'running',
        actor: 'U1',
        startedAt: at,
        updatedAt: at,
        finishedAt: null,
        steps: [{ step: 'promote', at, note: '10.0.0.2:3306 replication reset, read_only=0' }],
        detail: {},
      },
      1_090_000,
    );
    expect(text).toBe(
      '⚠ switchover #4 (10.0.0.1:3306 → 10.0.0.2:3306, by U1) is at step promote (10.0.0.2:3306 replication reset, read_only=0), last moved 90 s ago. /replica switchover demo finishes it: rolled back if 10.0.0.2:3306 was not promoted yet, else completed.',
    );
  });
});
