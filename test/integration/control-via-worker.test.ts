/**
 * Switchover, failover, fencing and rejoin of a watched cluster whose every server is changed through its host's worker
 * (mysql.control), on real MariaDB replication between network-namespace hosts. The servers report their hosts'
 * names (db1, db2, db3), which every host resolves and this process does not: the bot cannot connect to any of them
 * itself, so every read and every step goes through the workers, as the person who asked, under each worker's own
 * policy. db1's is stricter than the bot's: a switchover there is for its dba only.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { until } from '../helpers/wait.js';

/** db1's own policy: reading for everyone, a switchover only for its dba, a failover (and fencing) for everyone. */
const DB1_POLICY = `version: 1
roles:
  dba:
    users: [UDBA]
actions:
  - rule: db1-read
    actions: [replica.status]
    who: everyone
  - rule: db1-switch-dba
    actions: [replica.switchover, replica.rejoin]
    who: [role:dba]
  - rule: db1-failover
    actions: [replica.failover]
    who: everyone
`;

/**
 * The worker's account: the monitoring grants (REPLICATION MASTER ADMIN lists the replicas by their report_host),
 * and what mysql.control needs on MariaDB 10.11 (the README's grants; each was found missing by trying without it).
 */
const CONTROL_GRANTS = [
  'GRANT SLAVE MONITOR, REPLICATION MASTER ADMIN, REPLICATION SLAVE ADMIN, RELOAD, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN ON *.*',
  'GRANT SELECT ON mysql.*',
];

const why = netnsUnavailable();
const HOSTS = ['db1', 'db2', 'db3'];

