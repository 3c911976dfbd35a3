/**
 * The per-cluster topology-change lock on the real MariaDB store: two stores over one database are two bot
 * instances. A failover cut half-way (the bot "died") is resumed by instance A, which is paused mid-sequence
 * (its step hook awaits the test) while it holds the cluster's lock; instance B asks for the same failover and a
 * rejoin meanwhile and is refused, naming the running failover, and nothing changes — neither the journal nor any
 * server. Then A finishes: one writable master. The servers are plain mariadbd processes wired by hand on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore } from '../../src/mysql/store.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createReplicationControl } from '../../src/mysql/replication-control.js';
import { createSilentLogger } from '../../src/log.js';
import { runFailover, type FailoverDeps, type FailoverStep } from '../../src/cluster/failover.js';
import { runRejoin } from '../../src/cluster/rejoin.js';
import { storeTopologyLocks, topologyLockName } from '../../src/cluster/topology-lock.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ReplicationControl } from '../../src/core/ports/replication-control.js';
import type { ClusterRecord, Store } from '../../src/core/ports/store.js';
import { startMariadb } from '../helpers/mariadb.js';
import { freePort } from '../helpers/gearmand.js';
import {
  createPlainTopology,
  plainClusterRecord,
  seedThenKillMaster,
  type PlainServer,
  type PlainTopology,
} from '../helpers/topology.js';

const logger = createSilentLogger();
const quiet = async () => undefined;

describe('the topology-change lock across two bot instances (real store)', () => {
  let db: MariadbProcess;
  let topo: PlainTopology;
  let servers: PlainServer[];
  const stores: Store[] = [];
  const probes: ReplicationProbe[] = [];
  const controls: ReplicationControl[] = [];

  /** One bot instance: its own store connections (and lock connections), probe and control. */
  async function instance(): Promise<(afterStep?: FailoverDeps['afterStep']) => FailoverDeps> {
    const store = await createMysqlStore({ url: db.url, logger });
    const probe = createReplicationProbe({ credentials: topo.accounts.admin, logger });
    const control = createReplicationControl({ credentials: topo.accounts.admin });
    stores.push(store);
    probes.push(probe);
    controls.push(control);
    const locks = storeTopologyLocks(store, { logger });
    return (afterStep) => ({
      clusters: store.clusters,
      probe,
      control,
      journal: store.changes!,
      locks,
      pool: store.pool,
      failcount: 1,
      intervalMs: 100,
      logger,
      ...(afterStep ? { afterStep } : {}),
    });
  }

  beforeAll(async () => {
    db = await startMariadb();
    topo = createPlainTopology();
    servers = await Promise.all([1, 2, 3].map(async (i) => topo.start({ port: await freePort(), serverId: 60 + i })));
    await Promise.all([servers[1]!.replicateFrom(servers[0]!), servers[2]!.replicateFrom(servers[0]!)]);
    // Replicas are read-only, as in any cluster gearops changes: one writable server, the master.
    for (const r of servers.slice(1)) await r.sql('SET GLOBAL read_only = 1');
  }, 120_000);
  afterAll(async () => {
    for (const x of [...probes, ...controls, ...stores]) await x.close().catch(() => undefined);
    await topo?.stop();
    await db?.stop();
  }, 60_000);

  it('B is refused while A resumes a cut failover holding the lock; nothing changes; A finishes it', async () => {
    const a = await instance();
    const b = await instance();
    const record: ClusterRecord = plainClusterRecord('lk', servers);
    await stores[0]!.clusters.create(record);
    await seedThenKillMaster(servers);

    // Instance A's first run is cut after choosing (the bot died): the journal row stays running.
    const died = a((s) => {
      if (s === 'chosen') throw new Error('the bot died here');
    });
    await expect(runFailover(died, 'lk', { actor: 'U1', automatic: false, report: quiet })).rejects.toThrow(
      'the bot died here',
    );
    // A resumes it, and stops mid-sequence holding the lock until the test lets it go on.
    let paused!: () => void;
    let goOn!: () => void;
    const atStep = new Promise<void>((r) => (paused = r));
    const gate = new Promise<void>((r) => (goOn = r));
    const resuming = runFailover(
      a(async (s: FailoverStep) => {
        if (s !== 'relay_applied') return;
        paused();
        await gate;
      }),
      'lk',
      { actor: 'U1', automatic: false, report: quiet },
    );
    await atStep;
    const journal = stores[1]!.changes!;
    const row = await journal.running('lk');
    expect(row).toMatchObject({ kind: 'failover', step: 'relay_applied', state: 'running' });
    const readOnly = async () =>
      Promise.all(servers.slice(1).map(async (s) => (await s.sql('SELECT @@read_only')).trim()));
    expect(await readOnly()).toEqual(['1', '1']);

    // Instance B: the same failover (finishing it, as a second person or the Promote button would), and a rejoin.
    for (const to of [undefined, 'lk3']) {
      const r = await runFailover(b(), 'lk', { actor: 'U2', automatic: false, report: quiet, ...(to ? { to } : {}) });
      expect(r, r.summary).toMatchObject({ ok: false, refused: true });
      expect(r.summary).toMatch(
        new RegExp(
          `a failover of lk is running on another gearops instance .*#${row!.id}, started by .*U1.* now at step relay_applied\\. Nothing was changed`,
        ),
      );
    }
    const rj = await runRejoin(b(), 'lk', 'lk1', { actor: 'U2', report: quiet });
    expect(rj).toMatchObject({ ok: false, refused: true });
    expect(rj.summary).toMatch(/not rejoined: a failover of lk is running on another gearops instance/);
    // Nothing changed: the row where A left it, no server made writable, the record as it was.
    expect(await journal.running('lk')).toEqual(row);
    expect(await readOnly()).toEqual(['1', '1']);
    expect((await stores[1]!.clusters.get('lk'))!.nodes).toEqual(record.nodes);
    // The lock is really held on the store: B's own handle cannot take it either.
    const probeLock = stores[1]!.lock(topologyLockName('lk'));
    expect(await probeLock.tryAcquire()).toBe(false);
    await probeLock.release();

    goOn();
    const done = await resuming;
    expect(done, done.summary).toMatchObject({ ok: true });
    const writable = await Promise.all(servers.slice(1).map(async (s) => (await s.sql('SELECT @@read_only')).trim()));
    expect(writable.filter((x) => x === '0')).toHaveLength(1);
    expect(await journal.running('lk')).toBeNull();
    // Released: B can take it now.
    const after = stores[1]!.lock(topologyLockName('lk'));
    expect(await after.tryAcquire()).toBe(true);
    await after.release();
  }, 120_000);
});
