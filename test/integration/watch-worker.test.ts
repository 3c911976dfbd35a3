/**
 * A watched server the bot cannot reach (bound to its host's loopback only, as a production port closed to all but
 * the application tier would be) is still watched: its host's worker reads it with credentials of its own
 * (mysql.status@host), for discovery, /replica status and the monitor; the alert buttons' repairs and /replica sql
 * go through the same worker (mysql.repair, mysql.sql), as the person who asked, under that worker's own policy
 * (db3's is stricter than the bot's: Skip one event and SHOW only for its dba).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { until } from '../helpers/wait.js';

/** db3's own policy: what its worker lets the bot do to its servers, for whom. */
const DB3_POLICY = `version: 1
roles:
  dba:
    users: [UDBA]
actions:
  - rule: db3-ops
    actions: [replica.status, replica.restart, replica.sql]
    who: everyone
  - rule: db3-skip-dba
    actions: [replica.skip]
    who: [role:dba]
sql:
  - rule: db3-select
    statements: [SELECT]
    who: everyone
  - rule: db3-show-dba
    statements: [SHOW]
    who: [role:dba]
`;

const why = netnsUnavailable();

describe.skipIf(why !== null)(`watching a server only its host's worker can reach${why ? ` (${why})` : ''}`, () => {
  let topo: PlainTopology;
  let f: Fleet;
  let dir: string;
  let m: PlainServer, r1: PlainServer, hidden: PlainServer;
  const alerts = () => f.sink.posts.filter((p) => p.channel === 'CALERTS' && !p.threadTs);

  beforeAll(async () => {
    topo = createPlainTopology();
    dir = mkdtempSync(join(tmpdir(), 'gearops-watchw-'));
    const creds = join(dir, 'credentials.yml');
    writeFileSync(
      creds,
      `prod:\n  user: ${topo.accounts.monitor.user}\n  password: ${topo.accounts.monitor.password}\n`,
    );
    chmodSync(creds, 0o600);
    const db3Policy = join(dir, 'db3.yml');
    writeFileSync(db3Policy, DB3_POLICY);
    f = await startFleet({
      hosts: ['db1', 'db2', 'db3'],
      netns: true,
      env: { GEAROPS_CREDENTIALS_FILE: creds },
      workerArgs: { db3: ['--credentials-file', creds, '--policy', db3Policy] },
    });
    console.log(`made ${f.network!.hosts.length} network-namespace hosts on ${f.network!.subnet}`);
    const net = f.network!;
    m = await topo.start({ host: net.host('db1'), port: 3306, serverId: 21 });
    r1 = await topo.start({ host: net.host('db2'), port: 3306, serverId: 22 });
    // db3's server listens on its host's loopback only and reports itself by the host's name.
    hidden = await topo.start({
      host: net.host('db3'),
      port: 3306,
      serverId: 23,
      listen: '127.0.0.1',
      reportHost: 'db3',
    });
    await r1.replicateFrom(m);
    await hidden.replicateFrom(m);
    // Skip one event sets sql_slave_skip_counter: MariaDB wants SUPER for it (the README's grants say so).
    await hidden.sql(
      `SET sql_log_bin = 0; GRANT SUPER ON *.* TO '${topo.accounts.monitor.user}'@'%'; SET sql_log_bin = 1`,
    );
    await m.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)');
    await f.ctx.monitor!.start();
  });
  afterAll(async () => {
    await f?.stop();
    await topo?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cannot be read directly from the bot', async () => {
    const net = (await import('node:net')).connect({ host: f.network!.host('db3').address, port: 3306 });
    const refused = await new Promise<string>((resolve) => {
      net.once('connect', () => resolve('connected'));
      net.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    net.destroy();
    expect(refused).toBe('ECONNREFUSED');
  });

  it('is found, recorded and shown through its host worker', async () => {
    const { outcome, text } = await f.run(`/replica watch prod ${m.address}:3306 credentials=prod`, { yes: true });
    expect(outcome.status, text).toBe('ok');
    expect(text).not.toMatch(/Not mapped/);
    const c = await f.ctx.store!.clusters.get('prod');
    expect(c?.nodes.map((n) => [n.address, n.role, n.via ?? 'direct'])).toEqual([
      [m.address, 'master', 'direct'],
      [r1.address, 'replica', 'direct'],
      ['db3', 'replica', 'db3'],
    ]);
    const st = await f.run('/replica status prod');
    expect(st.outcome.status, st.text).toBe('ok');
    expect(st.text).toMatch(/every node healthy/);
  });

  it('alerts on the hidden replica and resolves it, read through the worker', async () => {
    await hidden.sql('STOP SLAVE IO_THREAD');
    await until(() => alerts().some((a) => a.text.includes('db3:3306') && /IO thread/i.test(a.text)), 20_000);
    const parent = alerts().find((a) => a.text.includes('db3:3306'))!;
    await hidden.sql('START SLAVE IO_THREAD');
    await until(() => f.sink.posts.some((p) => p.threadTs === parent.ref.ts && /Resolved/.test(p.text)), 20_000);
  });

  const press = (actionId: string, incidentId: number, parentTs: string, userId: string) => {
    const rec = createRecordingReply('CALERTS');
    return f.ctx.router.dispatchAction({
      actionId,
      value: String(incidentId),
      principal: { userId, channelId: 'CALERTS', roles: [] },
      message: { channel: 'CALERTS', ts: parentTs },
      threadTs: parentTs,
      reply: rec.reply,
      source: 'slack',
      requestId: `btn-${actionId}-${Date.now()}`,
    });
  };
  const openOn = async (kind: string) =>
    (await f.ctx.store!.incidents.listOpen()).find((i) => i.host === 'db3' && i.kind === kind);

  it("repairs the hidden replica through its worker: Skip one event as db3's dba only, then Restart", async () => {
    await until(async () => (await hidden.sql("SHOW TABLES FROM app LIKE 't'")).trim() === 't');
    await hidden.sql('SET sql_log_bin = 0; INSERT INTO app.t VALUES (5); SET sql_log_bin = 1');
    await m.sql('INSERT INTO app.t VALUES (5)');
    await until(() => alerts().some((a) => a.text.includes('db3:3306') && a.text.includes('1062')), 20_000);
    const incident = (await openOn('sql_stopped'))!;
    const parent = alerts().find((a) => a.text.includes('db3:3306') && a.text.includes('1062'))!;
    const said = () => f.sink.posts.filter((p) => p.threadTs === parent.ref.ts).map((p) => p.text);
    // The bot's policy lets everyone skip; db3's worker does not: refused there, naming its rule, nothing skipped.
    const denied = await press('incident.skip', incident.id, parent.ref.ts, 'U1');
    expect(denied.status).toBe('failed');
    expect(said().join('\n')).toMatch(/Skip one event failed: worker db3: worker db3 policy: .*db3-skip-dba/);
    expect((await hidden.slaveStatus()).Last_SQL_Errno).toBe('1062');
    expect((await press('incident.skip', incident.id, parent.ref.ts, 'UDBA')).status).toBe('ok');
    expect(said()).toContain('One event skipped and the SQL thread started again.');
    await until(() => said().some((t) => /Resolved/.test(t)), 20_000);

    await hidden.sql('STOP SLAVE IO_THREAD');
    await until(async () => Boolean((await openOn('io_stopped'))?.alertTs), 20_000);
    const io = (await openOn('io_stopped'))!;
    expect((await press('incident.restart', io.id, io.alertTs!, 'U1')).status).toBe('ok');
    await until(async () => (await hidden.slaveStatus()).Slave_IO_Running === 'Yes');
    await until(async () => (await openOn('io_stopped')) === undefined, 20_000);
    const audit = await f.ctx.store!.audit.recent(20);
    expect(audit.some((a) => a.command === 'incident.restart' && a.userId === 'U1' && a.status === 'ok')).toBe(true);
  });

  it("runs /replica sql on the hidden replica through its worker, under the worker's own SQL rules", async () => {
    const { outcome, text } = await f.run('/replica sql prod SELECT @@server_id AS id, @@bind_address AS bound');
    expect(outcome.status, text).toBe('ok');
    // db3's row came from its worker: the server listens on its host's loopback only.
    expect(text).toMatch(/replica db3:3306[\s\S]*\b23\b[\s\S]*127\.0\.0\.1/);
    // SHOW passes the bot's rules, and db3's only for its dba: the other nodes answer, db3 names its rule.
    const show = await f.run("/replica sql prod SHOW VARIABLES LIKE 'server_id'");
    expect(show.outcome.status).toBe('failed');
    expect(show.text).toMatch(/replica db3:3306[\s\S]*error: worker db3: worker db3 policy: rule `db3-show-dba`/);
    expect(show.text).toMatch(new RegExp(`replica ${r1.address.replace(/\./g, '\\.')}:3306[\\s\\S]*\\b22\\b`));
    // Through the worker too it runs as the named account, inside a transaction (START TRANSACTION READ ONLY).
    const who = await f.run('/replica sql prod SELECT CURRENT_USER() AS who, @@in_transaction AS txn');
    expect(who.outcome.status, who.text).toBe('ok');
    expect(who.text).toMatch(new RegExp(`replica db3:3306[\\s\\S]*${topo.accounts.monitor.user}@%[^\\n]*\\b1\\b`));
  });
});