describe.skipIf(why !== null)(`topology changes through the hosts' workers${why ? ` (${why})` : ''}`, () => {
  let topo: PlainTopology;
  let f: Fleet;
  let dir: string;
  const s = new Map<string, PlainServer>();
  const srv = (h: string) => s.get(h)!;
  const one = async (h: string, q: string) => (await srv(h).sql(q)).trim();
  const record = async () => (await f.ctx.store!.clusters.get('prod'))!;
  const master = async () => (await record()).nodes.find((n) => n.role === 'master')!.host;
  const writers = async () =>
    (await f.ctx.store!.pool.list()).filter((p) => p.type.includes('WRITE')).map((p) => `${p.host}:${p.port}`);
  const replicatesFrom = async (h: string, from: string) => {
    const st = await srv(h).slaveStatus();
    return st.Master_Host === from && st.Slave_IO_Running === 'Yes' && st.Slave_SQL_Running === 'Yes';
  };
  /** Runs a command line as `userId` (f.run is always U1). */
  const runAs = async (userId: string, line: string) => {
    const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line)!;
    const rec = createRecordingReply('C1', { confirm: true });
    const outcome = await f.ctx.router.dispatch({
      command: m[1]!,
      text: m[2] ?? '',
      principal: { userId, channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: randomUUID(),
    });
    const text = [
      ...rec.confirms,
      ...rec.ephemerals,
      ...rec.posts.map((p) => p.text),
      ...rec.updates.map((u) => u.text),
    ];
    return { outcome, text: text.join('\n') };
  };

  beforeAll(async () => {
    topo = createPlainTopology();
    dir = mkdtempSync(join(tmpdir(), 'gearops-ctlw-'));
    const creds = join(dir, 'credentials.yml');
    const ctl = { user: 'gearops_ctl', password: randomUUID().replaceAll('-', '') };
    writeFileSync(
      creds,
      `prod:\n  user: ${ctl.user}\n  password: ${ctl.password}\n` +
        `  replication:\n    user: ${topo.accounts.repl.user}\n    password: ${topo.accounts.repl.password}\n`,
    );
    chmodSync(creds, 0o600);
    const db1Policy = join(dir, 'db1.yml');
    writeFileSync(db1Policy, DB1_POLICY);
    f = await startFleet({
      hosts: HOSTS,
      netns: true,
      hostNames: true,
      env: { GEAROPS_CREDENTIALS_FILE: creds },
      workerArgs: Object.fromEntries(
        HOSTS.map((h) => [h, ['--credentials-file', creds, ...(h === 'db1' ? ['--policy', db1Policy] : [])]]),
      ),
    });
    const net = f.network!;
    for (const [i, h] of HOSTS.entries()) {
      // Listening on every address of its host: its worker logs in on loopback, the other hosts by name.
      const server = await topo.start({
        host: net.host(h),
        port: 3306,
        serverId: 31 + i,
        listen: '0.0.0.0',
        reportHost: h,
      });
      await server.sql(
        `SET sql_log_bin = 0; CREATE USER '${ctl.user}'@'%' IDENTIFIED BY '${ctl.password}'; ` +
          `${CONTROL_GRANTS.map((g) => `${g} TO '${ctl.user}'@'%'`).join('; ')}; SET sql_log_bin = 1`,
      );
      s.set(h, server);
    }
    await srv('db2').replicateFrom(srv('db1'), { as: 'db1' });
    await srv('db3').replicateFrom(srv('db1'), { as: 'db1' });
    for (const h of ['db2', 'db3']) await srv(h).sql('SET GLOBAL read_only = 1');
    await srv('db1').sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)');
  }, 120_000);
  afterAll(async () => {
    await f?.stop();
    await topo?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('watches the cluster with every server read through its host worker', async () => {
    const { outcome, text } = await f.run('/replica watch prod db1:3306 credentials=prod probe=worker:db1', {
      yes: true,
    });
    expect(outcome.status, text).toBe('ok');
    expect((await record()).nodes.map((n) => [n.address, n.role, n.via])).toEqual([
      ['db1', 'master', 'db1'],
      ['db2', 'replica', 'db2'],
      ['db3', 'replica', 'db3'],
    ]);
    for (const n of (await record()).nodes)
      await f.ctx.store!.pool.add(
        { host: n.address, port: n.port, sock: '', type: n.role === 'master' ? ['READ', 'WRITE'] : ['READ'] },
        'U1',
        'test',
      );
  });

  it("refuses a switchover step db1's worker does not allow the requester, naming its rule; nothing changes", async () => {
    const { outcome, text } = await runAs('U1', '/replica switchover prod to=db2:3306');
    expect(outcome.status, text).toBe('failed');
    expect(text).toMatch(/worker db1 policy: rule `db1-switch-dba`/);
    expect(text).toMatch(/rolled back/);
    expect(await one('db1', 'SELECT @@read_only')).toBe('0');
    expect(await one('db2', 'SELECT @@read_only')).toBe('1');
    expect(await replicatesFrom('db2', 'db1')).toBe(true);
    expect(await master()).toBe('db1');
    expect(await writers()).toEqual(['db1:3306']);
  });

  it("switches the master to db2 through the workers, as db1's dba", async () => {
    await srv('db1').sql('INSERT INTO app.t VALUES (1)');
    const { outcome, text } = await runAs('UDBA', '/replica switchover prod to=db2:3306');
    expect(outcome.status, text).toBe('ok');
    // Proven through the workers (no marker write there): every other node's threads run from db2, at its position.
    expect(text).toMatch(/✓ replication from db2:3306 proven on all 2 other node\(s\)/);
    expect(await one('db2', 'SELECT @@read_only')).toBe('0');
    expect(await one('db1', 'SELECT @@read_only')).toBe('1');
    expect(await replicatesFrom('db1', 'db2')).toBe(true);
    expect(await replicatesFrom('db3', 'db2')).toBe(true);
    expect((await srv('db2').slaveStatus()).Slave_IO_Running).toBeUndefined();
    await srv('db2').sql('INSERT INTO app.t VALUES (2)');
    for (const h of ['db1', 'db3']) await until(async () => (await one(h, 'SELECT COUNT(*) FROM app.t')) === '2');
    expect(await master()).toBe('db2');
    expect(await writers()).toEqual(['db2:3306']);
  });

  it('fails over after SIGKILL of the master: db1 or db3 promoted, the other on it, one WRITE in the pool', async () => {
    await srv('db2').kill('SIGKILL');
    await until(async () => {
      const st = await Promise.all(['db1', 'db3'].map((h) => srv(h).slaveStatus()));
      return st.every((x) => x.Slave_IO_Running !== 'Yes' && Number(x.Last_IO_Errno ?? 0) > 0);
    }, 30_000);
    const { outcome, text } = await f.run('/replica failover prod', { yes: true });
    expect(outcome.status, text).toBe('ok');
    const nm = await master();
    expect(['db1', 'db3']).toContain(nm);
    const other = nm === 'db1' ? 'db3' : 'db1';
    expect(await one(nm, 'SELECT @@read_only')).toBe('0');
    expect(await one(other, 'SELECT @@read_only')).toBe('1');
    expect(await replicatesFrom(other, nm)).toBe(true);
    await srv(nm).sql('INSERT INTO app.t VALUES (3)');
    await until(async () => (await one(other, 'SELECT COUNT(*) FROM app.t')) === '3');
    expect(await writers()).toEqual([`${nm}:3306`]);
    expect(await f.ctx.store!.pool.get('db2', 3306)).toBeNull();
  });

  it('fences the old master that comes back writable, through its worker, as the monitor', async () => {
    const nm = await master();
    await f.ctx.monitor!.start();
    await srv('db2').restart();
    // It comes back writable (as it was the master); the thread says it was, once it is fenced.
    await until(async () => (await one('db2', 'SELECT @@read_only')) === '1', 20_000);
    await until(
      () => f.sink.posts.some((p) => /db2:3306, the master before the failover, is back and was writable/.test(p.text)),
      20_000,
    );
    expect(await one(nm, 'SELECT @@read_only')).toBe('0');
    expect(await writers()).toEqual([`${nm}:3306`]);
  });

  it('rejoins the fenced old master as a replica of the new one, through its worker', async () => {
    const nm = await master();
    const { outcome, text } = await f.run('/replica rejoin prod db2:3306', { yes: true });
    expect(outcome.status, text).toBe('ok');
    expect(await replicatesFrom('db2', nm)).toBe(true);
    expect(await one('db2', 'SELECT @@read_only')).toBe('1');
    await srv(nm).sql('INSERT INTO app.t VALUES (4)');
    await until(async () => (await one('db2', 'SELECT COUNT(*) FROM app.t')) === '4');
    expect(await writers()).toEqual([`${nm}:3306`]);
  });
});
