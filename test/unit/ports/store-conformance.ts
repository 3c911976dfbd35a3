/**
 * The Store port's contract, as one suite every implementation runs (bullmq's adapter conformance tests are the
 * model): the MariaDB store (test/integration/store-conformance.test.ts) and the in-memory store the unit tests use
 * (test/unit/ports/store.test.ts), so a fake cannot drift from what the real store does. It covers what the code
 * above the port relies on: clusters' life, one open incident per node and kind, audit rows, pool changes and the
 * one-step WRITE move, the change and command journals, locks, and the once-only rules of Slack's requests.
 * The file is long because it is one port's whole contract.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterNode, ClusterRecord, PoolNode, Store } from '../../../src/core/ports/store.js';
import type { WriteMove } from '../../../src/core/pool-move.js';
import { until } from '../../helpers/wait.js';

/** An implementation under test: a store on an empty database of its own, and more stores on the same one. */
export interface StoreHarness {
  store: Store;
  /** Another store on the same database: a second bot instance. */
  peer(): Promise<Store>;
}

const node = (host: string, i: number, over: Partial<ClusterNode> = {}): ClusterNode => ({
  host,
  address: `10.0.0.${i}`,
  port: 3306,
  role: i === 1 ? 'master' : 'replica',
  serverId: i,
  sandbox: 'c',
  ...over,
});

const cluster = (name: string, over: Partial<ClusterRecord> = {}): ClusterRecord => ({
  name,
  version: '10.11.6',
  credentials: 'sandbox',
  createdBy: 'U1',
  nodes: [node('s1', 1), node('s2', 2)],
  ...over,
});

const openArgs = (o: { cluster?: string; host?: string; port?: number; kind?: 'io_stopped' | 'lag' } = {}) => ({
  cluster: o.cluster ?? 'c',
  host: o.host ?? 's2',
  port: o.port ?? 3306,
  kind: o.kind ?? ('io_stopped' as const),
  errno: 2003,
  error: "Can't connect",
  lag: null,
});

/** A three-server cluster in the pool: m READ,WRITE; r1 and r2 READ. */
async function seedPool(store: Store): Promise<Array<{ host: string; port: number }>> {
  const rows: PoolNode[] = [
    { host: 'm', port: 3306, sock: '', type: ['READ', 'WRITE'] },
    { host: 'r1', port: 3306, sock: '', type: ['READ'] },
    { host: 'r2', port: 3306, sock: '', type: ['READ'] },
  ];
  for (const r of rows) await store.pool.add(r, 'U1', 'seed');
  return rows.map(({ host, port }) => ({ host, port }));
}

/** Runs the contract against `make()` (a fresh implementation, on an empty database, per test). */
export function describeStoreConformance(name: string, make: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = [];
    const open = async () => {
      const h = await make();
      opened.push(h.store);
      return {
        store: h.store,
        peer: async () => {
          const s = await h.peer();
          opened.push(s);
          return s;
        },
      };
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    describeClusters(open);
    describeIncidents(open);
    describeAudit(open);
    describePool(open);
    describeChanges(open);
    describeCommands(open);
    describeLocks(open);
    describeInteractions(open);

    it('answers a ping', async () => {
      const { store } = await open();
      expect(await store.ping()).toBe(true);
    });
  });
}

type Open = () => Promise<StoreHarness>;

