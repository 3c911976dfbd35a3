/**
 * Discovery of a topology gearops did not build: plain mariadbd servers on hosts of their own (network namespaces),
 * wired by hand, one replica an intermediate master, one without report_host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverTopology } from '../../src/core/topology.js';
import { createTopologyReader } from '../../src/mysql/topology-reader.js';
import { createNetnsNetwork, netnsUnavailable, type NetnsNetwork } from '../helpers/netns.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';

const why = netnsUnavailable();

describe.skipIf(why !== null)(`discovering plain replication on namespace hosts${why ? ` (${why})` : ''}`, () => {
  let net: NetnsNetwork;
  let topo: PlainTopology;
  let m: PlainServer, r1: PlainServer, r2: PlainServer, r3: PlainServer;
  const at = (s: PlainServer | undefined) => {
    if (!s) throw new Error('server not started');
    return s;
  };
  beforeAll(async () => {
    net = createNetnsNetwork(['db1', 'db2', 'db3', 'db4']);
    console.log(`made ${net.hosts.length} network-namespace hosts on ${net.subnet}`);
    topo = createPlainTopology();
    // The same port on every host: each has an address of its own.
    const s = await Promise.all(
      net.hosts.map((host, i) => topo.start({ host, port: 3306, serverId: 101 + i, reportHost: i !== 2 })),
    );
    [m, r1, r2, r3] = [at(s[0]), at(s[1]), at(s[2]), at(s[3])];
    await r1.replicateFrom(m);
    await r2.replicateFrom(m);
    // db4 replicates from db2: db2 is an intermediate master.
    await r3.replicateFrom(r1);
  });
  afterAll(async () => {
    await topo?.stop();
    net?.destroy();
  });

  it('maps master, intermediate master and replicas from any one replica, changing nothing', async () => {
    const reader = createTopologyReader({ credentials: topo.accounts.monitor });
    const before = await Promise.all(topo.servers.map((s) => s.sql('SELECT @@gtid_binlog_pos')));
    const d = await discoverTopology(reader, { address: r3.address, port: 3306 });
    expect(d.problems).toEqual([]);
    expect(d.notes).toEqual([]);
    expect(d.nodes.map((n) => [n.address, n.role, n.serverId, n.replicatesFrom])).toEqual([
      [m.address, 'master', 101, null],
      [r1.address, 'intermediate', 102, `${m.address}:3306`],
      // db3 has no report_host: found through the master's binlog-dump thread, then confirmed on its own port.
      [r2.address, 'replica', 103, `${m.address}:3306`],
      [r3.address, 'replica', 104, `${r1.address}:3306`],
    ]);
    expect(await Promise.all(topo.servers.map((s) => s.sql('SELECT @@gtid_binlog_pos')))).toEqual(before);
  });

  it('names a server it cannot read, and the grant a monitoring account lacks', async () => {
    await m.sql("SET sql_log_bin = 0; CREATE USER 'weak'@'%' IDENTIFIED BY 'pw'; SET sql_log_bin = 1");
    const weak = createTopologyReader({ credentials: { user: 'weak', password: 'pw' } });
    const d = await discoverTopology(weak, { address: m.address, port: 3306 });
    expect(d.nodes).toEqual([]);
    expect(d.problems[0]?.reason).toMatch(/may not read status: grant it REPLICATION CLIENT/);
    // Without the grant to list registered replicas, the binlog-dump threads still find every one: a note.
    await m.sql(
      "SET sql_log_bin = 0; CREATE USER 'nohosts'@'%' IDENTIFIED BY 'pw'; " +
        "GRANT PROCESS, SLAVE MONITOR ON *.* TO 'nohosts'@'%'; SET sql_log_bin = 1",
    );
    for (const s of [r1, r2, r3])
      await s.sql(
        "SET sql_log_bin = 0; CREATE USER 'nohosts'@'%' IDENTIFIED BY 'pw'; " +
          "GRANT PROCESS, SLAVE MONITOR ON *.* TO 'nohosts'@'%'; SET sql_log_bin = 1",
      );
    const partial = await discoverTopology(createTopologyReader({ credentials: { user: 'nohosts', password: 'pw' } }), {
      address: m.address,
      port: 3306,
    });
    expect(partial.nodes.map((n) => n.serverId)).toEqual([101, 102, 103, 104]);
    expect(partial.notes.join('\n')).toMatch(/may not read hosts: grant it REPLICATION MASTER ADMIN/);
    const unreachable = await discoverTopology(createTopologyReader({ credentials: topo.accounts.monitor }), {
      address: net.gateway,
      port: 1,
    });
    expect(unreachable.problems[0]?.reason).toMatch(/unavailable/);
  });
});
