/**
 * Fencing of a former master, over fakes: it is made read_only=1 the first poll it answers writable, loses every
 * pool type it has, its return is told once in the failover's thread, and the current master is never fenced.
 */
import { createPostingChat } from '../fakes/ports.js';
import { describe, expect, it } from 'vitest';
import {
  createFencing,
  formerMastersFrom,
  journalFormerMasters,
  type FormerMaster,
  type JournaledChange,
} from '../../../src/monitor/fencing.js';
import { createSilentLogger } from '../../../src/log.js';
import { renderText } from '../../../src/core/message.js';
import type { NodeAddress, NodeStatus } from '../../../src/core/ports/replication.js';
import type { ClusterRecord, PoolChange, PoolNode, PoolRole } from '../../../src/core/ports/store.js';

const base = {
  isReplica: false,
  secondsBehind: null,
  lastIoErrno: null,
  lastIoError: null,
  lastSqlErrno: null,
  lastSqlError: null,
};
const writable: NodeStatus = { ...base, reachable: true, readOnly: false };
const readOnly: NodeStatus = { ...base, reachable: true, readOnly: true };
const down: NodeStatus = { ...base, reachable: false, error: 'refused' };

/** After a failover from db1 to db2: db1 is still in the record, as a replica; db3 replicates from db2. */
const c: ClusterRecord = {
  name: 'db',
  version: '10.11',
  credentials: 'x',
  createdBy: 'U0',
  state: 'ready',
  nodes: [
    { host: 'db2', address: '10.0.0.2', port: 3306, role: 'master', serverId: 2, sandbox: 'db' },
    { host: 'db1', address: '10.0.0.1', port: 3306, role: 'replica', serverId: 1, sandbox: 'db' },
    { host: 'db3', address: '10.0.0.3', port: 3306, role: 'replica', serverId: 3, sandbox: 'db' },
  ],
};

function world(former: FormerMaster[]) {
  const { chat, posts } = createPostingChat();
  const fenced: NodeAddress[] = [];
  const pool = new Map<string, PoolNode>([
    ['10.0.0.1:3306', { host: '10.0.0.1', port: 3306, sock: '', type: ['READ', 'WRITE'] }],
    ['10.0.0.2:3306', { host: '10.0.0.2', port: 3306, sock: '', type: ['READ', 'WRITE'] }],
  ]);
  const fencing = createFencing({
    fencing: { formerMasters: async () => former, setReadOnly: async (n) => void fenced.push(n) },
    probe: { status: async () => down },
    pool: {
      get: async (h, p) => pool.get(`${h}:${p}`) ?? null,
      async set(h, p, type: PoolRole[], actor, reason): Promise<PoolChange> {
        const row = pool.get(`${h}:${p}`)!;
        const before = row.type;
        row.type = type;
        return { host: h, port: p, before, after: type, actor, reason };
      },
    },
    chat,
    alertChannel: 'CALERTS',
    poolChannel: 'CPOOL',
    logger: createSilentLogger(),
  });
  return { fencing, posts, fenced, pool };
}

const db1: FormerMaster = {
  host: 'db1',
  address: '10.0.0.1',
  port: 3306,
  since: new Date(),
  thread: { channel: 'CALERTS', ts: '9.1' },
};

