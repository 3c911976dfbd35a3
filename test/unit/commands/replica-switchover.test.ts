/**
 * /replica switchover above the ports: a simulated topology behind ReplicationControl checks after every call
 * that at most one node is writable, and the pool (memory) that at most one server of the cluster has WRITE.
 */
import { describe, expect, it } from 'vitest';
import { createSwitchoverCommand, parseSwitchover } from '../../../commands/replica-switchover.js';
import type { GtidState, ReplicationControl } from '../../../src/core/ports/replication-control.js';
import type { NodeAddress } from '../../../src/core/ports/replication.js';
import type { ClusterNode, ClusterRecord, ClusterStore, PoolNode } from '../../../src/core/ports/store.js';
import { loadPolicyFile } from '../../../src/core/policy/index.js';
import { writersOf } from '../../../src/core/pool-move.js';
import { storeTopologyLocks, topologyLockName } from '../../../src/cluster/topology-lock.js';
import {
  createFakePolicy,
  createMemoryChangeJournal,
  createMemoryLocks,
  createRecordingReply,
  memoryMoveWrite,
  routed,
} from '../fakes/ports.js';

const key = (n: { address: string; port: number }) => `${n.address}:${n.port}`;
const node = (i: number, role: ClusterNode['role']): ClusterNode => ({
  host: `db${i}`,
  address: `10.0.0.${i}`,
  port: 3306,
  role,
  serverId: i,
  sandbox: `s${i}`,
});