function describeClusters(open: Open): void {
  describe('clusters', () => {
    it('keeps a record as created, with the defaults filled in and its nodes in order', async () => {
      const { store } = await open();
      const nodes = [
        node('s1', 1),
        node('s2', 2, { replicatesFrom: '10.0.0.1:3306' }),
        node('s3', 3, { via: 's3', sandbox: '' }),
      ];
      await store.clusters.create(cluster('demo', { nodes }));
      const got = await store.clusters.get('demo');
      expect(got).toMatchObject({ name: 'demo', kind: 'built', state: 'ready', version: '10.11.6', createdBy: 'U1' });
      expect(got!.createdAt).toBeInstanceOf(Date);
      expect(got!.installToken).toBeUndefined();
      // Optional node fields come back when they were given, and are absent (not null, not '') when they were not.
      expect(got!.nodes).toEqual(nodes);
      expect(Object.keys(got!.nodes[0]!)).not.toContain('replicatesFrom');
      expect(await store.clusters.get('nope')).toBeNull();
    });

    it('refuses a second cluster of the same name, naming it, and keeps the first', async () => {
      const { store } = await open();
      await store.clusters.create(cluster('demo'));
      await expect(store.clusters.create(cluster('demo', { version: '11.4' }))).rejects.toMatchObject({
        code: 'gearops_conflict',
        message: expect.stringContaining('demo'),
      });
      expect((await store.clusters.get('demo'))?.version).toBe('10.11.6');
    });

    it('lists clusters by name, watched ones with their kind', async () => {
      const { store } = await open();
      await store.clusters.create(cluster('zeta'));
      await store.clusters.create(cluster('alpha', { kind: 'watched' }));
      const list = await store.clusters.list();
      expect(list.map((c) => [c.name, c.kind])).toEqual([
        ['alpha', 'watched'],
        ['zeta', 'built'],
      ]);
    });

    it('goes installing → ready (with its version, the token dropped) → removing → gone', async () => {
      const { store } = await open();
      await store.clusters.create(cluster('demo', { state: 'installing', installToken: 'tok-1', version: '?' }));
      expect(await store.clusters.get('demo')).toMatchObject({ state: 'installing', installToken: 'tok-1' });
      expect(await store.clusters.markReady('demo', '10.11.9')).toBe(true);
      const ready = await store.clusters.get('demo');
      expect(ready).toMatchObject({ state: 'ready', version: '10.11.9' });
      expect(ready!.installToken).toBeUndefined();
      expect(await store.clusters.markRemoving('demo')).toBe(true);
      expect((await store.clusters.get('demo'))?.state).toBe('removing');
      expect(await store.clusters.remove('demo')).toBe(true);
      expect(await store.clusters.get('demo')).toBeNull();
      expect(await store.clusters.remove('demo')).toBe(false);
    });

    it('marks ready only an installing cluster: one being removed stays removing', async () => {
      const { store } = await open();
      await store.clusters.create(cluster('demo', { state: 'installing', installToken: 't' }));
      await store.clusters.markRemoving('demo');
      expect(await store.clusters.markReady('demo', '10.11.9')).toBe(false);
      expect((await store.clusters.get('demo'))?.state).toBe('removing');
      expect(await store.clusters.markReady('gone', '1')).toBe(false);
      expect(await store.clusters.markRemoving('gone')).toBe(false);
    });

    it('keeps no install token for a cluster that is not installing', async () => {
      const { store } = await open();
      await store.clusters.create(cluster('demo', { installToken: 'stray' }));
      expect((await store.clusters.get('demo'))?.installToken).toBeUndefined();
    });

    it("replaces a cluster's nodes, and says false for a cluster that is gone", async () => {
      const { store } = await open();
      await store.clusters.create(cluster('demo'));
      const moved = [node('s2', 2, { role: 'master' }), node('s1', 1, { role: 'replica', replicatesFrom: 'x:1' })];
      expect(await store.clusters.setNodes('demo', moved)).toBe(true);
      expect((await store.clusters.get('demo'))?.nodes).toEqual(moved);
      expect(await store.clusters.setNodes('gone', moved)).toBe(false);
      expect(await store.clusters.get('gone')).toBeNull();
    });

    it('hands out copies: changing a record read does not change the store', async () => {
      const { store } = await open();
      const given = cluster('demo');
      await store.clusters.create(given);
      given.nodes[0]!.port = 1;
      const got = (await store.clusters.get('demo'))!;
      got.nodes[0]!.port = 2;
      got.nodes.pop();
      (await store.clusters.list())[0]!.nodes.pop();
      expect((await store.clusters.get('demo'))?.nodes.map((n) => n.port)).toEqual([3306, 3306]);
    });
  });
}

