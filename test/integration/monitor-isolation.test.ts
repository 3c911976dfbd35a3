/**
 * One slow statement cannot blind the monitor: /replica sql statements stuck on one cluster's master (blocked on a
 * table lock the test holds) do not delay an alert on another cluster, and each is ended with KILL QUERY at its
 * time-out while the lock is still held. Counted in poll cycles, not in time.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createSilentLogger } from '../../src/log.js';
import type { NodeAddress, ReplicationProbe } from '../../src/core/ports/replication.js';
import type { CommandOutcome } from '../../src/core/ports/commands.js';
import type { MonitorCycle } from '../../src/monitor/monitor.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { until } from '../helpers/wait.js';

const STUCK = 'SELECT COUNT(*) FROM app.t';
// Long enough that the other cluster's alert (two poll cycles of 500 ms) comes well before it, while the
// statements still run.
const SQL_TIMEOUT_S = 5;

describe('the monitor while /replica sql statements are stuck on another cluster', () => {
  let f: Fleet;
  let admin: ReplicationProbe;
  /** Holds LOCK TABLES on the stuck cluster's master: one connection, so UNLOCK runs where LOCK did. */
  let locker: ReplicationProbe;
  const cycles: MonitorCycle[] = [];
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);
  const nodeOf = async (cluster: string, role: 'master' | 'replica'): Promise<NodeAddress & { host: string }> => {
    const n = (await f.ctx.store!.clusters.get(cluster))!.nodes.find((x) => x.role === role)!;
    return { address: n.address, port: n.port, host: n.host };
  };
  const sql = (userId: string, text: string) => {
    const rec = createRecordingReply('C1');
    const done = f.ctx.router.dispatch({
      command: 'replica',
      text,
      principal: { userId, channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: randomUUID(),
    });
    return { rec, done };
  };
  const stuckQueries = async (master: NodeAddress) =>
    (
      await admin.exec(
        master,
        `SELECT ID, STATE FROM information_schema.PROCESSLIST WHERE INFO = '${STUCK}' AND COMMAND = 'Query'`,
      )
    ).rows;

  beforeAll(async () => {
    f = await startFleet({
      env: {
        GEAROPS_SQL_TIMEOUT_S: String(SQL_TIMEOUT_S),
        GEAROPS_SQL_PER_USER: '2',
        GEAROPS_SQL_PER_CLUSTER: '3',
      },
    });
    for (const line of [
      '/replica install iso_stuck master=server1 slaves=server2',
      '/replica install iso_other master=server2 slaves=server3',
    ]) {
      const r = await f.run(line);
      expect(r.outcome.status, r.text).toBe('ok');
    }
    const credentials = { user: 'msandbox', password: 'msandbox' };
    admin = createReplicationProbe({ credentials, logger: createSilentLogger() });
    locker = createReplicationProbe({ credentials, logger: createSilentLogger(), execConnectionLimit: 1 });
    const master = await nodeOf('iso_stuck', 'master');
    await admin.exec(master, 'CREATE DATABASE app');
    await admin.exec(master, 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    f.ctx.monitor!.onCycle((c) => cycles.push(c));
    await f.ctx.monitor!.start();
    await until(() => cycles.length >= 2);
    expect(alerts().map((a) => a.text)).toEqual([]);
  });

  afterAll(async () => {
    await locker?.close();
    await admin?.close();
    await f?.stop();
  });

  it('alerts on the other cluster within two poll cycles, while the stuck statements still run; each is then killed at its time-out', async () => {
    const master = await nodeOf('iso_stuck', 'master');
    await locker.exec(master, 'LOCK TABLES app.t WRITE');
    // Three statements, the per-cluster limit: with connections shared, they would be all the bot has to the node.
    const runs = ['UA', 'UA', 'UB'].map((u) => sql(u, `sql iso_stuck ${STUCK}`));
    const settled: boolean[] = runs.map(() => false);
    runs.forEach((r, i) => void r.done.finally(() => (settled[i] = true)));
    await until(async () => (await stuckQueries(master)).length === 3);

    // Past the limits: a clear answer naming the limit, and nothing runs.
    const perUser = sql('UA', `sql iso_stuck ${STUCK}`);
    expect((await perUser.done).status).toBe('refused');
    expect(perUser.rec.ephemerals.join('\n')).toMatch(
      /^Not run: you already have 2 \/replica sql statements running, the limit per user \(GEAROPS_SQL_PER_USER=2\)/,
    );
    const perCluster = sql('UC', `sql iso_stuck ${STUCK}`);
    expect((await perCluster.done).status).toBe('refused');
    expect(perCluster.rec.ephemerals.join('\n')).toMatch(
      /^Not run: cluster iso_stuck already runs 3 \/replica sql statements, the limit per cluster \(GEAROPS_SQL_PER_CLUSTER=3\)/,
    );
    expect((await stuckQueries(master)).length).toBe(3);

    // Break the other cluster: its replica's IO thread stops.
    const replica = await nodeOf('iso_other', 'replica');
    const before = cycles.length;
    await admin.stopReplication(replica, 'io');
    const broke = cycles.length;
    await until(() =>
      alerts().some((a) => a.text.includes(`${replica.host}:${replica.port}`) && /IO thread stopped/.test(a.text)),
    );
    const alerted = cycles.length;
    // The cycle under way when it broke may have read the replica before; the next one must see it.
    expect(alerted - broke, 'cycles from the break to the alert').toBeLessThanOrEqual(2);
    expect(settled, 'the stuck statements still run').toEqual([false, false, false]);
    // The stuck cluster's master answered the monitor on its own connections all along.
    const missedMaster = cycles
      .slice(before)
      .flatMap((c) => c.missed)
      .filter((m) => m.cluster === 'iso_stuck');
    expect(missedMaster).toEqual([]);
    expect(alerts().filter((a) => a.text.includes('iso_stuck'))).toEqual([]);

    // At the time-out each statement is ended on the server (the lock is still held: only KILL QUERY ends it).
    const outcomes: CommandOutcome[] = await Promise.all(runs.map((r) => r.done));
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'failed', 'failed']);
    for (const r of runs) {
      const text = r.rec.posts.map((p) => p.text).join('\n');
      expect(text).toMatch(
        new RegExp(
          `error: the statement ran past its ${SQL_TIMEOUT_S} s limit on 127\\.0\\.0\\.1:${master.port} and was ended \\(KILL QUERY \\d+\\)`,
        ),
      );
    }
    expect(await stuckQueries(master)).toEqual([]);
    await locker.exec(master, 'UNLOCK TABLES');
    await admin.startReplication(replica);
  });
});