describe('fencing a former master', () => {
  it('makes a returning writable former master read_only=1 at once, takes it out of the pool, and tells the thread', async () => {
    const w = world([db1]);
    await w.fencing.check(c, [writable, down, writable]);
    expect(w.fenced).toEqual([]);
    await w.fencing.check(c, [writable, writable, writable]);
    expect(w.fenced).toEqual([{ address: '10.0.0.1', port: 3306, cluster: 'db' }]);
    expect(w.pool.get('10.0.0.1:3306')!.type).toEqual([]);
    expect(w.pool.get('10.0.0.2:3306')!.type).toEqual(['READ', 'WRITE']);
    const told = w.posts.filter((p) => p.threadTs === '9.1');
    expect(told).toHaveLength(1);
    expect(told[0]!.text).toMatch(
      /db1:3306, the master before the failover, is back and was writable: made it read_only=1/,
    );
    expect(told[0]!.text).toMatch(/\/replica rejoin db db1:3306/);
    expect(w.posts.some((p) => p.channel === 'CPOOL' && /10\.0\.0\.1:3306 READ,WRITE → offline/.test(p.text))).toBe(
      true,
    );
    // Read-only now: nothing more to do or say.
    await w.fencing.check(c, [writable, readOnly, writable]);
    expect(w.fenced).toHaveLength(1);
    expect(w.posts.filter((p) => p.threadTs === '9.1')).toHaveLength(1);
  });

  it('fences again whenever it is found writable (someone set read_only=0 by hand)', async () => {
    const w = world([db1]);
    await w.fencing.check(c, [writable, writable, writable]);
    await w.fencing.check(c, [writable, writable, writable]);
    expect(w.fenced).toHaveLength(2);
  });

  it('tells once when it comes back read-only after being seen down', async () => {
    const w = world([db1]);
    w.pool.get('10.0.0.1:3306')!.type = [];
    await w.fencing.check(c, [writable, down, writable]);
    await w.fencing.check(c, [writable, readOnly, writable]);
    await w.fencing.check(c, [writable, readOnly, writable]);
    expect(w.fenced).toEqual([]);
    const told = w.posts.filter((p) => p.threadTs === '9.1');
    expect(told.map((p) => p.text)).toEqual([expect.stringMatching(/is back, read-only \(read_only=1\)/)]);
  });

  it('never fences the current master, even when it was a former master once', async () => {
    const w = world([{ ...db1, host: 'db2', address: '10.0.0.2' }]);
    await w.fencing.check(c, [writable, writable, writable]);
    expect(w.fenced).toEqual([]);
    expect(w.pool.get('10.0.0.2:3306')!.type).toEqual(['READ', 'WRITE']);
    expect(w.posts).toEqual([]);
  });

  it('fences the recorded master when a failover away from it is cut after the promotion', async () => {
    const w = world([{ ...db1, host: 'db2', address: '10.0.0.2', inFlight: true }]);
    await w.fencing.check(c, [writable, writable, writable]);
    expect(w.fenced.map((a) => a.address)).toEqual(['10.0.0.2']);
  });

  it('reads a former master the record no longer lists itself, and says so in the alert channel without a thread', async () => {
    const w = world([{ ...db1, host: 'db9', address: '10.0.0.9', thread: undefined }]);
    const asked: NodeAddress[] = [];
    const f = createFencing({
      fencing: {
        formerMasters: async () => [{ ...db1, host: 'db9', address: '10.0.0.9', thread: undefined }],
        setReadOnly: async (n) => void w.fenced.push(n),
      },
      probe: { status: async (n) => (asked.push(n), writable) },
      chat: {
        post: async (ch, m) => (w.posts.push({ channel: ch, text: renderText(m) }), { channel: ch, ts: '1' }),
        update: async () => {},
        upload: async () => {},
      },
      alertChannel: 'CALERTS',
      logger: createSilentLogger(),
    });
    await f.check(c, [writable, writable, writable]);
    expect(asked.map((a) => a.address)).toEqual(['10.0.0.9']);
    expect(w.fenced.map((a) => a.address)).toEqual(['10.0.0.9']);
    expect(w.posts[0]).toMatchObject({ channel: 'CALERTS', text: expect.stringMatching(/^db: 🛡️ db9:3306/) });
  });
});

describe('former masters from the change journal', () => {
  const ch = (o: Partial<JournaledChange>): JournaledChange => ({
    kind: 'failover',
    from: '10.0.0.1:3306',
    to: '10.0.0.2:3306',
    state: 'done',
    step: 'recorded',
    startedAt: new Date('2026-12-01T22:00:00Z'),
    detail: {},
    ...o,
  });

  it("names a done failover's old master, with the thread it was told in", () => {
    expect(formerMastersFrom([ch({ detail: { thread: { channel: 'CALERTS', ts: '9.1' } } })], c)).toEqual([
      {
        host: 'db1',
        address: '10.0.0.1',
        port: 3306,
        since: new Date('2026-12-01T22:00:00Z'),
        thread: { channel: 'CALERTS', ts: '9.1' },
      },
    ]);
  });

  it('fences the old master of a failover cut after its promotion, not before, nor of a failed one', () => {
    expect(formerMastersFrom([ch({ state: 'running', step: 'promoted' })], c)).toMatchObject([
      { host: 'db1', inFlight: true },
    ]);
    expect(formerMastersFrom([ch({ state: 'running', step: 'relay_applied' })], c)).toEqual([]);
    expect(formerMastersFrom([ch({ state: 'failed', step: 'chosen' })], c)).toEqual([]);
  });

  it('lets a later rejoin, switchover or promotion of the server settle it (newest first)', () => {
    const rejoin = ch({ kind: 'rejoin', from: '10.0.0.1:3306', to: '10.0.0.2:3306' });
    expect(formerMastersFrom([rejoin, ch({})], c)).toEqual([]);
    const back = ch({ kind: 'switchover', from: '10.0.0.2:3306', to: '10.0.0.1:3306' });
    expect(formerMastersFrom([back, ch({})], c)).toEqual([]);
    // A switchover back to db1 that rolled back changed nothing: db1 is still a former master.
    const undone = ch({ kind: 'switchover', from: '10.0.0.2:3306', to: '10.0.0.1:3306', state: 'rolled_back' });
    expect(formerMastersFrom([undone, ch({})], c).map((f) => f.host)).toEqual(['db1']);
    // Two failovers: db1 → db2, then db2 → db3: both old masters are former masters.
    const second = ch({ from: '10.0.0.2:3306', to: '10.0.0.3:3306' });
    expect(formerMastersFrom([second, ch({})], c).map((f) => f.host)).toEqual(['db2', 'db1']);
  });

  it('reads the journal again only when the record changes or the cache is old', async () => {
    let reads = 0;
    let t = 0;
    const read = journalFormerMasters({ recent: async () => (reads++, [ch({})]) }, { refreshMs: 1000, now: () => t });
    await read(c);
    await read(c);
    expect(reads).toBe(1);
    await read({ ...c, nodes: c.nodes.slice(0, 2) });
    expect(reads).toBe(2);
    t = 5000;
    await read({ ...c, nodes: c.nodes.slice(0, 2) });
    expect(reads).toBe(3);
  });
});