function describeIncidents(open: Open): void {
  describe('incidents', () => {
    it('opens one incident per node and kind: a second open returns the first', async () => {
      const { store } = await open();
      const a = await store.incidents.open(openArgs());
      expect(a.created).toBe(true);
      expect(a.incident).toMatchObject({
        cluster: 'c',
        host: 's2',
        port: 3306,
        kind: 'io_stopped',
        state: 'open',
        errno: 2003,
        error: "Can't connect",
        lag: null,
        resolvedAt: null,
        alertChannel: null,
        alertTs: null,
        acknowledgedBy: null,
        pooledOut: false,
      });
      expect(a.incident.openedAt).toBeInstanceOf(Date);
      const again = await store.incidents.open({ ...openArgs(), errno: 1, error: 'other' });
      expect(again.created).toBe(false);
      expect(again.incident.id).toBe(a.incident.id);
      expect(again.incident.errno).toBe(2003);
      // Another kind, port or host of the same node is an incident of its own.
      const lag = await store.incidents.open({ ...openArgs({ kind: 'lag' }), lag: 120 });
      const port = await store.incidents.open(openArgs({ port: 3307 }));
      expect(lag.created && port.created).toBe(true);
      expect(new Set([a.incident.id, lag.incident.id, port.incident.id]).size).toBe(3);
      expect(lag.incident.lag).toBe(120);
    });

    it('finds and lists open incidents, oldest first', async () => {
      const { store } = await open();
      const a = (await store.incidents.open(openArgs({ host: 's2' }))).incident;
      const b = (await store.incidents.open(openArgs({ host: 's3' }))).incident;
      expect((await store.incidents.findOpen('c', 's2', 3306, 'io_stopped'))?.id).toBe(a.id);
      expect(await store.incidents.findOpen('c', 's2', 3306, 'lag')).toBeNull();
      expect((await store.incidents.listOpen()).map((i) => i.id)).toEqual([a.id, b.id]);
      expect((await store.incidents.get(b.id))?.host).toBe('s3');
      expect(await store.incidents.get(b.id + 1000)).toBeNull();
    });

    it('updates the fields it is given and leaves the others', async () => {
      const { store } = await open();
      const { incident } = await store.incidents.open(openArgs());
      await store.incidents.update(incident.id, { alertChannel: 'CALERTS', alertTs: '171.1', pooledOut: true });
      await store.incidents.update(incident.id, { acknowledgedBy: 'U2', error: undefined, lag: 5 });
      expect(await store.incidents.get(incident.id)).toMatchObject({
        alertChannel: 'CALERTS',
        alertTs: '171.1',
        pooledOut: true,
        acknowledgedBy: 'U2',
        error: "Can't connect",
        lag: 5,
        errno: 2003,
      });
      await store.incidents.update(incident.id, { pooledOut: false, errno: null });
      expect(await store.incidents.get(incident.id)).toMatchObject({ pooledOut: false, errno: null });
    });

    it('resolves once, at the time given; a new open then starts a new incident', async () => {
      const { store } = await open();
      const { incident } = await store.incidents.open(openArgs());
      const at = new Date(Date.now() - 5000);
      const resolved = await store.incidents.resolve(incident.id, at);
      expect(resolved).toMatchObject({ id: incident.id, state: 'resolved' });
      expect(resolved!.resolvedAt?.getTime()).toBe(at.getTime());
      expect(await store.incidents.findOpen('c', 's2', 3306, 'io_stopped')).toBeNull();
      expect(await store.incidents.listOpen()).toEqual([]);
      // Resolving again changes nothing: it stays resolved at the first time.
      const twice = await store.incidents.resolve(incident.id);
      expect(twice!.resolvedAt?.getTime()).toBe(at.getTime());
      const next = await store.incidents.open(openArgs());
      expect(next.created).toBe(true);
      expect(next.incident.id).not.toBe(incident.id);
      expect(await store.incidents.resolve(incident.id + 1000)).toBeNull();
    });

    it('resolves at the present when no time is given', async () => {
      const { store } = await open();
      const { incident } = await store.incidents.open(openArgs());
      const before = Date.now() - 1000;
      const r = await store.incidents.resolve(incident.id);
      expect(r!.resolvedAt!.getTime()).toBeGreaterThanOrEqual(before);
    });
  });
}

