/**
 * Automatic failover's counting, lock and block logic, over fakes of the store, the probe, the lock and the
 * failover sequence: the monitor's poll cycles (pollOnce) are driven by hand, so every assertion is about polls.
 */
import { describe, expect, it } from 'vitest';
import { autoFailoverVerdict, type AutoFailoverDeps } from '../../../src/monitor/auto-failover.js';
import { createReplicationMonitor } from '../../../src/monitor/monitor.js';
import { createSilentLogger } from '../../../src/log.js';
import type { Policy, PolicySettings } from '../../../src/core/ports/policy.js';
import type { NodeAddress, NodeStatus, ReplicationProbe } from '../../../src/core/ports/replication.js';
import type { ClusterNode, ClusterRecord, Store } from '../../../src/core/ports/store.js';
import { createFakePolicy, createPostingChat } from '../fakes/ports.js';
import { createMemoryIncidents } from '../fakes/memory-store.js';

const base = {
  isReplica: false,
  secondsBehind: null,
  lastIoErrno: null,
  lastIoError: null,
  lastSqlErrno: null,
  lastSqlError: null,
};
const up: NodeStatus = { ...base, reachable: true };
const down: NodeStatus = { ...base, reachable: false, error: 'connect ECONNREFUSED' };
const replicaOk: NodeStatus = { ...base, reachable: true, isReplica: true, ioRunning: 'Yes', sqlRunning: 'Yes' };
const replicaRetrying: NodeStatus = {
  ...base,
  reachable: true,
  isReplica: true,
  ioRunning: 'Connecting',
  sqlRunning: 'Yes',
  lastIoErrno: 2003,
  lastIoError: "Can't connect to server",
};

function cluster(name: string, replicas: number): ClusterRecord {
  const node = (i: number): ClusterNode => ({
    host: `${name}${i + 1}`,
    address: `10.0.0.${i + 1}`,
    port: 3306,
    role: i === 0 ? 'master' : 'replica',
    serverId: i + 1,
    sandbox: name,
  });
  return {
    name,
    version: '10.11',
    credentials: 'test',
    createdBy: 'U0',
    state: 'ready',
    nodes: Array.from({ length: replicas + 1 }, (_, i) => node(i)),
  };
}

/** The monitor lock; `lostAfterStatus`: held when a cycle starts, lost once that cycle has read a status. */
interface Lock {
  held: boolean;
  lostAfterStatus: boolean;
  statusRead: boolean;
}

function fakeStore(clusters: ClusterRecord[], lock: Lock) {
  const store = {
    clusters: { list: async () => clusters, get: async (n: string) => clusters.find((c) => c.name === n) ?? null },
    incidents: createMemoryIncidents(),
    lock: () => ({
      get held() {
        return lock.held;
      },
      async tryAcquire() {
        if (!lock.lostAfterStatus) return lock.held;
        return !lock.statusRead;
      },
      release: async () => undefined,
    }),
  };
  return store as unknown as Pick<Store, 'clusters' | 'incidents' | 'pool' | 'lock'>;
}

/** A world of one cluster: statuses by address are set by the test; the failover is a recording fake. */
function world(opts: { replicas?: number; settings?: Partial<PolicySettings>; last?: Date | null } = {}) {
  const c = cluster('db', opts.replicas ?? 2);
  const lock: Lock = { held: true, lostAfterStatus: false, statusRead: false };
  const status = new Map<string, NodeStatus>(c.nodes.map((n) => [n.address, n.role === 'master' ? up : replicaOk]));
  const { chat, posts } = createPostingChat();
  const probe = {
    status: async (n: NodeAddress) => {
      lock.statusRead = true;
      return status.get(n.address)!;
    },
  } as unknown as ReplicationProbe;
  const runs: string[] = [];
  const history = { last: opts.last ?? null };
  // Each run ends when the test says so (finish), whether or not the run got that far yet.
  type Ended = { ok: boolean; summary: string; refused?: boolean };
  let finish: (r: Ended) => void = () => undefined;
  let ended = new Promise<Ended>((r) => (finish = r));
  const failover: AutoFailoverDeps = {
    run: async (name, o) => {
      runs.push(name);
      history.last = new Date();
      await o.report('step: promoting db2:3306');
      const r = await ended;
      ended = new Promise((res) => (finish = res));
      return r;
    },
    lastFailover: async () => history.last,
  };
  const fake = createFakePolicy();
  const settings: PolicySettings = {
    ...fake.settings,
    autoFailover: true,
    failcount: 3,
    failoverBlockS: 3600,
    ...opts.settings,
  };
  const policy: Policy = { ...fake, settings };
  const newMonitor = () =>
    createReplicationMonitor({
      store: fakeStore([c], lock),
      probe,
      chat,
      alertChannel: 'CALERTS',
      policy,
      logger: createSilentLogger(),
      intervalMs: 1000,
      lagThresholdS: 30,
      nodeDeadlineMs: 200,
      failover,
    });
  const killMaster = () => {
    status.set('10.0.0.1', down);
    for (const n of c.nodes.slice(1)) status.set(n.address, replicaRetrying);
  };
  const said = (re: RegExp) => posts.filter((p) => re.test(p.text));
  return {
    c,
    lock,
    status,
    posts,
    runs,
    history,
    settings,
    newMonitor,
    killMaster,
    said,
    finish: (ok = true) => finish({ ok, summary: ok ? 'db2:3306 is the master' : 'promotion failed' }),
    refuse: (summary: string) => finish({ ok: false, refused: true, summary }),
  };
}

