import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createSilentLogger } from '../../src/log.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import type { AppContext } from '../../src/app.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { freePortRange } from '../helpers/gearmand.js';
import { pollCycles, until } from '../helpers/wait.js';

describe('replication monitor and alert threads on a real cluster', () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let ctx2: AppContext | null = null;
  const node = (port: number) => ({ address: '127.0.0.1', port });
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);
  const thread = (ts: string) => f.sink.posts.filter((p) => p.threadTs === ts);
  // The master's port (its replicas: the next two), free on this run.
  let P = 0;
  // Poll cycles the first context's monitor has finished.
  let cycles = 0;

  beforeAll(async () => {
    f = await startFleet();
    P = await freePortRange(3);
    const r = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${P} pool=yes`);
    expect(r.outcome.status, r.text).toBe('ok');
    probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
    await probe.exec(node(P), 'CREATE DATABASE app');
    await probe.exec(node(P), 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    f.ctx.monitor!.onCycle(() => cycles++);
    await f.ctx.monitor!.start();
  });

  afterAll(async () => {
    await probe?.close();
    await ctx2?.close();
    await f?.stop();
  });

  it('fills the pool on install (master READ,WRITE, replicas READ)', async () => {
    const pool = await f.ctx.store!.pool.list();
    expect(pool.map((n) => [n.port, n.type.join(',')])).toEqual([
      [P, 'READ,WRITE'],
      [P + 1, 'READ'],
      [P + 2, 'READ'],
    ]);
  });

  it('opens exactly one alert for a duplicate-key conflict, takes the replica out of the pool, and resolves in the same thread', async () => {
    await until(
      async () =>
        (await probe.exec(node(P + 1), 'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "app"'))
          .rows[0]?.[0] === '1',
    );
    await probe.exec(node(P + 1), 'INSERT INTO app.t VALUES (1)');
    const broke = cycles;
    await probe.exec(node(P), 'INSERT INTO app.t VALUES (1)');
    await until(() => alerts().some((a) => a.text.includes(`server2:${P + 1}`) && a.text.includes('1062')));
    const parent = alerts().find((a) => a.text.includes(`server2:${P + 1}`))!;
    // The cycle under way may have read the replica before the row reached it; one of the next two must see it.
    expect(cycles - broke, 'cycles from the break to the alert').toBeLessThanOrEqual(3);
    expect(parent.text).toMatch(/SQL thread stopped/);
    expect(parent.text).toMatch(/Duplicate entry '1'/);
    await until(async () => (await f.ctx.store!.pool.get('127.0.0.1', P + 1))?.type.length === 0);
    expect(
      f.sink.posts.some(
        (p) =>
          p.channel === 'CPOOL' && new RegExp(`127\\.0\\.0\\.1:${P + 1} READ → offline by the monitor`).test(p.text),
      ),
    ).toBe(true);
    await pollCycles(f.ctx.monitor!, 3);
    expect(alerts().filter((a) => a.text.includes(`server2:${P + 1}`))).toHaveLength(1);
    await probe.skipOneEvent(node(P + 1));
    await until(() =>
      thread(parent.ref.ts).some((p) =>
        new RegExp(`Resolved: SQL thread stopped on server2:${P + 1} cleared after`).test(p.text),
      ),
    );
    expect(f.sink.updates.some((u) => u.ref.ts === parent.ref.ts && /RESOLVED/.test(u.text))).toBe(true);
    await until(async () => (await f.ctx.store!.pool.get('127.0.0.1', P + 1))?.type.join(',') === 'READ');
  });

  it('keeps one thread across a bot restart, and the Restart button brings a stopped IO thread back', async () => {
    await probe.stopReplication(node(P + 2), 'io');
    await until(() => alerts().some((a) => a.text.includes(`server3:${P + 2}`) && /IO thread stopped/.test(a.text)));
    const parent = alerts().find((a) => a.text.includes(`server3:${P + 2}`))!;
    // "Restart" the bot: the old one stops (its lock goes), a new one takes over the same store.
    await f.ctx.monitor!.stop();
    ctx2 = await f.newContext();
    const looked = pollCycles(ctx2.monitor!, 3);
    await ctx2.monitor!.start();
    await looked;
    expect(alerts().filter((a) => a.text.includes(`server3:${P + 2}`))).toHaveLength(1);
    const incident = (await ctx2.store!.incidents.listOpen()).find((i) => i.host === 'server3')!;
    expect(incident.alertTs).toBe(parent.ref.ts);
    const rec = createRecordingReply('CALERTS');
    const out = await ctx2.router.dispatchAction({
      actionId: 'incident.restart',
      value: String(incident.id),
      principal: { userId: 'UDBA', channelId: 'CALERTS', roles: [] },
      message: parent.ref,
      threadTs: parent.ref.ts,
      reply: rec.reply,
      source: 'slack',
      requestId: 'btn1',
    });
    expect(out.status).toBe('ok');
    expect(thread(parent.ref.ts).some((p) => /<@UDBA> pressed \*Restart replication\*/.test(p.text))).toBe(true);
    await until(() =>
      thread(parent.ref.ts).some((p) => new RegExp(`Resolved: IO thread stopped on server3:${P + 2}`).test(p.text)),
    );
    const audit = await ctx2.store!.audit.recent(20);
    expect(audit.some((a) => a.command === 'incident.restart' && a.userId === 'UDBA' && a.status === 'ok')).toBe(true);
  });

  it("runs the alert buttons on a real replica: acknowledge, put back, take out, skip one event; a master's pool button changes nothing", async () => {
    const press = (actionId: string, incidentId: number, parentTs: string, userId = 'UDBA') => {
      const rec = createRecordingReply('CALERTS');
      const parent = { channel: 'CALERTS', ts: parentTs };
      return ctx2!.router
        .dispatchAction({
          actionId,
          value: String(incidentId),
          principal: { userId, channelId: 'CALERTS', roles: [] },
          message: parent,
          threadTs: parentTs,
          reply: rec.reply,
          source: 'slack',
          requestId: `btn-${actionId}-${Date.now()}`,
        })
        .then((out) => ({ out, rec }));
    };
    const pooled = async (port: number) =>
      (await ctx2!.store!.pool.get('127.0.0.1', port))?.type.join(',') ?? 'missing';
    const before = alerts().filter((a) => a.text.includes(`server2:${P + 1}`)).length;
    await probe.exec(node(P + 1), 'INSERT INTO app.t VALUES (2)');
    await probe.exec(node(P), 'INSERT INTO app.t VALUES (2)');
    await until(() => alerts().filter((a) => a.text.includes(`server2:${P + 1}`)).length === before + 1);
    const parent = alerts()
      .filter((a) => a.text.includes(`server2:${P + 1}`))
      .at(-1)!;
    const incident = (await ctx2!.store!.incidents.listOpen()).find(
      (i) => i.port === P + 1 && i.kind === 'sql_stopped',
    )!;
    await until(async () => (await pooled(P + 1)) === '');

    expect((await press('incident.ack', incident.id, parent.ref.ts)).out.status).toBe('ok');
    expect((await ctx2!.store!.incidents.get(incident.id))?.acknowledgedBy).toBe('UDBA');
    expect((await press('incident.poolin', incident.id, parent.ref.ts)).out.status).toBe('ok');
    expect(await pooled(P + 1)).toBe('READ');
    expect((await press('incident.poolout', incident.id, parent.ref.ts)).out.status).toBe('ok');
    expect(await pooled(P + 1)).toBe('');
    expect(
      thread(parent.ref.ts).filter((p) =>
        new RegExp(`^Pool: 127\\.0\\.0\\.1:${P + 1} .* by <@UDBA> — (Put back|Take out of pool) from the alert`).test(
          p.text,
        ),
      ),
    ).toHaveLength(2);
    const history = await ctx2!.store!.pool.history(50);
    expect(
      history
        .filter((h) => h.port === P + 1 && h.actor === 'UDBA')
        .map((h) => `${h.before?.join(',') || 'offline'}→${h.after?.join(',') || 'offline'}`)
        .sort(),
    ).toEqual(['READ→offline', 'offline→READ']);

    // The master's row: a pool button pressed on a master's incident (a stale or forged payload) is refused.
    const master = await ctx2!.store!.incidents.open({
      cluster: 'demo',
      host: 'server1',
      port: P,
      kind: 'unreachable',
      errno: null,
      error: 'test',
      lag: null,
    });
    const refused = await press('incident.poolout', master.incident.id, parent.ref.ts);
    expect(refused.out.status).toBe('refused');
    expect(refused.rec.ephemerals.join()).toMatch(/not a replica/);
    expect(await pooled(P)).toBe('READ,WRITE');
    await ctx2!.store!.incidents.resolve(master.incident.id);

    expect((await press('incident.skip', incident.id, parent.ref.ts)).out.status).toBe('ok');
    await until(() =>
      thread(parent.ref.ts).some((p) =>
        new RegExp(`Resolved: SQL thread stopped on server2:${P + 1} cleared after`).test(p.text),
      ),
    );
    // Taken out by the button, so back in once healthy, by the monitor.
    await until(async () => (await pooled(P + 1)) === 'READ');
    const audit = await ctx2!.store!.audit.recent(50);
    for (const b of ['incident.ack', 'incident.poolin', 'incident.poolout', 'incident.skip'])
      expect(
        audit.some((a) => a.command === b && a.userId === 'UDBA' && a.status === 'ok'),
        b,
      ).toBe(true);
  });

  it('reports a killed replica as unreachable', async () => {
    await f.killSandbox('server3', 'demo', 'SIGKILL');
    await until(() => alerts().some((a) => a.text.includes(`server3:${P + 2}`) && /node unreachable/.test(a.text)));
  });

  it('stops watching a cluster being removed; a removal that cannot reach a worker leaves it listed as removing, unwatched, until a second remove finishes it', async () => {
    const before = alerts().length;
    // server2's worker is gone: its node cannot be removed this time.
    await f.workers.get('server2')!.stop();
    const first = await f.run('/replica remove demo', { yes: true });
    expect(first.outcome.status, first.text).toBe('failed');
    expect(first.text).toMatch(
      new RegExp(
        `only partly removed: server2:${P + 1}: .*no worker.* It stays listed as removing \\(not monitored\\): /replica remove demo tries again\\.`,
      ),
    );
    expect((await f.ctx.store!.clusters.get('demo'))?.state).toBe('removing');
    expect((await f.run('/replica list')).text).toMatch(/demo +removing/);
    // The master is down now and a replica still runs: four poll cycles see nothing to alert on.
    await pollCycles(ctx2!.monitor!, 4);
    expect(
      alerts()
        .slice(before)
        .map((a) => a.text),
    ).toEqual([]);

    await f.restartWorker('server2');
    const second = await f.run('/replica remove demo', { yes: true });
    expect(second.outcome.status, second.text).toBe('ok');
    expect(await f.ctx.store!.clusters.get('demo')).toBeNull();
    // Its open incidents (the killed replica's) close with it.
    await until(async () => (await f.ctx.store!.incidents.listOpen()).length === 0);
    expect(alerts().slice(before)).toEqual([]);
  });
});