function describeAudit(open: Open): void {
  describe('audit', () => {
    it('reads back the latest rows, newest first, each with an id and a time', async () => {
      const { store } = await open();
      for (const text of ['one', 'two', 'three'])
        await store.audit.record({
          source: 'slack',
          userId: 'U1',
          channelId: 'C1',
          command: 'run',
          text,
          decision: 'allow',
          rule: 'diag',
          status: 'ok',
          host: 'server1',
          exitCode: 0,
          requestId: `r-${text}`,
        });
      const rows = await store.audit.recent(2);
      expect(rows.map((r) => r.text)).toEqual(['three', 'two']);
      expect(rows[0]).toMatchObject({
        source: 'slack',
        userId: 'U1',
        channelId: 'C1',
        command: 'run',
        decision: 'allow',
        rule: 'diag',
        status: 'ok',
        host: 'server1',
        exitCode: 0,
        requestId: 'r-three',
      });
      expect(rows[0]!.id).toBeGreaterThan(rows[1]!.id);
      expect(rows[0]!.at).toBeInstanceOf(Date);
      expect((await store.audit.recent(10)).map((r) => r.text)).toEqual(['three', 'two', 'one']);
    });

    it('dates a late row by its age', async () => {
      const { store } = await open();
      const row = { source: 'monitor', userId: 'gearops', channelId: 'C1', command: 'pool', decision: 'deny' } as const;
      await store.audit.record({ ...row, text: 'late', status: 'denied', ageMs: 3_600_000 });
      await store.audit.record({ ...row, text: 'now', status: 'denied' });
      const [now, late] = await store.audit.recent(2);
      expect(late!.text).toBe('late');
      expect(now!.at.getTime() - late!.at.getTime()).toBeGreaterThanOrEqual(3_590_000);
    });
  });
}