const polls = async (m: { pollOnce(): Promise<boolean> }, n: number) => {
  for (let i = 0; i < n; i++) await m.pollOnce();
};

describe('autoFailoverVerdict (pure)', () => {
  it('waits for failcount polls, blocks within failover_block_s first, then needs the loss confirmed by two', () => {
    const now = new Date('2026-12-01T22:00:00Z');
    const two = { lost: true, confirming: ['a', 'b'], reason: '' };
    const v = (down: number, lost: number, poll: typeof two, last: Date | null) =>
      autoFailoverVerdict({ down, lost, failcount: 3, poll, last, blockS: 3600, now }).act;
    expect(v(2, 2, two, null)).toBe('wait');
    expect(v(3, 3, two, null)).toBe('fail_over');
    expect(v(3, 2, two, null)).toBe('wait');
    expect(v(3, 3, { ...two, confirming: ['a'] }, null)).toBe('too_few');
    expect(v(3, 0, { ...two, lost: false }, null)).toBe('unconfirmed');
    expect(v(3, 0, { ...two, lost: false }, new Date(now.getTime() - 60_000))).toBe('blocked');
    expect(v(3, 3, two, new Date(now.getTime() - 3599_000))).toBe('blocked');
    expect(v(3, 3, two, new Date(now.getTime() - 3600_000))).toBe('fail_over');
  });
});

