/**
 * The attack corpus: every hole found by trying gearops as an attacker would, as a test that the hole stays shut.
 * Each group of cases has its own describe block (several engineers add to this file).
 */
import { describe, expect, it } from 'vitest';
import { createReplicaCommand } from '../../../commands/replica.js';
import { createPoolCommand } from '../../../commands/pool.js';
import { parsePolicy } from '../../../src/core/policy/index.js';
import { createSilentLogger } from '../../../src/log.js';
import type { Dispatcher } from '../../../src/core/ports/dispatcher.js';
import type { NodeAddress, ReplicationProbe } from '../../../src/core/ports/replication.js';
import type { ClusterRecord, ClusterStore, PoolStore } from '../../../src/core/ports/store.js';
import { createRecordingReply, fakeCluster } from '../fakes/ports.js';

describe('attack corpus: slow /replica sql statements and mistyped pool types (issue 11.5, issue 12.6)', () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'actions:',
      '  - rule: ops',
      '    actions: [replica.sql, pool.add, pool.set, pool.offline]',
      '    who: everyone',
      'sql:',
      '  - rule: read-only-sql',
      '    statements: [SELECT]',
      '    who: everyone',
      '',
    ].join('\n'),
    'corpus.yml',
  );
  const clusters = { a: fakeCluster('a', 5000), b: fakeCluster('b', 6000) } as Record<string, ClusterRecord>;

  /** A probe whose statements hang until `finish()`; records each statement and its time-out. */
  function slowProbe() {
    const calls: Array<{ node: NodeAddress; sql: string; timeoutMs?: number }> = [];
    const waiting: Array<() => void> = [];
    const probe = {
      exec(node: NodeAddress, sql: string, o?: { timeoutMs?: number }) {
        calls.push({ node, sql, timeoutMs: o?.timeoutMs });
        return new Promise<{ columns: string[]; rows: string[][] }>((resolve) =>
          waiting.push(() => resolve({ columns: ['n'], rows: [['1']] })),
        );
      },
    } as unknown as ReplicationProbe;
    return { probe, calls, finish: () => waiting.splice(0).forEach((f) => f()) };
  }

  function replica(probe: ReplicationProbe) {
    return createReplicaCommand({
      dispatcher: {} as Dispatcher,
      policy,
      clusters: { get: async (n: string) => clusters[n] ?? null } as unknown as ClusterStore,
      probe,
      logger: createSilentLogger(),
      sqlLimits: { perUser: 2, perCluster: 4, timeoutMs: 7000 },
    });
  }
  const sql = (cmd: ReturnType<typeof replica>, userId: string, text: string) => {
    const rec = createRecordingReply('C1');
    const done = cmd.handle({
      command: 'replica',
      text,
      principal: { userId, channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'slack',
      requestId: `${userId}-${Math.random()}`,
    });
    return { rec, done };
  };
  const settle = () => new Promise((r) => setImmediate(r));

  it('sixty slow statements from one user: two run, 58 are refused naming the per-user limit', async () => {
    const p = slowProbe();
    const cmd = replica(p.probe);
    const runs = Array.from({ length: 60 }, () => sql(cmd, 'UEVE', 'sql a SELECT COUNT(*) FROM app.t'));
    const refused = runs.slice(2);
    for (const r of refused) expect((await r.done).status).toBe('refused');
    for (const r of refused)
      expect(r.rec.ephemerals[0]).toMatch(
        /^Not run: you already have 2 \/replica sql statements running, the limit per user \(GEAROPS_SQL_PER_USER=2\)\. .*within 7\.0 s/,
      );
    await settle();
    // Two statements, on each of the cluster's two nodes, each ended at the time-out.
    expect(p.calls).toHaveLength(4);
    expect(new Set(p.calls.map((c) => c.timeoutMs))).toEqual(new Set([7000]));
    p.finish();
    for (const r of runs.slice(0, 2)) expect((await r.done).status).toBe('ok');
    // Their slots are free again.
    const again = sql(cmd, 'UEVE', 'sql a SELECT 1');
    await settle();
    p.finish();
    expect((await again.done).status).toBe('ok');
  });

  it('sixty slow statements from sixty users on one cluster: four run, the rest are refused naming the per-cluster limit; another cluster still runs', async () => {
    const p = slowProbe();
    const cmd = replica(p.probe);
    const runs = Array.from({ length: 60 }, (_, i) => sql(cmd, `U${i}`, 'sql a SELECT COUNT(*) FROM app.t'));
    for (const r of runs.slice(4)) {
      expect((await r.done).status).toBe('refused');
      expect(r.rec.ephemerals[0]).toMatch(
        /^Not run: cluster a already runs 4 \/replica sql statements, the limit per cluster \(GEAROPS_SQL_PER_CLUSTER=4\)/,
      );
    }
    const other = sql(cmd, 'U0', 'sql b SELECT 1');
    await settle();
    expect(p.calls.filter((c) => c.node.port >= 6000)).toHaveLength(2);
    p.finish();
    expect((await other.done).status).toBe('ok');
    for (const r of runs.slice(0, 4)) expect((await r.done).status).toBe('ok');
  });

  it('a statement that failed (ended at its time-out) gives its slot back', async () => {
    let n = 0;
    const probe = {
      async exec() {
        n++;
        throw new Error('the statement ran past its 7 s limit on 10.0.0.1:5000 and was ended (KILL QUERY 12)');
      },
    } as unknown as ReplicationProbe;
    const cmd = replica(probe);
    for (let i = 0; i < 5; i++) {
      const r = sql(cmd, 'UEVE', 'sql a SELECT 1');
      expect((await r.done).status).toBe('failed');
      expect(r.rec.posts[0]?.text).toMatch(/error: the statement ran past its 7 s limit .*\(KILL QUERY 12\)/);
    }
    expect(n).toBe(10);
  });

  it('`/pool add 10.0.0.6:3306 DELETE` is refused as a mistyped type, not added offline with DELETE as the reason', async () => {
    const writes: string[] = [];
    const pool = {
      add: async () => void writes.push('add'),
      set: async () => void writes.push('set'),
    } as unknown as PoolStore;
    const cmd = createPoolCommand({ policy, pool, logger: createSilentLogger() });
    for (const text of [
      'add 10.0.0.6:3306 DELETE',
      'add 10.0.0.6:3306 REDA',
      'set 10.0.0.6:3306 WRTIE',
      'add 10.0.0.6:3306 RAED',
    ]) {
      const rec = createRecordingReply('C1');
      const out = await cmd.handle({
        command: 'pool',
        text,
        principal: { userId: 'U1', channelId: 'C1', roles: [] },
        reply: rec.reply,
        source: 'slack',
        requestId: text,
      });
      expect(out.status, text).toBe('refused');
      expect(rec.ephemerals[0], text).toMatch(/is not a type: use READ, WRITE, READ,WRITE or none/);
    }
    expect(writes).toEqual([]);
  });
});