/** Three nodes replicating by GTID; `fail` makes one call throw. */
function world(
  opts: {
    fail?: { call: string; node?: string };
    catchUp?: boolean;
    locks?: ReturnType<typeof createMemoryLocks>;
  } = {},
) {
  const locks = opts.locks ?? createMemoryLocks();
  const nodes = [node(1, 'master'), node(2, 'replica'), node(3, 'replica')];
  const cluster: ClusterRecord = { name: 'demo', version: '10.11', credentials: 'x', createdBy: 'U1', nodes };
  type Sim = { readOnly: boolean; master: string | null; seq: number };
  const sim = new Map<string, Sim>(
    nodes.map((n) => [
      key(n),
      { readOnly: n.role !== 'master', master: n.role === 'master' ? null : '10.0.0.1:3306', seq: 100 },
    ]),
  );
  const calls: string[] = [];
  const violations: string[] = [];
  const check = (what: string) => {
    const writable = [...sim].filter(([, s]) => !s.readOnly).map(([k]) => k);
    if (writable.length > 1) violations.push(`${what}: writable ${writable.join(', ')}`);
  };
  const call = (name: string, n: NodeAddress) => {
    calls.push(`${name} ${key(n)}`);
    if (opts.fail?.call === name && (!opts.fail.node || opts.fail.node === key(n))) throw new Error(`${name} broke`);
    return sim.get(key(n))!;
  };
  const control: ReplicationControl = {
    async gtidState(n) {
      const s = call('gtidState', n);
      const pos = `0-1-${s.seq}`;
      const [host, port] = (s.master ?? ':').split(':');
      return {
        serverId: 1,
        binlogPos: pos,
        currentPos: pos,
        slavePos: s.master ? pos : '',
        readOnly: s.readOnly,
        logBin: true,
        logSlaveUpdates: true,
        replicating: !!s.master,
        ...(s.master ? { master: { host: host!, port: Number(port) }, masterUser: 'repl' } : {}),
        usingGtid: s.master ? 'Slave_Pos' : null,
        ioRunning: s.master ? 'Yes' : null,
        sqlRunning: s.master ? 'Yes' : null,
        secondsBehind: s.master ? 0 : null,
        lastIoError: null,
        lastSqlError: null,
        relayBacklog: 0,
      } satisfies GtidState;
    },
    async setReadOnly(n, on) {
      call(`read_only=${on ? 1 : 0}`, n).readOnly = on;
      check(`read_only=${on ? 1 : 0} ${key(n)}`);
    },
    async killWriters(n) {
      call('killWriters', n);
      return { ids: [7], lingering: [] };
    },
    async waitForGtid(n) {
      call('waitForGtid', n);
      return opts.catchUp ?? true;
    },
    async detachReplication(n) {
      call('detach', n).master = null;
    },
    async pointAt(n, m) {
      call('pointAt', n).master = key(m);
    },
    async startReplication(n) {
      call('start', n);
    },
    hasReplicationAccount: () => true,
    async close() {},
  };
  const rows = new Map<string, PoolNode>(
    nodes.map((n) => [
      key(n),
      { host: n.address, port: n.port, sock: '', type: n.role === 'master' ? ['READ', 'WRITE'] : ['READ'] },
    ]),
  );
  const moveWrite = memoryMoveWrite(rows);
  const pool = {
    list: async () => [...rows.values()],
    async moveWrite(m: Parameters<typeof moveWrite>[0]) {
      if (opts.fail?.call === 'moveWrite') throw new Error('store down');
      const out = await moveWrite(m);
      if (
        writersOf(
          [...rows.values()],
          cluster.nodes.map((n) => ({ host: n.address, port: n.port })),
        ).length !== 1
      )
        violations.push('pool: not exactly one WRITE');
      return out;
    },
  };
  let saved: ClusterNode[] | null = null;
  const clusters = {
    get: async (name: string) => (name === 'demo' ? cluster : null),
    setNodes: async (_: string, n: ClusterNode[]) => ((saved = n), true),
  } as unknown as ClusterStore;
  const journal = createMemoryChangeJournal();
  const announced: string[] = [];
  const run = (line: string, o: { policy?: ReturnType<typeof createFakePolicy>; user?: string } = {}) => {
    const rec = createRecordingReply('C1', { confirm: true });
    const policy = o.policy ?? createFakePolicy({ allowActions: ['replica.switchover'] });
    const cmd = createSwitchoverCommand({
      policy,
      clusters,
      probe: { verifyReplication: async (_m, rs) => rs.map((r) => ({ node: r, ok: true, detail: 'arrived' })) },
      control,
      journal,
      locks: storeTopologyLocks(locks),
      pool: pool as never,
      chat: {
        post: async (_c, m) => (announced.push(m.text), { channel: 'CPOOL', ts: '1' }),
        update: async () => {},
        upload: async () => {},
      },
      poolChannel: 'CPOOL',
      lagThresholdS: 30,
    });
    const inv = {
      command: 'replica',
      text: line,
      principal: { userId: o.user ?? 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console' as const,
      requestId: 'r1',
    };
    // Behind the router, as the transports run it: it answers a thrown denial.
    const mod = {
      name: 'replica',
      description: '',
      usage: '',
      handle: (i: Parameters<typeof cmd>[0]) => cmd(i, line.split(/\s+/).slice(1)),
    };
    return routed(mod, policy)
      .handle(inv)
      .then((outcome) => ({ outcome, rec }));
  };
  return { sim, calls, violations, rows, journal, announced, run, locks, saved: () => saved };
}

describe('/replica switchover', () => {
  it('parses the cluster and to=, refusing anything else', () => {
    expect(parseSwitchover(['demo'])).toEqual({ cluster: 'demo' });
    expect(parseSwitchover(['demo', 'to=db2:3306'])).toEqual({ cluster: 'demo', to: 'db2:3306' });
    expect(parseSwitchover(['demo', 'to=db2'])).toEqual({ cluster: 'demo', to: 'db2' });
    for (const bad of [
      [],
      ['Demo'],
      ['demo', 'to=db2:'],
      ['demo', 'to=db2:0'],
      ['demo', 'to=db2:99999'],
      ['demo', "to=x';--:1"],
      ['demo', 'a', 'b'],
    ])
      expect(() => parseSwitchover(bad), bad.join(' ')).toThrow(/Usage: \/replica switchover/);
  });

  it('switches in order, never with two writable nodes or two WRITE servers, and tells every step', async () => {
    const w = world();
    const { outcome, rec } = await w.run('switchover demo to=10.0.0.3:3306');
    expect(outcome.status, rec.updates.map((u) => u.text).join('\n')).toBe('ok');
    expect(w.violations).toEqual([]);
    const order = w.calls.filter((c) => !c.startsWith('gtidState'));
    expect(order.slice(0, 5)).toEqual([
      'read_only=1 10.0.0.1:3306',
      'killWriters 10.0.0.1:3306',
      'waitForGtid 10.0.0.3:3306',
      'detach 10.0.0.3:3306',
      'read_only=0 10.0.0.3:3306',
    ]);
    expect(w.sim.get('10.0.0.1:3306')).toMatchObject({ readOnly: true, master: '10.0.0.3:3306' });
    expect(w.sim.get('10.0.0.2:3306')).toMatchObject({ readOnly: true, master: '10.0.0.3:3306' });
    expect(w.rows.get('10.0.0.3:3306')?.type).toEqual(['READ', 'WRITE']);
    expect(w.rows.get('10.0.0.1:3306')?.type).toEqual(['READ']);
    expect(w.announced.join('\n')).toMatch(/10\.0\.0\.3:3306 READ → READ,WRITE/);
    expect(w.saved()?.find((n) => n.role === 'master')?.host).toBe('db3');
    const thread = rec.posts.filter((p) => p.threadTs).map((p) => p.text);
    expect(thread.every((t) => /^\d\d:\d\d:\d\d\.\d{3} /.test(t))).toBe(true);
    expect(thread).toHaveLength(7);
    expect(w.journal.rows[0]).toMatchObject({
      state: 'done',
      kind: 'switchover',
      from: '10.0.0.1:3306',
      to: '10.0.0.3:3306',
    });
    expect(w.journal.rows[0]!.steps.map((s) => s.step)).toEqual([
      'checks',
      'read_only',
      'catch_up',
      'promote',
      'repoint',
      'prove',
      'pool',
      'record',
      'done',
    ]);
  });

  for (const [call, nodeKey, what] of [
    ['pointAt', '10.0.0.2:3306', 'a replica cannot be repointed'],
    ['read_only=0', '10.0.0.3:3306', 'the target cannot be made writable'],
  ] as const)
    it(`rolls back when ${what}: the old master writable again, the others on it`, async () => {
      const w = world({ fail: { call, node: nodeKey } });
      const { outcome, rec } = await w.run('switchover demo to=10.0.0.3:3306');
      expect(outcome.status).toBe('failed');
      expect(w.violations).toEqual([]);
      expect(rec.updates.at(-1)?.text).toMatch(/rolled back/);
      expect(w.sim.get('10.0.0.1:3306')).toMatchObject({ readOnly: false, master: null });
      for (const k of ['10.0.0.2:3306', '10.0.0.3:3306'])
        expect(w.sim.get(k)).toMatchObject({ readOnly: true, master: '10.0.0.1:3306' });
      expect(w.rows.get('10.0.0.1:3306')?.type).toEqual(['READ', 'WRITE']);
      expect(w.journal.rows[0]?.state).toBe('rolled_back');
    });

  it('a target that does not catch up in time: rolled back before anything else changed', async () => {
    const w = world({ catchUp: false });
    const { outcome } = await w.run('switchover demo');
    expect(outcome.status).toBe('failed');
    expect(w.calls.filter((c) => /detach|pointAt/.test(c))).toEqual([]);
    expect(w.sim.get('10.0.0.1:3306')?.readOnly).toBe(false);
    expect(w.violations).toEqual([]);
  });

  it('the pool that cannot be changed after the proof: no rollback, the state said', async () => {
    const w = world({ fail: { call: 'moveWrite' } });
    const { outcome, rec } = await w.run('switchover demo to=10.0.0.2:3306');
    expect(outcome.status).toBe('failed');
    expect(w.violations).toEqual([]);
    expect(w.sim.get('10.0.0.2:3306')).toMatchObject({ readOnly: false, master: null });
    expect(rec.updates.at(-1)?.text).toMatch(
      /10\.0\.0\.2:3306 is the master .* WRITE is still on 10\.0\.0\.1:3306, which is read-only/,
    );
    expect(w.journal.rows[0]?.state).toBe('failed');
  });

  it('is denied by the policy naming the rule, touching nothing', async () => {
    const w = world();
    const { outcome, rec } = await w.run('switchover demo', {
      policy: loadPolicyFile('policies/default.yml') as never,
    });
    expect(outcome).toMatchObject({ status: 'denied' });
    expect(rec.ephemerals.join('\n')).toMatch(/dba-changes/);
    expect(w.calls).toEqual([]);
  });

  it('refuses a switchover while another change of the cluster runs, touching nothing', async () => {
    const w = world();
    await w.journal.begin({ cluster: 'demo', kind: 'failover', from: 'a:1', to: 'b:1', actor: 'U2', step: 'pick' });
    const busy = await w.run('switchover demo');
    expect(busy.outcome.status).toBe('refused');
    expect(busy.rec.ephemerals.join()).toMatch(/failover #1 of demo .* is running/);
    expect(w.calls).toEqual([]);
  });

  it('takes to= as a host name that names one node, and refuses an unknown one with the valid names', async () => {
    const w = world();
    const { outcome, rec } = await w.run('switchover demo to=db3');
    expect(outcome.status, rec.updates.map((u) => u.text).join('\n')).toBe('ok');
    expect(w.journal.rows[0]).toMatchObject({ state: 'done', to: '10.0.0.3:3306' });
    const w2 = world();
    const bad = await w2.run('switchover demo to=db9');
    expect(bad.outcome.status).toBe('refused');
    expect(bad.rec.ephemerals.join()).toMatch(/db9 is not a node of cluster demo \(its nodes: db1, db2, db3\)/);
    expect(w2.calls.filter((c) => !c.startsWith('gtidState'))).toEqual([]);
    expect(w2.journal.rows).toEqual([]);
  });

  it('is refused while another instance holds the cluster topology lock, touching nothing', async () => {
    const w = world();
    // Another bot instance over the same store (its own lock connection), mid-rejoin: no journal row yet.
    const other = w.locks.lock(topologyLockName('demo'));
    expect(await other.tryAcquire()).toBe(true);
    const busy = await w.run('switchover demo');
    expect(busy.outcome.status).toBe('refused');
    expect(busy.rec.ephemerals.join()).toMatch(
      /Not switched: a topology change of demo is running on another gearops instance .*Nothing was changed/,
    );
    expect(w.calls.filter((c) => !c.startsWith('gtidState'))).toEqual([]);
    expect(w.journal.rows).toEqual([]);
    expect([...w.sim.values()].filter((s) => !s.readOnly)).toHaveLength(1);
    // Released, the same command runs; and the lock is free again afterwards.
    await other.release();
    const ok = await w.run('switchover demo');
    expect(ok.outcome.status).toBe('ok');
    expect(w.locks.holders.size).toBe(0);
  });
});