describe('automatic failover in the monitor', () => {
  it('fails over once, on the failcount-th poll of the loss, and reports into the master thread', async () => {
    const w = world();
    const m = w.newMonitor();
    await polls(m, 1);
    w.killMaster();
    await polls(m, 2);
    expect(w.runs).toEqual([]);
    await polls(m, 1);
    expect(w.runs).toEqual(['db']);
    const parent = w.posts.find((p) => !p.threadTs && /master lost/.test(p.text))!;
    expect(parent).toBeDefined();
    expect(w.said(/Automatic failover of db: master db1:3306 has been lost for 3 polls/)[0]?.threadTs).toBe(
      `1.${w.posts.indexOf(parent) + 1}`,
    );
    expect(w.said(/step: promoting db2:3306/)).toHaveLength(1);
    // While it runs the cluster is left alone, and it is never started twice.
    await polls(m, 3);
    expect(w.runs).toEqual(['db']);
    w.finish();
    await m.stop();
    expect(w.said(/Automatic failover of db finished: db2:3306 is the master/)).toHaveLength(1);
  });

  it('says a run refused by the topology-change lock changed nothing (not that it stopped half-way)', async () => {
    const w = world();
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 3);
    expect(w.runs).toEqual(['db']);
    w.refuse('not failing over db: a failover of db is running on another gearops instance');
    await m.stop();
    expect(
      w.said(
        /Automatic failover of db not started, nothing was changed: not failing over db: a failover of db is running/,
      ),
    ).toHaveLength(1);
    expect(w.said(/did not finish/)).toEqual([]);
  });

  it('starts counting again when the master answers or a replica still reads from it', async () => {
    const w = world();
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 2);
    w.status.set('10.0.0.3', replicaOk); // one replica still connected: not lost
    await polls(m, 2);
    // Down for failcount polls but not confirmed: said once, with the replica that does not confirm.
    expect(
      w.said(/after 3 polls: the bot cannot reach the master db1:3306 .*but not every replica confirms: db3:3306/),
    ).toHaveLength(1);
    w.killMaster();
    await polls(m, 2);
    w.status.set('10.0.0.1', up); // the master answers again
    await polls(m, 1);
    w.killMaster();
    await polls(m, 2);
    expect(w.runs).toEqual([]);
    await polls(m, 1);
    expect(w.runs).toEqual(['db']);
    w.finish();
    await m.stop();
  });

  it('never fails over from an instance that does not hold the monitor lock', async () => {
    const w = world();
    const m = w.newMonitor();
    w.killMaster();
    w.lock.held = false;
    await polls(m, 5);
    expect(w.runs).toEqual([]);
    w.lock.held = true;
    // Held at the start of each cycle, lost by the time the failover would start (a store restart between the two).
    w.lock.lostAfterStatus = true;
    m.onCycle(() => (w.lock.statusRead = false));
    await polls(m, 4);
    expect(w.runs).toEqual([]);
    w.lock.lostAfterStatus = false;
    await polls(m, 1);
    expect(w.runs).toEqual(['db']);
    w.finish();
    await m.stop();
  });

  it('with one replica holds failcount polls, then says a person should look, once, and never fails over', async () => {
    const w = world({ replicas: 1 });
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 2);
    expect(w.said(/A person should look/)).toHaveLength(0);
    await polls(m, 5);
    expect(w.runs).toEqual([]);
    const look = w.said(/Not failing over automatically: only one replica \(db2:3306\) can confirm/);
    expect(look).toHaveLength(1);
    expect(look[0]!.text).toMatch(/A person should look: `\/replica failover db`/);
    expect(look[0]!.threadTs).toBeDefined();
    await m.stop();
  });

  it('does not fail over again within failover_block_s, says why once, and a restarted monitor keeps the block', async () => {
    const w = world({ last: new Date(Date.now() - 600_000) });
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 6);
    expect(w.runs).toEqual([]);
    const why = w.said(/Not failing over automatically: db failed over 10 min 0 s ago .*failover_block_s \(3600 s\)/);
    expect(why).toHaveLength(1);
    await m.stop();
    // A new bot process knows nothing of its own: the block comes from the store's history.
    const m2 = w.newMonitor();
    await polls(m2, 4);
    expect(w.runs).toEqual([]);
    expect(w.said(/failover_block_s \(3600 s\) allows no second automatic failover/)).toHaveLength(2);
    await m2.stop();
  });

  it('after a failover, a second loss within the window alerts but does not fail over', async () => {
    const w = world({ replicas: 3 });
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 3);
    expect(w.runs).toEqual(['db']);
    w.finish();
    await m.stop();
    // The sequence made db2 the master; the monitor (a fresh process) sees it lost too.
    w.c.nodes = [{ ...w.c.nodes[1]!, role: 'master' }, { ...w.c.nodes[2]! }, { ...w.c.nodes[3]! }];
    w.status.set('10.0.0.2', down);
    w.status.set('10.0.0.3', replicaRetrying);
    w.status.set('10.0.0.4', replicaRetrying);
    const m2 = w.newMonitor();
    await polls(m2, 5);
    expect(w.runs).toEqual(['db']);
    expect(w.posts.some((p) => !p.threadTs && /db2:3306 — master lost/.test(p.text))).toBe(true);
    expect(w.said(/Not failing over automatically: db failed over .* ago/)).toHaveLength(1);
    await m2.stop();
  });

  it('tries a failed run only once per loss, and never with auto_failover off', async () => {
    const w = world();
    const m = w.newMonitor();
    w.killMaster();
    await polls(m, 3);
    w.finish(false);
    await polls(m, 4);
    expect(w.runs).toEqual(['db']);
    expect(w.said(/did not finish: promotion failed\. It will not be tried again automatically/)).toHaveLength(1);
    await m.stop();

    const off = world({ settings: { autoFailover: false } });
    const m3 = off.newMonitor();
    off.killMaster();
    await polls(m3, 6);
    expect(off.runs).toEqual([]);
    expect(off.said(/Not failing over|Automatic failover/)).toHaveLength(0);
    await m3.stop();
  });
});