function describePool(open: Open): void {
  describe('pool', () => {
    it('adds, sets and deletes a server, each change in the history, newest first', async () => {
      const { store } = await open();
      const added = await store.pool.add({ host: 'db3', port: 3306, sock: '', type: ['WRITE', 'READ'] }, 'U1', 'new');
      expect(added).toMatchObject({ host: 'db3', port: 3306, before: null, after: ['READ', 'WRITE'], actor: 'U1' });
      expect(await store.pool.get('db3', 3306)).toEqual({ host: 'db3', port: 3306, sock: '', type: ['READ', 'WRITE'] });
      const set = await store.pool.set('db3', 3306, ['READ'], 'U2', 'drain');
      expect(set).toMatchObject({ before: ['READ', 'WRITE'], after: ['READ'], actor: 'U2', reason: 'drain' });
      const offline = await store.pool.set('db3', 3306, [], 'U2', 'disk');
      expect(offline.after).toEqual([]);
      expect((await store.pool.get('db3', 3306))?.type).toEqual([]);
      const del = await store.pool.del('db3', 3306, 'U3', 'gone');
      expect(del).toMatchObject({ before: [], after: null });
      expect(await store.pool.get('db3', 3306)).toBeNull();
      const h = await store.pool.history(10);
      expect(h.map((c) => [c.actor, c.before, c.after])).toEqual([
        ['U3', [], null],
        ['U2', ['READ'], []],
        ['U2', ['READ', 'WRITE'], ['READ']],
        ['U1', null, ['READ', 'WRITE']],
      ]);
      expect(h[0]!.at).toBeInstanceOf(Date);
      expect((await store.pool.history(1)).map((c) => c.reason)).toEqual(['gone']);
    });

    it('lists the pool by host and port', async () => {
      const { store } = await open();
      for (const [host, port] of [
        ['db2', 3307],
        ['db1', 3306],
        ['db2', 3306],
      ] as const)
        await store.pool.add({ host, port, sock: '/tmp/s', type: ['READ'] }, 'U1', 'seed');
      expect((await store.pool.list()).map((n) => `${n.host}:${n.port}`)).toEqual(['db1:3306', 'db2:3306', 'db2:3307']);
      expect((await store.pool.list())[0]).toEqual({ host: 'db1', port: 3306, sock: '/tmp/s', type: ['READ'] });
    });

    it('refuses a server already in the pool, saying as what, and changes nothing', async () => {
      const { store } = await open();
      await store.pool.add({ host: 'db3', port: 3306, sock: '', type: ['READ'] }, 'U1', 'x');
      const err = await store.pool.add({ host: 'db3', port: 3306, sock: '', type: ['WRITE'] }, 'U2', 'y').then(
        () => null,
        (e: unknown) => e as { code: string; message: string; data: { current?: PoolNode } },
      );
      expect(err?.code).toBe('gearops_conflict');
      expect(err?.message).toContain('as READ');
      expect(err?.data.current).toEqual({ host: 'db3', port: 3306, sock: '', type: ['READ'] });
      expect((await store.pool.get('db3', 3306))?.type).toEqual(['READ']);
      expect(await store.pool.history(10)).toHaveLength(1);
    });

    it('refuses to set or delete an unknown server', async () => {
      const { store } = await open();
      await expect(store.pool.set('nope', 3306, ['READ'], 'U1', 'x')).rejects.toMatchObject({
        code: 'gearops_not_found',
      });
      await expect(store.pool.del('nope', 3306, 'U1', 'x')).rejects.toMatchObject({ code: 'gearops_not_found' });
      expect(await store.pool.history(10)).toEqual([]);
    });

    it('refuses a host longer than the column, as a usage error', async () => {
      const { store } = await open();
      await expect(
        store.pool.add({ host: 'h'.repeat(29), port: 1, sock: '', type: [] }, 'U1', 'x'),
      ).rejects.toMatchObject({ code: 'gearops_usage' });
      expect(await store.pool.list()).toEqual([]);
    });

    it('writes no history for a set to the type a server already has', async () => {
      const { store } = await open();
      await store.pool.add({ host: 'db3', port: 3306, sock: '', type: ['READ'] }, 'U1', 'x');
      const same = await store.pool.set('db3', 3306, ['READ'], 'U2', 'again');
      expect(same).toMatchObject({ before: ['READ'], after: ['READ'] });
      expect(await store.pool.history(10)).toHaveLength(1);
    });

    it('moves WRITE in one step: one writer after, the old master READ, the moves in the history', async () => {
      const { store } = await open();
      const members = await seedPool(store);
      await store.pool.add({ host: 'other', port: 3306, sock: '', type: ['READ', 'WRITE'] }, 'U1', 'another cluster');
      const move: WriteMove = {
        cluster: members,
        to: { host: 'r1', port: 3306 },
        from: { host: 'm', port: 3306 },
        fromAfter: ['READ'],
        actor: 'U2',
        reason: 'switchover',
      };
      const made = await store.pool.moveWrite(move);
      // WRITE is taken away before it is given: even applied one by one there are never two writers.
      expect(made.map((c) => [c.host, c.before, c.after])).toEqual([
        ['m', ['READ', 'WRITE'], ['READ']],
        ['r1', ['READ'], ['READ', 'WRITE']],
      ]);
      expect(made.every((c) => c.actor === 'U2' && c.reason === 'switchover')).toBe(true);
      const pool = await store.pool.list();
      const writers = pool.filter((n) => n.type.includes('WRITE')).map((n) => n.host);
      expect(writers).toEqual(['other', 'r1']);
      expect((await store.pool.history(2)).map((c) => c.host)).toEqual(['r1', 'm']);
      // Already so: nothing to do, nothing written.
      expect(await store.pool.moveWrite(move)).toEqual([]);
      expect((await store.pool.history(1))[0]!.host).toBe('r1');
    });

    it('moves WRITE to a server not in the pool (adding it) and takes a failed master out', async () => {
      const { store } = await open();
      const members = await seedPool(store);
      const made = await store.pool.moveWrite({
        cluster: [...members, { host: 'new', port: 3306 }],
        to: { host: 'new', port: 3306, sock: '/s' },
        from: { host: 'm', port: 3306 },
        fromAfter: 'out',
        actor: 'gearops',
        reason: 'failover',
      });
      expect(made.map((c) => [c.host, c.before, c.after])).toEqual([
        ['m', ['READ', 'WRITE'], null],
        ['new', null, ['READ', 'WRITE']],
      ]);
      expect(await store.pool.get('m', 3306)).toBeNull();
      expect(await store.pool.get('new', 3306)).toEqual({
        host: 'new',
        port: 3306,
        sock: '/s',
        type: ['READ', 'WRITE'],
      });
    });

    it('takes WRITE from every other server of the cluster, not only the old master', async () => {
      const { store } = await open();
      const members = await seedPool(store);
      await store.pool.set('r2', 3306, ['READ', 'WRITE'], 'U1', 'a mistake');
      await store.pool.moveWrite({
        cluster: members,
        to: { host: 'r1', port: 3306 },
        from: null,
        fromAfter: ['READ'],
        actor: 'U1',
        reason: 'repair',
      });
      const writers = (await store.pool.list()).filter((n) => n.type.includes('WRITE')).map((n) => n.host);
      expect(writers).toEqual(['r1']);
    });
  });
}

