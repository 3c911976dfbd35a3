/**
 * /replica watch on replication gearops did not build: plain mariadbd servers on hosts of their own (network
 * namespaces), wired by hand, watched with named credentials from an owner-only file; alerted on, fixed, and
 * forgotten again without a server being touched.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { createAppContext } from '../../src/app.js';
import { createSilentLogger } from '../../src/log.js';
import { startFleet, createRecordingSink, type Fleet } from '../helpers/fleet.js';
import { createNetnsNetwork, netnsUnavailable, type NetnsNetwork } from '../helpers/netns.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { until } from '../helpers/wait.js';

const why = netnsUnavailable();

describe.skipIf(why !== null)(`/replica watch of plain replication on namespace hosts${why ? ` (${why})` : ''}`, () => {
  let net: NetnsNetwork;
  let topo: PlainTopology;
  let f: Fleet;
  let dir: string;
  let credsFile: string;
  let m: PlainServer, r1: PlainServer, r2: PlainServer;
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);
  const thread = (ts: string) => f.sink.posts.filter((p) => p.threadTs === ts);

  beforeAll(async () => {
    net = createNetnsNetwork(['db1', 'db2', 'db3', 'db4']);
    console.log(`made ${net.hosts.length} network-namespace hosts on ${net.subnet}`);
    topo = createPlainTopology();
    const s = await Promise.all(
      net.hosts.slice(0, 3).map((host, i) => topo.start({ host, port: 3306, serverId: 11 + i })),
    );
    [m, r1, r2] = s as [PlainServer, PlainServer, PlainServer];
    await r1.replicateFrom(m);
    await r2.replicateFrom(m);
    await m.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)');
    dir = mkdtempSync(join(tmpdir(), 'gearops-watch-'));
    credsFile = join(dir, 'credentials.yml');
    writeFileSync(
      credsFile,
      `prod:\n  user: ${topo.accounts.monitor.user}\n  password: ${topo.accounts.monitor.password}\n`,
    );
    chmodSync(credsFile, 0o600);
    f = await startFleet({ hosts: ['server1'], env: { GEAROPS_CREDENTIALS_FILE: credsFile } });
    await f.ctx.monitor!.start();
  });
  afterAll(async () => {
    await f?.stop();
    await topo?.stop();
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds master and replicas from a replica, asks, and records a watched cluster', async () => {
    const asked = await f.run(`/replica watch prod ${r2.address}:3306 credentials=prod`);
    expect(asked.outcome.status, asked.text).toBe('refused');
    expect(await f.ctx.store!.clusters.get('prod')).toBeNull();
    const { outcome, text } = await f.run(`/replica watch prod ${r2.address}:3306 credentials=prod`, { yes: true });
    expect(outcome.status, text).toBe('ok');
    const c = await f.ctx.store!.clusters.get('prod');
    expect(c?.kind).toBe('watched');
    expect(c?.credentials).toBe('prod');
    expect(c?.nodes.map((n) => [n.address, n.port, n.role, n.serverId])).toEqual([
      [m.address, 3306, 'master', 11],
      [r1.address, 3306, 'replica', 12],
      [r2.address, 3306, 'replica', 13],
    ]);
    const st = await f.run('/replica status prod');
    expect(st.outcome.status, st.text).toBe('ok');
    expect(st.text).toMatch(/prod\* — 3 nodes, version [\d.]+-MariaDB.*, watched/);
    expect(st.text).toMatch(/every node healthy/);
    const list = await f.run('/replica list');
    expect(list.text).toMatch(/prod +ready +watched/);
  });

  it('refuses /replica remove of a watched cluster and points to unwatch', async () => {
    const { outcome, text } = await f.run('/replica remove prod', { yes: true });
    expect(outcome.status).not.toBe('ok');
    expect(text).toMatch(/watched, not built by gearops.*\/replica unwatch prod/);
    expect(await f.ctx.store!.clusters.get('prod')).not.toBeNull();
  });

  it('alerts on a duplicate-key conflict with 1062 and resolves the same thread once it is fixed', async () => {
    await until(
      async () =>
        (await r1.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='app'")).trim() === '1',
    );
    await r1.sql('SET sql_log_bin = 0; INSERT INTO app.t VALUES (7); SET sql_log_bin = 1');
    await m.sql('INSERT INTO app.t VALUES (7)');
    await until(() => alerts().some((a) => a.text.includes(`${r1.address}:3306`) && a.text.includes('1062')));
    const parent = alerts().filter((a) => a.text.includes(`${r1.address}:3306`));
    expect(parent).toHaveLength(1);
    // The DBA fixes it on the server; the monitor sees it healthy and resolves the incident in its thread.
    await r1.sql('SET sql_log_bin = 0; DELETE FROM app.t WHERE id = 7; SET sql_log_bin = 1; START SLAVE SQL_THREAD');
    await until(() => thread(parent[0]!.ref.ts).some((p) => /Resolved/.test(p.text)), 20_000);
    expect(alerts().filter((a) => a.text.includes(`${r1.address}:3306`))).toHaveLength(1);
  });

  it('notices a replica started by hand within two polls, and a replica repointed by hand', async () => {
    // Polls are driven one by one here, so "within two polls" is counted, not timed.
    await f.ctx.monitor!.stop();
    const r3 = await topo.start({ host: net.host('db4'), port: 3306, serverId: 14 });
    await r3.replicateFrom(m);
    const announced = (source: PlainServer) =>
      alerts().some((a) => a.text.includes(`${r3.address}:3306 now replicates from ${source.address}:3306`));
    for (let poll = 0; poll < 2 && !announced(m); poll++) await f.ctx.monitor!.pollOnce();
    expect(announced(m)).toBe(true);
    const c = await f.ctx.store!.clusters.get('prod');
    expect(c?.nodes.map((n) => [n.address, n.role, n.replicatesFrom])).toContainEqual([
      r3.address,
      'replica',
      `${m.address}:3306`,
    ]);
    // Repointed below db2: the record follows and db2 shows as an intermediate master.
    await r3.sql('STOP SLAVE');
    await r3.replicateFrom(r1);
    for (let poll = 0; poll < 2 && !announced(r1); poll++) await f.ctx.monitor!.pollOnce();
    expect(alerts().some((a) => a.text.includes(`(was ${m.address}:3306; cluster prod)`))).toBe(true);
    const st = await f.run('/replica status prod');
    expect(st.text).toMatch(new RegExp(`intermediate +${r1.address.replace(/\./g, '\\.')}:3306`));
    await f.ctx.monitor!.start();
  });

  it('/replica unwatch forgets the cluster and leaves every server running, untouched', async () => {
    const before = await Promise.all(topo.servers.map((s) => s.sql('SELECT @@gtid_binlog_pos, @@read_only')));
    const { outcome, text } = await f.run('/replica unwatch prod');
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/its 4 servers were not touched/);
    expect(await f.ctx.store!.clusters.get('prod')).toBeNull();
    expect(await Promise.all(topo.servers.map((s) => s.sql('SELECT @@gtid_binlog_pos, @@read_only')))).toEqual(before);
    for (const r of [r1, r2]) expect(await r.sql("SHOW STATUS LIKE 'Slave_running'")).toMatch(/ON/);
  });

  it('refuses at start-up a credentials file others can read, naming it and the fix', async () => {
    chmodSync(credsFile, 0o644);
    try {
      await expect(
        createAppContext({
          config: parseConfig({ ...f.env, GEAROPS_CREDENTIALS_FILE: credsFile }),
          logger: createSilentLogger(),
          chat: createRecordingSink(),
          dispatchPreset: 'fast',
        }),
      ).rejects.toThrow(
        `credentials file ${credsFile} is readable by others (mode 644): it holds passwords; run chmod 600 ${credsFile}`,
      );
    } finally {
      chmodSync(credsFile, 0o600);
    }
  });
});
