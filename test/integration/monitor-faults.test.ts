/**
 * The monitor against faults provoked on real servers: a replica lagging
 * (MASTER_DELAY, both threads running) and a master killed and started again.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createSilentLogger } from '../../src/log.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import { createReplicationMonitor, type ReplicationMonitor } from '../../src/monitor/monitor.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { freePortRange } from '../helpers/gearmand.js';
import { pollCycles, until } from '../helpers/wait.js';

// One free range per run: the master, server2 (retries its master every 3 s, so it reconnects well after the master is
// back: the monitor polls every 500 ms) and server3 (applies every event 7 s after the master wrote it: with a lag
// threshold of 2 s and a lag step of 2 s, its lag alert opens at 3 s and grows by 2 s before it reaches the delay).
let MASTER = 0;
let R2 = 0;
let R3 = 0;
const DELAY_S = 7;

describe('monitor faults on a real cluster: lag and a lost master', () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  const node = (port: number) => ({ address: '127.0.0.1', port });
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);
  const thread = (ts: string) => f.sink.posts.filter((p) => p.threadTs === ts);
  const poolTypes = async () =>
    (await f.ctx.store!.pool.list()).map((n) => `${n.port}:${n.type.join(',') || 'offline'}`);
  const replicating = async (port: number) => {
    const s = await probe.status(node(port));
    return s.ioRunning === 'Yes' && s.sqlRunning === 'Yes';
  };
  /** CHANGE MASTER on a replica; STOP SLAVE is itself a fault the monitor reports, so the monitor must not be running. */
  const changeMaster = async (port: number, options: string) => {
    await probe.exec(node(port), 'STOP SLAVE');
    await probe.exec(node(port), `CHANGE MASTER TO ${options}`);
    await probe.exec(node(port), 'START SLAVE');
    await until(() => replicating(port), 30_000, { label: `replication on ${port} after CHANGE MASTER` });
  };

  beforeAll(async () => {
    f = await startFleet({ env: { GEAROPS_LAG_THRESHOLD_S: '2', GEAROPS_LAG_STEP_S: '2' } });
    MASTER = await freePortRange(3);
    [R2, R3] = [MASTER + 1, MASTER + 2];
    const r = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${MASTER} pool=yes`);
    expect(r.outcome.status, r.text).toBe('ok');
    probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
    await probe.exec(node(MASTER), 'CREATE DATABASE app');
    await probe.exec(node(MASTER), 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    for (const port of [R2, R3]) {
      await until(
        async () =>
          (await probe.exec(node(port), 'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "app"'))
            .rows[0]?.[0] === '1',
        30_000,
        { label: `app.t on ${port}` },
      );
    }
    // A replica notices a silent master after slave_net_timeout (60 s by default); 4 s, with a heartbeat every second so an idle master is not silent.
    for (const port of [R2, R3]) await probe.exec(node(port), 'SET GLOBAL slave_net_timeout = 4');
    await changeMaster(R2, 'MASTER_CONNECT_RETRY=3, MASTER_HEARTBEAT_PERIOD=1');
    await changeMaster(R3, `MASTER_DELAY=${DELAY_S}, MASTER_HEARTBEAT_PERIOD=1`);
    await f.ctx.monitor!.start();
    await pollCycles(f.ctx.monitor!, 3);
    expect(alerts().map((a) => a.text)).toEqual([]);
  });

  afterAll(async () => {
    await probe?.close();
    await f?.stop();
  });

  it('opens one lag alert for the delayed replica, follows it as the lag grows, and resolves it in the same thread once caught up', async () => {
    const poolBefore = await poolTypes();
    const poolPosts = f.sink.posts.filter((p) => p.channel === 'CPOOL').length;
    expect(poolBefore).toEqual([`${MASTER}:READ,WRITE`, `${R2}:READ`, `${R3}:READ`]);
    // Seconds_Behind_Master on a delayed MariaDB replica is the age of the event it waits on: it climbs towards the delay while writes keep coming.
    let writing = true;
    let rows = 0;
    const writer = (async () => {
      while (writing) {
        await probe.exec(node(MASTER), `INSERT INTO app.t VALUES (${++rows})`);
        await new Promise((r) => setTimeout(r, 200)); // the writer's pace, not a wait before an assertion
      }
    })();
    try {
      await until(() => alerts().some((a) => a.text.includes(`server3:${R3}`)), 60_000, { label: 'the lag alert' });
      const parent = alerts().find((a) => a.text.includes(`server3:${R3}`))!;
      expect(parent.msg.text).toMatch(
        new RegExp(`^🔴 demo: replica server3:${R3} — replication lag — \\d+ s behind the master$`),
      );
      expect(Number(/— (\d+) s behind/.exec(parent.msg.text)![1])).toBeGreaterThan(2);
      await until(
        () => thread(parent.ref.ts).some((p) => /^Lag grew: \d+ s → \d+ s behind the master$/.test(p.text)),
        60_000,
        { label: 'a "Lag grew" reply' },
      );
      // auto_offline (policies/demo.yml): the lagging replica leaves the READ pool, nothing else moves.
      await until(
        async () => (await poolTypes()).join(' ') === `${MASTER}:READ,WRITE ${R2}:READ ${R3}:offline`,
        30_000,
        { label: 'the lagging replica out of the pool' },
      );
      expect(
        f.sink.posts
          .filter((p) => p.channel === 'CPOOL')
          .slice(poolPosts)
          .map((p) => p.msg.text),
      ).toEqual([`Pool: 127.0.0.1:${R3} READ → offline by the monitor — monitor: replication lag`]);
    } finally {
      writing = false;
      await writer;
    }
    const parent = alerts().find((a) => a.text.includes(`server3:${R3}`))!;
    // No more writes: within the delay the replica applies what it holds and is idle (lag 0).
    await until(
      () =>
        thread(parent.ref.ts).some((p) =>
          new RegExp(`^✅ Resolved: replication lag on server3:${R3} cleared after`).test(p.text),
        ),
      90_000,
      { label: 'the lag resolved' },
    );
    expect((await probe.exec(node(R3), 'SELECT COUNT(*) FROM app.t')).rows[0]?.[0]).toBe(String(rows));
    expect(f.sink.updates.some((u) => u.ref.ts === parent.ref.ts && /RESOLVED/.test(u.text))).toBe(true);
    await until(async () => (await poolTypes()).join(' ') === poolBefore.join(' '), 30_000, {
      label: 'the replica back in the pool',
    });
    const replies = thread(parent.ref.ts).map((p) => p.text);
    expect(replies.filter((t) => /Resolved/.test(t))).toHaveLength(1);
    expect(
      replies.some((t) =>
        new RegExp(`Pool: 127\\.0\\.0\\.1:${R3} offline → READ by the monitor — monitor: healthy and caught up`).test(
          t,
        ),
      ),
    ).toBe(true);
    // One alert in all: no other node and no other kind showed up while server3 lagged.
    expect(alerts().map((a) => a.ref.ts)).toEqual([parent.ref.ts]);

    await f.ctx.monitor!.stop();
    await changeMaster(R3, 'MASTER_DELAY=0');
    await f.ctx.monitor!.start();
  });

  it('reports a killed master as one "master lost" alert, no IO alert per replica, and resolves it in the same thread once the replicas reconnect', async () => {
    const seen = alerts().length;
    const fresh = () => alerts().slice(seen);
    const poolBefore = await poolTypes();
    const poolPosts = f.sink.posts.filter((p) => p.channel === 'CPOOL').length;
    await f.killSandbox('server1', 'demo', 'SIGKILL');
    await until(() => fresh().some((a) => a.text.includes(`server1:${MASTER}`)), 60_000, {
      label: 'an alert for the master',
    });
    // Both replicas retry in vain; let the monitor look a few more times (below).
    await until(
      async () => {
        const s = await Promise.all([R2, R3].map((p) => probe.status(node(p))));
        return s.every((x) => x.ioRunning === 'Connecting' && (x.lastIoErrno ?? 0) > 0);
      },
      30_000,
      { label: 'both IO threads failing' },
    );
    await pollCycles(f.ctx.monitor!, 4);
    const parent = fresh().find((a) => a.text.includes(`server1:${MASTER}`))!;
    expect(fresh().map((a) => a.text)).toEqual([parent.text]);
    // Normally titled "master lost"; if the monitor saw the master gone before the replicas did, its "unreachable" thread says so instead.
    const saysLost = () =>
      /master lost/.test(parent.text) || thread(parent.ref.ts).some((p) => /master lost/.test(p.text));
    expect(saysLost()).toBe(true);
    if (/master lost/.test(parent.text))
      expect(parent.msg.text).toMatch(
        new RegExp(
          `^🔴 demo: master server1:${MASTER} — master lost \\(every replica's IO thread is failing\\) — Error 20(03|13): `,
        ),
      );
    // The replicas' errors change (2013 while the master goes, 2003 after): the thread keeps the first, and says a change at most once (the "unreachable" case).
    expect(thread(parent.ref.ts).filter((p) => /The error changed/.test(p.text)).length).toBeLessThanOrEqual(
      /master lost/.test(parent.text) ? 0 : 1,
    );

    await f.startSandbox('server1', 'demo');
    await until(
      () =>
        thread(parent.ref.ts).some((p) =>
          new RegExp(`^✅ Resolved: .* on server1:${MASTER} cleared after`).test(p.text),
        ),
      90_000,
      { label: 'the master incident resolved' },
    );
    // Resolved only once both replicas replicate from the master again.
    expect(await replicating(R2)).toBe(true);
    expect(await replicating(R3)).toBe(true);
    expect(f.sink.updates.some((u) => u.ref.ts === parent.ref.ts && /RESOLVED/.test(u.text))).toBe(true);
    await probe.exec(node(MASTER), 'INSERT INTO app.t VALUES (100000)');
    for (const port of [R2, R3])
      await until(
        async () => (await probe.exec(node(port), 'SELECT COUNT(*) FROM app.t WHERE id = 100000')).rows[0]?.[0] === '1',
        30_000,
        { label: `the new row on ${port}` },
      );
    await pollCycles(f.ctx.monitor!, 3);
    // Still the one alert, and the pool never moved: no IO alert took a replica out on the way back.
    expect(fresh().map((a) => a.msg.text)).toEqual([parent.msg.text]);
    expect(await poolTypes()).toEqual(poolBefore);
    expect(f.sink.posts.filter((p) => p.channel === 'CPOOL')).toHaveLength(poolPosts);
    expect(await f.ctx.store!.incidents.listOpen()).toEqual([]);
  });

  it('reports a hung master (SIGSTOP) in one thread: unreachable or master lost, then master lost once the replicas time out, resolved after SIGCONT', async () => {
    const seen = alerts().length;
    const fresh = () => alerts().slice(seen);
    const poolBefore = await poolTypes();
    f.signalSandbox('server1', 'demo', 'SIGSTOP');
    try {
      // The monitor's probe times out on the master at once; the replicas' IO threads only after slave_net_timeout.
      await until(() => fresh().some((a) => a.text.includes(`server1:${MASTER}`)), 60_000, {
        label: 'an alert for the hung master',
      });
      const parent = fresh().find((a) => a.text.includes(`server1:${MASTER}`))!;
      await until(
        async () => {
          const s = await Promise.all([R2, R3].map((p) => probe.status(node(p))));
          return s.every((x) => x.ioRunning !== 'Yes' && (x.lastIoErrno ?? 0) > 0);
        },
        60_000,
        { label: 'both IO threads failing' },
      );
      const saysLost = () =>
        /master lost/.test(parent.text) || thread(parent.ref.ts).some((p) => /master lost/.test(p.text));
      await until(saysLost, 30_000, { label: 'the thread to say master lost' });
      await pollCycles(f.ctx.monitor!, 3);
      expect(fresh().map((a) => a.text)).toEqual([parent.text]);
    } finally {
      f.signalSandbox('server1', 'demo', 'SIGCONT');
    }
    const parent = fresh().find((a) => a.text.includes(`server1:${MASTER}`))!;
    await until(
      () =>
        thread(parent.ref.ts).some((p) =>
          new RegExp(`^✅ Resolved: .* on server1:${MASTER} cleared after`).test(p.text),
        ),
      90_000,
      { label: 'the hung master resolved' },
    );
    expect(await replicating(R2)).toBe(true);
    expect(await replicating(R3)).toBe(true);
    await pollCycles(f.ctx.monitor!, 3);
    expect(fresh().map((a) => a.ref.ts)).toEqual([parent.ref.ts]);
    expect(await poolTypes()).toEqual(poolBefore);
    expect(await f.ctx.store!.incidents.listOpen()).toEqual([]);
  });

  it("stops holding a returned master's incident for a replica that cannot reconnect: past the grace the master resolves and the replica gets its own alert", async () => {
    // A monitor of its own, with a short grace (the bot's is 120 s), on the same store and lock.
    await f.ctx.monitor!.stop();
    const own: ReplicationMonitor = createReplicationMonitor({
      store: f.ctx.store!,
      probe,
      chat: f.sink,
      alertChannel: 'CALERTS',
      poolChannel: 'CPOOL',
      policy: f.ctx.policy,
      logger: createSilentLogger(),
      intervalMs: 500,
      lagThresholdS: 2,
      masterReturnGraceMs: 2000,
    });
    await own.start();
    const seen = alerts().length;
    const fresh = () => alerts().slice(seen);
    const poolBefore = await poolTypes();
    try {
      await f.killSandbox('server1', 'demo', 'SIGKILL');
      await until(() => fresh().some((a) => a.text.includes(`server1:${MASTER}`)), 60_000, {
        label: 'an alert for the master',
      });
      // The replication account is locked as the master comes back, before it takes a connection: server2 cannot
      // get in (nor can server3).
      const lock = join(f.root, 'server1', 'demo', 'lock-replication.sql');
      writeFileSync(lock, "ALTER USER 'rsandbox'@'%' ACCOUNT LOCK;\n");
      await f.startSandbox('server1', 'demo', [`--init-file=${lock}`]);
      await until(
        async () => (await probe.status(node(MASTER)).catch(() => ({ reachable: false }))).reachable,
        30_000,
        { label: 'the master back' },
      );
      const master = fresh().find((a) => a.text.includes(`server1:${MASTER}`))!;
      await until(
        () =>
          thread(master.ref.ts).some((p) =>
            new RegExp(`^✅ Resolved: .* on server1:${MASTER} cleared after`).test(p.text),
          ),
        60_000,
        { label: 'the master incident resolved after the grace' },
      );
      await until(() => fresh().some((a) => a.text.includes(`replica server2:${R2} — IO thread stopped`)), 30_000, {
        label: "server2's own IO alert",
      });
      // By its title: the master-lost alert names server2 too, on its Promote button.
      const stuck = fresh().find((a) => a.text.includes(`replica server2:${R2} — IO thread stopped`))!;
      // Its last error: the refused connection while the master was down, then the locked account at its next retry.
      expect(stuck.msg.text).toMatch(/Error \d+: /);
      await until(
        () =>
          /Error (4151|1045): /.test(stuck.msg.text) ||
          thread(stuck.ref.ts).some((p) => /The error changed.*(4151|1045)/.test(p.text)),
        30_000,
        { label: "the locked account in server2's thread" },
      );
      expect((await probe.status(node(R2))).ioRunning).toBe('Connecting');
      await probe.exec(node(MASTER), "ALTER USER 'rsandbox'@'%' ACCOUNT UNLOCK");
      await until(
        () =>
          thread(stuck.ref.ts).some((p) =>
            new RegExp(`^✅ Resolved: IO thread stopped on server2:${R2} cleared after`).test(p.text),
          ),
        60_000,
        { label: 'server2 resolved' },
      );
      expect(await replicating(R2)).toBe(true);
      await until(async () => (await poolTypes()).join(' ') === poolBefore.join(' '), 30_000, {
        label: 'the pool as before',
      });
      await until(async () => (await f.ctx.store!.incidents.listOpen()).length === 0, 30_000, {
        label: 'no open incident',
      });
    } finally {
      await probe.exec(node(MASTER), "ALTER USER 'rsandbox'@'%' ACCOUNT UNLOCK").catch(() => undefined);
      await own.stop();
    }
  });
});
