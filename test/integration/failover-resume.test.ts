/**
 * Finishing a cut failover whose chosen replica has died since, on real MariaDB: three plain mariadbd servers on
 * loopback, the master SIGKILLed, a failover cut after it detached the other replica (pointed at the chosen one by
 * CHANGE MASTER, not started), then the chosen replica SIGKILLed too. Running it again re-chooses the replica that
 * answers — promoted though its SQL thread is stopped, since CHANGE MASTER emptied its relay log — and says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore } from '../../src/mysql/store.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createReplicationControl } from '../../src/mysql/replication-control.js';
import { createSilentLogger } from '../../src/log.js';
import { runFailover, type FailoverDeps } from '../../src/cluster/failover.js';
import { storeTopologyLocks } from '../../src/cluster/topology-lock.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ReplicationControl } from '../../src/core/ports/replication-control.js';
import type { Store } from '../../src/core/ports/store.js';
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

describe('resuming a failover whose chosen replica died (real replication)', () => {
  let db: MariadbProcess;
  let topo: PlainTopology;
  let servers: PlainServer[];
  let store: Store;
  let probe: ReplicationProbe;
  let control: ReplicationControl;

  beforeAll(async () => {
    db = await startMariadb();
    topo = createPlainTopology();
    servers = await Promise.all([1, 2, 3].map(async (i) => topo.start({ port: await freePort(), serverId: 70 + i })));
    await Promise.all([servers[1]!.replicateFrom(servers[0]!), servers[2]!.replicateFrom(servers[0]!)]);
    for (const r of servers.slice(1)) await r.sql('SET GLOBAL read_only = 1');
    store = await createMysqlStore({ url: db.url, logger });
    probe = createReplicationProbe({ credentials: topo.accounts.admin, logger });
    control = createReplicationControl({ credentials: topo.accounts.admin });
  }, 120_000);
  afterAll(async () => {
    for (const x of [probe, control, store]) await x?.close().catch(() => undefined);
    await topo?.stop();
    await db?.stop();
  }, 60_000);

  it('cut after others_detached, the chosen one killed: the other replica is promoted, the thread says why', async () => {
    await store.clusters.create(plainClusterRecord('rc', servers));
    await seedThenKillMaster(servers);
    const told: string[] = [];
    const deps = (afterStep?: FailoverDeps['afterStep']): FailoverDeps => ({
      clusters: store.clusters,
      probe,
      control,
      journal: store.changes!,
      locks: storeTopologyLocks(store),
      pool: store.pool,
      failcount: 1,
      intervalMs: 100,
      logger,
      ...(afterStep ? { afterStep } : {}),
    });
    const report = async (t: string) => void told.push(t);
    const cut = deps((s) => {
      if (s === 'others_detached') throw new Error('the bot died here');
    });
    await expect(runFailover(cut, 'rc', { actor: 'U1', automatic: false, report })).rejects.toThrow('the bot died');
    const row = (await store.changes!.running('rc'))!;
    const chosen = servers.find((s) => `${s.address}:${s.port}` === row.to)!;
    const other = servers.slice(1).find((s) => s !== chosen)!;
    // The other replica was detached: pointed at the chosen one, not started.
    expect(await other.slaveStatus()).toMatchObject({ Master_Port: String(chosen.port), Slave_SQL_Running: 'No' });
    await chosen.kill('SIGKILL');

    told.length = 0;
    const r = await runFailover(deps(), 'rc', { actor: 'U1', automatic: false, report });
    expect(r, `${r.summary}\n${told.join('\n')}`).toMatchObject({
      ok: true,
      promoted: `${other.address}:${other.port}`,
    });
    expect(told.join('\n')).toMatch(
      /the choice changed: rc\d:\d+, which failover #1 chose, does not answer .* instead/,
    );
    expect((await other.sql('SELECT @@read_only')).trim()).toBe('0');
    expect(await other.slaveStatus()).toEqual({});
    await other.sql('INSERT INTO app.t VALUES (2)');
    const [first, second] = await store.changes!.recent('rc', 2);
    expect(second).toMatchObject({ id: 1, state: 'failed' });
    expect(first).toMatchObject({ state: 'done', to: `${other.address}:${other.port}` });
    expect((await store.clusters.get('rc'))!.nodes.find((n) => n.role === 'master')?.port).toBe(other.port);
  }, 120_000);
});