function describeChanges(open: Open): void {
  describe('topology change journal', () => {
    const begin = (store: Store, cluster = 'demo') =>
      store.changes!.begin({
        cluster,
        kind: 'switchover',
        from: '10.0.0.1:3306',
        to: '10.0.0.2:3306',
        actor: 'U1',
        step: 'checks',
        detail: { thread: '1.2' },
      });

    it('journals a change step by step, detail merged, and ends it once', async () => {
      const { store } = await open();
      const c = await begin(store);
      expect(c).toMatchObject({ cluster: 'demo', kind: 'switchover', state: 'running', step: 'checks', actor: 'U1' });
      expect(c.finishedAt).toBeNull();
      expect(c.startedAt).toBeInstanceOf(Date);
      await store.changes!.step(c.id, 'read_only', { note: 'old master read-only', detail: { oldPos: '0-1-5' } });
      await store.changes!.step(c.id, 'catch_up', { detail: { oldPos: '0-1-6', newPos: '0-1-6' } });
      expect(await store.changes!.running('demo')).toMatchObject({
        id: c.id,
        step: 'catch_up',
        detail: { thread: '1.2', oldPos: '0-1-6', newPos: '0-1-6' },
      });
      expect(await store.changes!.finish(c.id, 'rolled_back', { note: 'no catch-up' })).toBe(true);
      expect(await store.changes!.finish(c.id, 'done')).toBe(false);
      await expect(store.changes!.step(c.id, 'late')).rejects.toMatchObject({ code: 'gearops_conflict' });
      const ended = (await store.changes!.get(c.id))!;
      expect(ended).toMatchObject({ state: 'rolled_back', step: 'catch_up' });
      expect(ended.finishedAt).toBeInstanceOf(Date);
      expect(ended.steps.map((s) => [s.step, s.note])).toEqual([
        ['checks', undefined],
        ['read_only', 'old master read-only'],
        ['catch_up', undefined],
        ['rolled_back', 'no catch-up'],
      ]);
      expect(ended.steps.every((s) => s.at instanceof Date)).toBe(true);
      expect(await store.changes!.running('demo')).toBeNull();
    });

    it('allows one running change per cluster, naming the running one; others may change meanwhile', async () => {
      const { store } = await open();
      const c = await begin(store);
      const err = await begin(store).then(
        () => null,
        (e: unknown) => e as { code: string; message: string; data: { current?: { id: number } } },
      );
      expect(err?.code).toBe('gearops_conflict');
      expect(err?.message).toContain(`#${c.id} by U1, at step checks`);
      expect(err?.data.current?.id).toBe(c.id);
      const other = await begin(store, 'other');
      expect(other.id).not.toBe(c.id);
      await store.changes!.finish(c.id, 'done');
      expect((await begin(store)).state).toBe('running');
    });

    it('lists a cluster’s changes newest first, and only its own', async () => {
      const { store } = await open();
      const a = await begin(store);
      await store.changes!.finish(a.id, 'done');
      await begin(store, 'other');
      const b = await begin(store);
      expect((await store.changes!.recent('demo', 10)).map((c) => c.id)).toEqual([b.id, a.id]);
      expect((await store.changes!.recent('demo', 1)).map((c) => c.id)).toEqual([b.id]);
      expect(await store.changes!.recent('none', 10)).toEqual([]);
    });

    it('says not found for a change that does not exist', async () => {
      const { store } = await open();
      expect(await store.changes!.get(4242)).toBeNull();
      await expect(store.changes!.step(4242, 'x')).rejects.toMatchObject({ code: 'gearops_not_found' });
      await expect(store.changes!.finish(4242, 'done')).rejects.toMatchObject({ code: 'gearops_not_found' });
    });

    it('hands out copies: changing what was read changes nothing in the journal', async () => {
      const { store } = await open();
      const c = await begin(store);
      c.steps.push({ step: 'forged', at: new Date() });
      const got = (await store.changes!.get(c.id))!;
      got.detail.thread = 'changed';
      got.steps.push({ step: 'forged', at: new Date() });
      (await store.changes!.running('demo'))!.steps.push({ step: 'forged', at: new Date() });
      (await store.changes!.recent('demo', 1))[0]!.detail.x = 1;
      const again = (await store.changes!.get(c.id))!;
      expect(again.steps.map((s) => s.step)).toEqual(['checks']);
      expect(again.detail).toEqual({ thread: '1.2' });
    });
  });
}

