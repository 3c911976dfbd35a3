import { describe, expect, it } from 'vitest';
import { createReplicaCommand, parseInstall } from '../../../commands/replica/index.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import { showMentions, type ChatMessage } from '../../../src/core/message.js';
import type { Dispatcher, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';
import type { ReplicationProbe } from '../../../src/core/ports/replication.js';
import type { ChatSink } from '../../../src/core/ports/chat.js';
import type { PolicyAction } from '../../../src/core/ports/policy.js';
import type { ClusterRecord, ClusterStore, PoolChange, PoolNode, PoolStore } from '../../../src/core/ports/store.js';
import { createFakePolicy, createRecordingReply, routed } from '../fakes/ports.js';

describe('parseInstall', () => {
  it('parses the full form and rejects bad input with a reason', () => {
    expect(
      parseInstall(['demo', 'master=server1', 'slaves=server2,server3', 'version=10.11', 'port=24000', 'pool=yes']),
    ).toEqual({
      cluster: 'demo',
      master: 'server1',
      replicas: ['server2', 'server3'],
      version: '10.11',
      port: 24000,
      pool: true,
    });
    for (const [args, why] of [
      [['demo', 'master=s1'], /slaves=/],
      [['demo', 'master=s1', 'slaves=s1'], /named twice/],
      [['demo', 'master=s1', 'slaves=s2', 'port=80'], /base port/],
      [['demo', 'master=s1', 'slaves=s2', 'colour=red'], /unknown option/],
      [['demo', 'master=s1', 'slaves=s$2'], /not a host name/],
      [['Demo', 'master=s1', 'slaves=s2'], /not a cluster name/],
    ] as Array<[string[], RegExp]>) {
      expect(() => parseInstall(args)).toThrow(why);
    }
  });
});

describe('/replica install when a node fails half-way', () => {
  it('removes every node that was made and records nothing', async () => {
    const requests: JobRequest[] = [];
    const ok = <V>(host: string, capability: string, value: V): JobResult<V> => ({
      host,
      capability,
      handle: 'H',
      ok: true,
      value,
      error: null,
      durationMs: 1,
    });
    const dispatcher: Dispatcher = {
      async submit<V>(req: JobRequest) {
        requests.push(req);
        const a = req.args as { port?: number; role?: string };
        if (req.capability === 'sandbox.check')
          return ok(req.host, req.capability, {
            host: req.host,
            versions: [{ version: '10.11.6', flavour: 'mariadb' }],
            ports: [{ port: (req.args as { ports: number[] }).ports[0], free: true }],
            freeDiskBytes: 1e10,
            sandboxes: [],
          }) as unknown as JobResult<V>;
        if (req.capability === 'sandbox.install' && a.role === 'replica' && req.host === 'server3')
          throw new GearopsError(ErrorCode.Sandbox, 'server3: replication did not start');
        return ok(req.host, req.capability, {
          name: 'demo',
          version: '10.11.6',
          flavour: 'mariadb',
          address: '127.0.0.1',
          port: a.port,
          serverId: 1,
        }) as unknown as JobResult<V>;
      },
      hosts: async () =>
        ['server1', 'server2', 'server3'].map((host) => ({
          host,
          capabilities: ['run', 'sandbox.check', 'sandbox.install', 'sandbox.remove'],
          servers: ['g:4730'],
        })),
      ping: async () => true,
      reachable: async () => undefined,
      close: async () => undefined,
    };
    const created: ClusterRecord[] = [];
    const removed: string[] = [];
    const clusters: ClusterStore = {
      create: async (c) => void created.push(c),
      get: async () => null,
      list: async () => [],
      remove: async (n) => (removed.push(n), true),
      markReady: async () => true,
      markRemoving: async () => true,
      setNodes: async () => true,
    };
    const cmd = createReplicaCommand({
      dispatcher,
      policy: createFakePolicy({ allowActions: ['replica.install'] }),
      clusters,
      probe: {} as ReplicationProbe,
      logger: createSilentLogger(),
    });
    const rec = createRecordingReply();
    const out = await cmd.handle({
      command: 'replica',
      text: 'install demo master=server1 slaves=server2,server3 port=24000',
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: 'r',
    });
    expect(out.status).toBe('failed');
    expect(
      requests
        .filter((r) => r.capability === 'sandbox.remove')
        .map((r) => `${r.host} ${JSON.stringify(r.args)}`)
        .sort(),
    ).toEqual(['server1 {"name":"demo","undo":"install"}', 'server2 {"name":"demo","undo":"install"}']);
    // Recorded as installing before anything was built, and forgotten once everything made was removed.
    expect(created.map((c) => [c.name, c.state, typeof c.installToken])).toEqual([['demo', 'installing', 'string']]);
    expect(removed).toEqual(['demo']);
    expect(rec.updates.at(-1)?.text).toMatch(/server3: replication did not start\. Removed every node that was made/);
  });
});

describe('/replica remove of a cluster whose nodes are in the pool', () => {
  const cluster: ClusterRecord = {
    name: 'c1',
    version: '10.11.6',
    credentials: 'sandbox',
    createdBy: 'U1',
    nodes: [
      { host: 'server1', address: '10.0.0.1', port: 24000, role: 'master', serverId: 1, sandbox: 'c1' },
      { host: 'server2', address: '10.0.0.2', port: 24001, role: 'replica', serverId: 2, sandbox: 'c1' },
    ],
  };
  function setup(opts: { allow: PolicyAction[]; delFails?: string }) {
    const requests: JobRequest[] = [];
    const poolSizeAtStop: number[] = [];
    const dispatcher: Dispatcher = {
      async submit<V>(req: JobRequest) {
        requests.push(req);
        poolSizeAtStop.push(rows.size);
        return {
          host: req.host,
          capability: req.capability,
          handle: 'H',
          ok: true,
          value: { removed: true } as V,
          error: null,
          durationMs: 1,
        };
      },
      hosts: async () => [],
      ping: async () => true,
      reachable: async () => undefined,
      close: async () => undefined,
    };
    const rows = new Map<string, PoolNode>([
      ['10.0.0.1:24000', { host: '10.0.0.1', port: 24000, sock: '', type: ['READ', 'WRITE'] }],
      ['10.0.0.2:24001', { host: '10.0.0.2', port: 24001, sock: '', type: ['READ'] }],
    ]);
    const pool = {
      list: async () => [...rows.values()],
      get: async (h: string, p: number) => rows.get(`${h}:${p}`) ?? null,
      async del(h: string, p: number, actor: string, reason: string): Promise<PoolChange> {
        if (opts.delFails && h === opts.delFails)
          throw new GearopsError(ErrorCode.StoreUnavailable, 'the store is unreachable');
        const cur = rows.get(`${h}:${p}`)!;
        rows.delete(`${h}:${p}`);
        return { host: h, port: p, before: cur.type, after: null, actor, reason };
      },
    } as unknown as PoolStore;
    let removedRecord = false;
    const clusters: ClusterStore = {
      create: async () => undefined,
      get: async () => cluster,
      list: async () => [cluster],
      remove: async () => (removedRecord = true),
      markReady: async () => true,
      markRemoving: async () => true,
      setNodes: async () => true,
    };
    const posts: string[] = [];
    const chat = {
      post: async (_c: string, m: ChatMessage) => void posts.push(showMentions(m.text)),
    } as unknown as ChatSink;
    const policy = createFakePolicy({ allowActions: opts.allow });
    const cmd = createReplicaCommand({
      dispatcher,
      policy,
      clusters,
      pool,
      chat,
      poolChannel: 'CPOOL',
      probe: {} as ReplicationProbe,
      logger: createSilentLogger(),
    });
    const rec = createRecordingReply('C1', { confirm: true });
    const run = () =>
      routed(cmd, policy).handle({
        command: 'replica',
        text: 'remove c1',
        principal: { userId: 'U1', channelId: 'C1', roles: [] },
        reply: rec.reply,
        source: 'console',
        requestId: 'r',
      });
    return { run, rec, rows, requests, posts, poolSizeAtStop, removed: () => removedRecord };
  }

  it('is denied as a whole when the user may remove clusters but not change the pool', async () => {
    const s = setup({ allow: ['replica.remove'] });
    const out = await s.run();
    expect(out.status).toBe('denied');
    expect(s.rec.ephemerals.join('\n')).toMatch(/no rule allows pool\.del/);
    expect(s.rec.confirms).toHaveLength(0);
    expect(s.rows.size).toBe(2);
    expect(s.requests).toHaveLength(0);
    expect(s.removed()).toBe(false);
  });

  it('stops no server when taking a node out of the pool fails, and says what it did', async () => {
    const s = setup({ allow: ['replica.remove', 'pool.del'], delFails: '10.0.0.2' });
    const out = await s.run();
    expect(out.status).toBe('failed');
    expect(s.rec.updates.at(-1)?.text).toBe(
      '✗ cluster c1 not removed: taking 10.0.0.2:24001 out of the pool failed: the store is unreachable. No server was stopped. Already out of the pool: 10.0.0.1:24000.',
    );
    expect(s.requests).toHaveLength(0);
    expect(s.removed()).toBe(false);
    expect(s.posts).toEqual(['Pool: 10.0.0.1:24000 READ,WRITE → not in pool by <@U1> — /replica remove c1']);
  });

  it('takes the nodes out of the pool before stopping them', async () => {
    const s = setup({ allow: ['replica.remove', 'pool.del'] });
    const out = await s.run();
    expect(out.status).toBe('ok');
    expect(s.rows.size).toBe(0);
    expect(s.requests.map((r) => `${r.capability}@${r.host}`)).toEqual([
      'sandbox.remove@server1',
      'sandbox.remove@server2',
    ]);
    expect(s.poolSizeAtStop).toEqual([0, 0]);
    expect(s.posts).toHaveLength(2);
    expect(s.rec.updates.at(-1)?.text).toMatch(
      /removed: 2 servers stopped and deleted, record removed\. Taken out of the pool: 10\.0\.0\.1:24000, 10\.0\.0\.2:24001\. ⚠ The pool now has no WRITE server\./,
    );
    expect(s.removed()).toBe(true);
  });
});
