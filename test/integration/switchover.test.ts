/**
 * /replica switchover on real MariaDB replication: a built three-node cluster in the pool while an application
 * writes in a loop (through the pool's WRITE server, with an account read_only stops), refusals that change
 * nothing, a catch-up that cannot finish rolled back, and a watched cluster of plain servers.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createReplicationControl } from '../../src/mysql/replication-control.js';
import { createSilentLogger } from '../../src/log.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ClusterRecord } from '../../src/core/ports/store.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { freePort } from '../helpers/gearmand.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from '../helpers/topology.js';
import { until } from '../helpers/wait.js';

const at = (n: { address: string; port: number }) => ({ address: n.address, port: n.port });
const key = (n: { address: string; port: number }) => `${n.address}:${n.port}`;

/** An application: inserts ids in a loop on the pool's WRITE server, reconnecting (and re-reading the pool) on errors. */
function startWriter(f: Fleet, cluster: ClusterRecord) {
  const acked: number[] = [];
  const failed: Array<{ id: number; error: string }> = [];
  let stop = false;
  const ours = (h: string, p: number) => cluster.nodes.some((n) => n.address === h && n.port === p);
  const done = (async () => {
    let c: mysql.Connection | null = null;
    for (let id = 1; !stop; id++) {
      try {
        if (!c) {
          const w = (await f.ctx.store!.pool.list()).find((r) => r.type.includes('WRITE') && ours(r.host, r.port));
          if (!w) throw new Error('no WRITE server in the pool');
          c = await mysql.createConnection({ host: w.host, port: w.port, user: 'app', password: 'apppw' });
        }
        await c.query('INSERT INTO app.t (id) VALUES (?)', [id]);
        acked.push(id);
      } catch (err) {
        failed.push({ id, error: (err as { code?: string }).code ?? (err as Error).message });
        c?.destroy();
        c = null;
        // An application's retry pause, not a wait in the test.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    c?.destroy();
  })();
  return {
    acked,
    failed,
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe('/replica switchover on real replication', () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let topo: PlainTopology;
  let plain: PlainServer[];
  let dir: string;
  const sql = async (n: { address: string; port: number }, s: string) => (await probe.exec(at(n), s)).rows;
  const demo = async () => (await f.ctx.store!.clusters.get('demo'))!;
  const master = (c: ClusterRecord) => c.nodes.find((n) => n.role === 'master')!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gearops-switchover-'));
    topo = createPlainTopology();
    plain = await Promise.all([1, 2, 3].map(async (i) => topo.start({ port: await freePort(), serverId: 40 + i })));
    await Promise.all([plain[1]!.replicateFrom(plain[0]!), plain[2]!.replicateFrom(plain[0]!)]);
    const creds = join(dir, 'credentials.yml');
    const { admin, repl } = topo.accounts;
    writeFileSync(
      creds,
      `prod:\n  user: ${admin.user}\n  password: ${admin.password}\n  replication:\n    user: ${repl.user}\n    password: ${repl.password}\n`,
    );
    chmodSync(creds, 0o600);
    // The demo policy, with a short switchover time-out so that a catch-up that cannot finish ends soon.
    const policy = join(dir, 'policy.yml');
    copyFileSync('policies/demo.yml', policy);
    writeFileSync(
      policy,
      readFileSync(policy, 'utf8').replace(/^settings:\n/m, 'settings:\n  switchover_timeout_s: 2\n'),
    );
    f = await startFleet({ env: { GEAROPS_CREDENTIALS_FILE: creds, GEAROPS_POLICY: policy } });
    const r = await f.run('/replica install demo master=server1 slaves=server2,server3 pool=yes');
    expect(r.outcome.status, r.text).toBe('ok');
    probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
    const m = master(await demo());
    await sql(m, 'CREATE DATABASE app');
    await sql(m, 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    // The application's account: read_only stops it (no READ_ONLY ADMIN), so it fails loudly, never writes late.
    await sql(m, "CREATE USER 'app'@'%' IDENTIFIED BY 'apppw'");
    await sql(m, "GRANT INSERT, SELECT ON app.* TO 'app'@'%'");
  }, 180_000);
  afterAll(async () => {
    await probe?.close();
    await f?.stop();
    await topo?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('switches while an application writes: every acknowledged insert is on the new master, one WRITE after', async () => {
    const before = await demo();
    const old = master(before);
    const writer = startWriter(f, before);
    await until(() => writer.acked.length >= 50, 30_000, { every: 20 });
    const { outcome, text } = await f.run('/replica switchover demo', { yes: true });
    expect(outcome.status, text).toBe('ok');
    const switched = writer.acked.length;
    // The application finds the new master through the pool and goes on writing there.
    await until(() => writer.acked.length >= switched + 50, 30_000, { every: 20 });
    await writer.stop();

    const after = await demo();
    const now = master(after);
    expect(key(now)).not.toBe(key(old));
    const pool = (await f.ctx.store!.pool.list()).filter((r) =>
      after.nodes.some((n) => key(n) === `${r.host}:${r.port}`),
    );
    expect(pool.filter((r) => r.type.includes('WRITE')).map((r) => `${r.host}:${r.port}`)).toEqual([key(now)]);
    expect(pool.find((r) => `${r.host}:${r.port}` === key(old))?.type).toEqual(['READ']);

    const rows = new Set((await sql(now, 'SELECT id FROM app.t')).map((r) => Number(r[0])));
    const lost = writer.acked.filter((id) => !rows.has(id));
    expect(lost).toEqual([]);
    // Whatever is there and was not acknowledged failed with an error the application saw (a commit whose answer
    // was lost): nothing appears that nobody wrote, nothing acknowledged vanished.
    const failedIds = new Set(writer.failed.map((x) => x.id));
    expect([...rows].filter((id) => !writer.acked.includes(id) && !failedIds.has(id))).toEqual([]);
    expect(writer.failed.length).toBeGreaterThan(0);
    console.log(
      `switchover under writes: ${writer.acked.length} acknowledged, ${writer.failed.length} failed (${[...new Set(writer.failed.map((x) => x.error))].join(', ')}), 0 lost`,
    );

    // Every node converges on the same rows, replicating from the new master; only the new master is writable.
    await until(
      async () => {
        const counts = await Promise.all(after.nodes.map((n) => sql(n, 'SELECT COUNT(*) FROM app.t')));
        return counts.every((c) => c[0]![0] === String(rows.size));
      },
      30_000,
      { every: 50 },
    );
    for (const n of after.nodes) {
      const s = await probe.status(at(n));
      if (key(n) === key(now)) expect(s).toMatchObject({ isReplica: false, readOnly: false });
      else expect(s).toMatchObject({ isReplica: true, readOnly: true, ioRunning: 'Yes', masterPort: now.port });
    }
    // Every step in the thread with its time; the pool channel told; the journal done.
    for (const step of [
      /read-only/,
      /has everything/,
      /promoted/,
      /replicating from/,
      /arrived on all 2/,
      /pool: WRITE on/,
    ])
      expect(text).toMatch(new RegExp(`\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ✓ .*${step.source}`));
    expect(f.sink.posts.some((p) => p.channel === 'CPOOL' && p.text.includes(`${key(now)} READ → READ,WRITE`))).toBe(
      true,
    );
    const [change] = await f.ctx.store!.changes!.recent('demo', 1);
    expect(change).toMatchObject({ kind: 'switchover', state: 'done', from: key(old), to: key(now), step: 'record' });
  });

  it('refuses, with the reason, a target that is not a healthy replica; nothing changes', async () => {
    const c = await demo();
    const m = master(c);
    const replica = c.nodes.find((n) => n.role === 'replica')!;
    const poolBefore = await f.ctx.store!.pool.list();
    const refused = async (line: string, why: RegExp) => {
      const r = await f.run(line, { yes: true });
      expect(r.outcome.status, r.text).toBe('refused');
      expect(r.text).toMatch(why);
    };
    await refused('/replica switchover demo to=127.0.0.1:1', /127\.0\.0\.1:1 is not a node of cluster demo/);
    await refused(`/replica switchover demo to=${key(m)}`, /is the master already/);
    await refused('/replica switchover nosuch', /no cluster named nosuch/);
    await refused('/replica switchover demo to=x;DROP', /is not to=<host> or to=<host:port>/);
    await sql(replica, 'STOP SLAVE SQL_THREAD');
    try {
      await refused(`/replica switchover demo to=${key(replica)}`, /does not replicate cleanly \(IO Yes, SQL No/);
    } finally {
      await sql(replica, 'START SLAVE SQL_THREAD');
    }
    expect(await f.ctx.store!.pool.list()).toEqual(poolBefore);
    expect((await probe.status(at(m))).readOnly).toBe(false);
    expect(master(await demo())).toEqual(m);
  });

  it('rolls back when the target cannot catch up in time: the old master is writable again', async () => {
    const c = await demo();
    const m = master(c);
    const target = c.nodes.find((n) => n.role === 'replica')!;
    const poolBefore = await f.ctx.store!.pool.list();
    // A session on the target holds the table: its SQL thread waits to apply the next insert (still "running").
    const lock = await mysql.createConnection({
      host: target.address,
      port: target.port,
      user: 'msandbox',
      password: 'msandbox',
    });
    try {
      await lock.query('LOCK TABLES app.t WRITE');
      await sql(m, 'INSERT INTO app.t (id) VALUES (1000000)');
      const r = await f.run(`/replica switchover demo to=${key(target)}`, { yes: true });
      expect(r.outcome.status, r.text).toBe('failed');
      expect(r.text).toMatch(/did not reach .* within 2 s \(switchover_timeout_s\)/);
      expect(r.text).toMatch(new RegExp(`${key(m).replaceAll('.', '\\.')} is the master again, writable`));
    } finally {
      await lock.end();
    }
    expect((await probe.status(at(m))).readOnly).toBe(false);
    const t = await probe.status(at(target));
    expect(t).toMatchObject({ isReplica: true, masterPort: m.port });
    expect(await f.ctx.store!.pool.list()).toEqual(poolBefore);
    const [change] = await f.ctx.store!.changes!.recent('demo', 1);
    expect(change).toMatchObject({ state: 'rolled_back', step: 'catch_up' });
    expect(await f.ctx.store!.changes!.running('demo')).toBeNull();
  });

  it('finishes a switchover cut after the promotion (the bot died): running the command again', async () => {
    const c = await demo();
    const m = master(c);
    const t = c.nodes.find((n) => n.role === 'replica')!;
    // Steps 1 to 3 by hand, as a bot that died right after promoting would leave them.
    const control = createReplicationControl({ credentials: { user: 'msandbox', password: 'msandbox' } });
    try {
      await control.setReadOnly(at(m), true);
      const pos = (await control.gtidState(at(m))).binlogPos;
      expect(await control.waitForGtid(at(t), pos, 10_000)).toBe(true);
      await control.detachReplication(at(t));
      await control.setReadOnly(at(t), false);
    } finally {
      await control.close();
    }
    const journal = f.ctx.store!.changes!;
    const cut = await journal.begin({
      cluster: 'demo',
      kind: 'switchover',
      from: key(m),
      to: key(t),
      actor: 'U9',
      step: 'promote',
    });
    // While its runner may still be alive, another switchover is refused.
    const busy = await f.run('/replica switchover demo', { yes: true });
    expect(busy.outcome.status, busy.text).toBe('refused');
    expect(busy.text).toMatch(new RegExp(`switchover #${cut.id} of demo .* at step promote is running`));
    const db = await mysql.createConnection(f.db.url);
    await db.query('UPDATE topology_changes SET updated_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ?', [cut.id]);
    await db.end();
    const r = await f.run('/replica switchover demo', { yes: true });
    expect(r.outcome.status, r.text).toBe('ok');
    expect(r.text).toMatch(/did not finish .* Finish it/);
    const pool = await f.ctx.store!.pool.list();
    expect(pool.filter((n) => n.type.includes('WRITE')).map((n) => `${n.host}:${n.port}`)).toEqual([key(t)]);
    expect(await probe.status(at(m))).toMatchObject({ isReplica: true, readOnly: true, masterPort: t.port });
    expect(master(await demo()).port).toBe(t.port);
    expect(await journal.get(cut.id)).toMatchObject({ state: 'done', step: 'record' });
  });

  it('switches a watched cluster with its named credentials, picking the most up-to-date replica', async () => {
    const w = await f.run(`/replica watch prod ${key(plain[1]!)} credentials=prod probe=direct`, { yes: true });
    expect(w.outcome.status, w.text).toBe('ok');
    await plain[0]!.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1)');
    const r = await f.run('/replica switchover prod', { yes: true });
    expect(r.outcome.status, r.text).toBe('ok');
    const c = (await f.ctx.store!.clusters.get('prod'))!;
    const now = master(c);
    expect([key(plain[1]!), key(plain[2]!)]).toContain(key(now));
    expect(r.text).toMatch(/most up-to-date healthy replica/);
    const newMaster = plain.find((s) => key(s) === key(now))!;
    await newMaster.sql('INSERT INTO app.t VALUES (2)');
    for (const s of plain)
      await until(async () => (await s.sql('SELECT COUNT(*) FROM app.t')).trim() === '2', 15_000, { every: 20 });
    // The old master replicates from the new one with the entry's replication account, read-only.
    expect(await plain[0]!.sql('SELECT @@read_only')).toMatch(/^1/);
    const slave = await plain[0]!.sql('SHOW SLAVE STATUS');
    expect(slave).toContain(`\t${now.port}\t`);
    expect(slave).toMatch(/\tYes\tYes\t/);
  });
});