function describeCommands(open: Open): void {
  describe('commands journal', () => {
    const entry = (requestId: string, instance = 'bot-a') => ({
      requestId,
      instance,
      command: 'run',
      text: 'server1 uptime',
      userId: 'U1',
      channelId: 'C1',
      host: 'server1',
      jobId: `job-${requestId}`,
      state: 'accepted' as const,
    });

    it('hands over what is in flight at shutdown, and another instance takes it as it was', async () => {
      const { store, peer } = await open();
      await store.commands!.accept(entry('r1'));
      await store.commands!.accept({ ...entry('r2'), messageTs: '1.1' });
      await store.commands!.accept(entry('r3'));
      await store.commands!.update('r1', { state: 'running', jobHandle: 'H:1', messageTs: '1.2' });
      await store.commands!.update('r3', { state: 'done' });
      expect(await store.commands!.handOver('bot-a')).toBe(2);
      const other = await peer();
      const taken = await other.commands!.claim('bot-b', 3_600_000);
      expect(taken.map((e) => e.requestId).sort()).toEqual(['r1', 'r2']);
      expect(taken.find((e) => e.requestId === 'r1')).toMatchObject({
        command: 'run',
        text: 'server1 uptime',
        userId: 'U1',
        channelId: 'C1',
        host: 'server1',
        jobId: 'job-r1',
        jobHandle: 'H:1',
        messageTs: '1.2',
        state: 'running',
      });
      expect(taken.find((e) => e.requestId === 'r2')).toMatchObject({ messageTs: '1.1', jobHandle: null });
      // Taken once: neither instance gets them again.
      expect(await store.commands!.claim('bot-c', 3_600_000)).toEqual([]);
      expect(await other.commands!.claim('bot-b', 3_600_000)).toEqual([]);
    });

    it('takes over the commands of an instance silent for longer than the staleness asked', async () => {
      const { store, peer } = await open();
      await store.commands!.accept(entry('r1'));
      await store.commands!.accept(entry('r2'));
      await store.commands!.update('r2', { state: 'done' });
      const other = await peer();
      // Silent for longer than 0 ms as soon as the clock moves on: wait for that, not for a time.
      let taken: Awaited<ReturnType<NonNullable<Store['commands']>['claim']>> = [];
      await until(async () => (taken = await other.commands!.claim('bot-b', 0)).length > 0, 10_000, {
        label: 'a stale command claimed',
      });
      expect(taken.map((e) => [e.requestId, e.state])).toEqual([['r1', 'accepted']]);
    });

    it("leaves a live instance's commands alone and refuses a request id twice", async () => {
      const { store } = await open();
      await store.commands!.accept(entry('r1'));
      expect(await store.commands!.claim('bot-b', 3_600_000)).toEqual([]);
      await expect(store.commands!.accept(entry('r1', 'bot-b'))).rejects.toMatchObject({ code: 'gearops_conflict' });
      expect(await store.commands!.handOver('bot-z')).toBe(0);
    });
  });
}

