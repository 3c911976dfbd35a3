/**
 * The MariaDB replication control (the port topology changes run on), against a real master and replica wired by
 * hand on loopback (plain mariadbd, GTID slave_pos), as a watched cluster's would be.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationControl } from '../../src/mysql/replication-control.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createSilentLogger } from '../../src/log.js';
import type { ReplicationControl } from '../../src/core/ports/replication-control.js';
import type { NodeAddress } from '../../src/core/ports/replication.js';
import { freePort } from '../helpers/gearmand.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { until } from '../helpers/wait.js';

describe('replication control on a real MariaDB master and replica', () => {
  let topo: PlainTopology;
  let m: PlainServer, r: PlainServer;
  let control: ReplicationControl;
  // Watched-cluster nodes: the named entry 'prod' has a replication account, 'norepl' has none.
  const node = (s: PlainServer, credentials = 'prod'): NodeAddress => ({
    address: s.address,
    port: s.port,
    credentials,
  });

  beforeAll(async () => {
    topo = createPlainTopology();
    [m, r] = await Promise.all([
      topo.start({ port: await freePort(), serverId: 1 }),
      topo.start({ port: await freePort(), serverId: 2 }),
    ]);
    await r.replicateFrom(m);
    await m.sql(
      "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20)); CREATE USER 'app'@'%' IDENTIFIED BY 'apppw'; GRANT INSERT, SELECT ON app.* TO 'app'@'%'",
    );
    const { admin, repl } = topo.accounts;
    control = createReplicationControl({
      credentials: admin,
      named: (name) => (name === 'prod' ? { ...admin, replication: repl } : { ...admin }),
    });
  }, 60_000);
  afterAll(async () => {
    await control?.close();
    await topo?.stop();
  });

  it('reads GTID state: the master has a binlog position, the replica follows it by slave_pos', async () => {
    await m.sql("INSERT INTO app.t VALUES (1, 'one')");
    const ms = await control.gtidState(node(m));
    expect(ms).toMatchObject({ serverId: 1, replicating: false, logBin: true, logSlaveUpdates: true, relayBacklog: 0 });
    expect(ms.binlogPos).toMatch(/^0-1-\d+$/);
    await until(async () => (await control.gtidState(node(r))).slavePos === ms.binlogPos, 10_000, { every: 20 });
    const rs = await control.gtidState(node(r));
    expect(rs).toMatchObject({
      serverId: 2,
      replicating: true,
      master: { host: m.address, port: m.port },
      masterUser: 'repl',
      usingGtid: 'Slave_Pos',
      ioRunning: 'Yes',
      sqlRunning: 'Yes',
    });
  });

  it('waits for a GTID position, and says so at its time-out', async () => {
    await m.sql("INSERT INTO app.t VALUES (2, 'two')");
    const pos = (await control.gtidState(node(m))).binlogPos;
    expect(await control.waitForGtid(node(r), pos, 10_000)).toBe(true);
    expect(await control.waitForGtid(node(r), '0-1-999999', 200)).toBe(false);
  });

  it('refuses values that are not a position, an address or a port, running nothing', async () => {
    const before = await r.sql('SELECT @@gtid_slave_pos');
    await expect(control.waitForGtid(node(r), "0-1-1'); DROP DATABASE app; --", 100)).rejects.toMatchObject({
      code: 'gearops_usage',
    });
    await expect(control.pointAt(node(r), { address: "x'; DROP DATABASE app; --", port: 1 })).rejects.toMatchObject({
      code: 'gearops_usage',
    });
    await expect(control.pointAt(node(r), { address: m.address, port: 70_000 })).rejects.toMatchObject({
      code: 'gearops_usage',
    });
    expect((await control.gtidState(node(r))).master).toEqual({ host: m.address, port: m.port });
    expect(await r.sql('SELECT @@gtid_slave_pos')).toBe(before);
    expect(await m.sql("SHOW DATABASES LIKE 'app'")).toContain('app');
  });

  it('read_only stops ordinary writers; killWriters ends those it cannot stop, never replication', async () => {
    const { admin } = topo.accounts;
    const app = await mysql.createConnection({ host: m.address, port: m.port, user: 'app', password: 'apppw' });
    const dba = await mysql.createConnection({ host: m.address, port: m.port, ...admin });
    try {
      await control.setReadOnly(node(m), true);
      await expect(app.query("INSERT INTO app.t VALUES (3, 'app')")).rejects.toMatchObject({
        code: 'ER_OPTION_PREVENTS_STATEMENT',
      });
      // READ_ONLY ADMIN writes through read_only: that is who must be ended.
      await dba.query("INSERT INTO app.t VALUES (4, 'dba')");
      const killed = await control.killWriters(node(m));
      expect(killed.ids).toContain(dba.threadId);
      expect(killed.ids).not.toContain(app.threadId);
      expect(killed.lingering).toEqual([]);
      await expect(dba.query('SELECT 1')).rejects.toThrow();
      expect(await app.query('SELECT 1')).toBeTruthy();
      // The replica's binlog dump thread and the control's own connections survived.
      expect((await control.gtidState(node(r))).ioRunning).toBe('Yes');
      expect((await control.gtidState(node(m))).readOnly).toBe(true);
    } finally {
      await control.setReadOnly(node(m), false);
      await app.end().catch(() => undefined);
      dba.destroy();
    }
    expect((await control.gtidState(node(m))).readOnly).toBe(false);
  });

  it("spares the connections of the bot's probes that share its connection ids", async () => {
    const ownThreads = new Map<string, Set<number>>();
    const { admin } = topo.accounts;
    const shared = createReplicationControl({ credentials: admin, ownThreads });
    const probe = createReplicationProbe({ credentials: admin, logger: createSilentLogger(), ownThreads });
    try {
      expect((await probe.status({ address: m.address, port: m.port })).reachable).toBe(true);
      const probes = [...(ownThreads.get(`${m.address}:${m.port}`) ?? [])];
      expect(probes.length).toBeGreaterThan(0);
      const killed = await shared.killWriters({ address: m.address, port: m.port });
      expect(killed.ids.filter((id) => probes.includes(id))).toEqual([]);
      const alive = await m.sql('SELECT ID FROM information_schema.PROCESSLIST');
      for (const id of probes) expect(alive.split('\n')).toContain(String(id));
    } finally {
      await probe.close();
      await shared.close();
    }
  });

  it('swaps master and replica: detach, promote, point the old master at the new one', async () => {
    await control.setReadOnly(node(m), true);
    const pos = (await control.gtidState(node(m))).binlogPos;
    expect(await control.waitForGtid(node(r), pos, 10_000)).toBe(true);
    await control.detachReplication(node(r));
    await control.setReadOnly(node(r), false);
    // The old master never replicated: it takes the entry's replication account, and asks from its own binlog on.
    await control.pointAt(node(m), { address: r.address, port: r.port }, { slavePosFromBinlog: true });
    await control.startReplication(node(m));
    await r.sql("INSERT INTO app.t VALUES (5, 'after')");
    await until(async () => (await m.sql('SELECT v FROM app.t WHERE id = 5')).trim() === 'after', 10_000, {
      every: 20,
    });
    const [ms, rs] = [await control.gtidState(node(m)), await control.gtidState(node(r))];
    expect(rs).toMatchObject({ replicating: false, readOnly: false });
    expect(ms).toMatchObject({ replicating: true, readOnly: true, master: { port: r.port }, masterUser: 'repl' });
    expect(ms.lastIoError).toBeNull();
    // A node that never replicated, with no replication account configured: refused, naming the entry.
    await expect(control.pointAt(node(r, 'norepl'), { address: m.address, port: m.port })).rejects.toMatchObject({
      code: 'gearops_config',
      message: expect.stringContaining("'norepl'"),
    });
    expect((await control.gtidState(node(r))).replicating).toBe(false);
  });
});