function describeLocks(open: Open): void {
  describe('locks', () => {
    it('is held by one process at a time, and taken by another once released', async () => {
      const { store, peer } = await open();
      const other = await peer();
      const a = store.lock('gearops.test');
      const b = other.lock('gearops.test');
      expect(a.held).toBe(false);
      expect(await a.tryAcquire()).toBe(true);
      expect(a.held).toBe(true);
      expect(await b.tryAcquire()).toBe(false);
      expect(b.held).toBe(false);
      // The holder asking again still holds it.
      expect(await a.tryAcquire()).toBe(true);
      await a.release();
      expect(a.held).toBe(false);
      expect(await b.tryAcquire()).toBe(true);
      expect(await a.tryAcquire()).toBe(false);
      await b.release();
      expect(await a.tryAcquire()).toBe(true);
      await a.release();
    });

    it('keeps locks of different names apart, and two handles of one store apart too', async () => {
      const { store } = await open();
      const a = store.lock('gearops.cluster.a');
      const b = store.lock('gearops.cluster.b');
      const a2 = store.lock('gearops.cluster.a');
      expect(await a.tryAcquire()).toBe(true);
      expect(await b.tryAcquire()).toBe(true);
      expect(await a2.tryAcquire()).toBe(false);
      await a.release();
      expect(await a2.tryAcquire()).toBe(true);
      await Promise.all([a2.release(), b.release()]);
    });

    it('lets a release of a lock never taken pass', async () => {
      const { store } = await open();
      await expect(store.lock('gearops.never').release()).resolves.toBeUndefined();
    });
  });
}

function describeInteractions(open: Open): void {
  describe("Slack's requests", () => {
    it('claims request keys once, over every instance', async () => {
      const { store, peer } = await open();
      const other = await peer();
      expect(await store.interactions.claim(['trigger:1', 'sig:1'])).toBe(true);
      expect(await other.interactions.claim(['trigger:1'])).toBe(false);
      // A retry that shares any key with a taken request is refused, and its new key counts as taken too.
      expect(await other.interactions.claim(['sig:1', 'trigger:2'])).toBe(false);
      expect(await store.interactions.claim(['trigger:2'])).toBe(false);
      expect(await store.interactions.claim(['a', 'a'])).toBe(true);
      expect(await store.interactions.claim([])).toBe(true);
    });

    it('answers a confirmation once, only as asked of, and the asker takes that answer', async () => {
      const { store, peer } = await open();
      const other = await peer();
      await store.interactions.openConfirmation('q1', 'U1', 60_000);
      expect(await store.interactions.settleConfirmation('q1', false)).toBeNull();
      expect(await other.interactions.answerConfirmation('q1', 'U2', true)).toEqual({
        press: 'not_yours',
        askedOf: 'U1',
      });
      expect(await other.interactions.answerConfirmation('q1', 'U1', true)).toEqual({ press: 'ok' });
      expect(await store.interactions.answerConfirmation('q1', 'U1', false)).toEqual({
        press: 'answered',
        askedOf: 'U1',
      });
      expect(await store.interactions.confirmationTaken('q1')).toBeNull();
      expect(await store.interactions.settleConfirmation('q1', false)).toBe(true);
      expect(await other.interactions.confirmationTaken('q1')).toBe(true);
      expect(await store.interactions.answerConfirmation('nope', 'U1', true)).toEqual({ press: 'unknown' });
      expect(await store.interactions.settleConfirmation('nope', true)).toBeNull();
    });

    it('takes "no" when the wait ends unanswered; a later press is refused as expired', async () => {
      const { store } = await open();
      await store.interactions.openConfirmation('q2', 'U1', 60_000);
      expect(await store.interactions.settleConfirmation('q2', true)).toBe(false);
      expect(await store.interactions.answerConfirmation('q2', 'U1', true)).toEqual({
        press: 'expired',
        askedOf: 'U1',
      });
      expect(await store.interactions.confirmationTaken('q2')).toBe(false);
    });

    it('refuses a press after the confirmation expired', async () => {
      const { store } = await open();
      await store.interactions.openConfirmation('q3', 'U1', 0);
      expect(await store.interactions.answerConfirmation('q3', 'U1', true)).toEqual({
        press: 'expired',
        askedOf: 'U1',
      });
    });

    it('counts each user’s commands over every instance, and says how long to wait', async () => {
      const { store, peer } = await open();
      const other = await peer();
      expect(await store.interactions.takeRate('U1', 2, 60_000)).toBe(0);
      expect(await other.interactions.takeRate('U1', 2, 60_000)).toBe(0);
      const wait = await store.interactions.takeRate('U1', 2, 60_000);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(60_000);
      expect(await other.interactions.takeRate('U2', 2, 60_000)).toBe(0);
    });
  });
}
