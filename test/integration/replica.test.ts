import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { freePortRange } from '../helpers/gearmand.js';
import { until } from '../helpers/wait.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import type { ClusterCredentials } from '../../src/core/ports/credentials.js';
import { createFileCredentialStore } from '../../src/cluster-credentials.js';
import { showMentions } from '../../src/core/message.js';

const pidsOf = (f: Fleet) => {
  const out: string[] = [];
  for (const h of ['server1', 'server2', 'server3']) {
    const d = join(f.root, h);
    if (existsSync(d)) out.push(...readdirSync(d).map((n) => `${h}/${n}`));
  }
  return out;
};

describe('/replica with real workers and MariaDB sandboxes', () => {
  let f: Fleet;
  // This fleet's clusters get random passwords, as on real hosts (not the demo's well-known ones).
  const credsOf = (cluster: string): ClusterCredentials =>
    JSON.parse(readFileSync(join(f.root, 'bot.state', 'clusters', `${cluster}.json`), 'utf8')) as ClusterCredentials;
  const adminProbe = (cluster: string) =>
    createReplicationProbe({ credentials: credsOf(cluster).admin, logger: f.ctx.logger });
  // Free ports of this run: demo's master and replicas at P, P + 1, P + 2; c3's at Q = P + 3 and Q + 1.
  let P = 0;
  let Q = 0;
  beforeAll(async () => {
    f = await startFleet({ env: { GEAROPS_SANDBOX_DEMO_CREDENTIALS: '0' } });
    P = await freePortRange(5);
    Q = P + 3;
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('installs a master and two replicas, proves replication, and records the cluster', async () => {
    const { outcome, text } = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${P}`);
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/cluster demo ready/);
    const c = await f.ctx.store!.clusters.get('demo');
    expect(c?.nodes.map((n) => [n.host, n.port, n.role])).toEqual([
      ['server1', P, 'master'],
      ['server2', P + 1, 'replica'],
      ['server3', P + 2, 'replica'],
    ]);
    const probe = adminProbe('demo');
    await probe.exec({ address: '127.0.0.1', port: P }, 'CREATE DATABASE t1');
    await probe.exec({ address: '127.0.0.1', port: P }, 'CREATE TABLE t1.x (id INT PRIMARY KEY)');
    await probe.exec({ address: '127.0.0.1', port: P }, 'INSERT INTO t1.x VALUES (1), (2)');
    const check = await probe.verifyReplication({ address: '127.0.0.1', port: P }, [
      { address: '127.0.0.1', port: P + 1 },
      { address: '127.0.0.1', port: P + 2 },
    ]);
    expect(check.every((v) => v.ok)).toBe(true);
    for (const port of [P + 1, P + 2])
      expect((await probe.exec({ address: '127.0.0.1', port }, 'SELECT COUNT(*) AS n FROM t1.x')).rows).toEqual([
        ['2'],
      ]);
    // Even a statement that got past /replica sql's checks could not read the host's files.
    expect((await probe.exec({ address: '127.0.0.1', port: P }, "SELECT LOAD_FILE('/etc/passwd') AS f")).rows).toEqual([
      ['NULL'],
    ]);
    expect(
      (await probe.exec({ address: '127.0.0.1', port: P }, 'SELECT @@secure_file_priv AS d')).rows[0]?.[0],
    ).toMatch(/\/server1\/demo\/files\/?$/);
    await probe.close();
  });

  it('/replica sql shows a wide result (SHOW SLAVE STATUS) one column per line on every node', async () => {
    const { outcome, text } = await f.run('/replica sql demo SHOW SLAVE STATUS');
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(new RegExp(String.raw`\*master server1:${P}\*\n\(no rows\)`));
    for (const r of [`server2:${P + 1}`, `server3:${P + 2}`]) {
      const part = text.slice(text.indexOf(`*replica ${r}*`));
      expect(part).toMatch(/^ +Slave_IO_Running: Yes$/m);
      expect(part).toMatch(new RegExp(String.raw`^ +Master_Port: ${P}$`, 'm'));
    }
  });

  it('gives every cluster its own passwords, kept in the bot state dir only, and servers a minimal environment', async () => {
    const creds = credsOf('demo');
    const all = [creds.admin, creds.replication, creds.readOnly];
    expect(all.map((a) => a.password)).not.toContain('msandbox');
    expect(new Set(all.map((a) => a.password)).size).toBe(3);
    for (const a of all) expect(a.password.length).toBeGreaterThanOrEqual(24);
    expect(statSync(join(f.root, 'bot.state', 'clusters', 'demo.json')).mode & 0o077).toBe(0);
    expect(statSync(join(f.root, 'bot.state', 'clusters')).mode & 0o077).toBe(0);
    // The store records where they live, never them.
    const record = JSON.stringify(await f.ctx.store!.clusters.get('demo'));
    for (const a of all) expect(record).not.toContain(a.password);
    // The public msandbox/msandbox does not log in.
    const publicProbe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: f.ctx.logger,
    });
    expect((await publicProbe.status({ address: '127.0.0.1', port: P })).error).toMatch(/Access denied/);
    await publicProbe.close();
    // Each worker keeps them too (0600), for later jobs of that cluster.
    const kept = join(f.root, 'server2.state', 'sandboxes', 'clusters', 'demo.json');
    expect(JSON.parse(readFileSync(kept, 'utf8'))).toEqual(creds);
    expect(statSync(kept).mode & 0o077).toBe(0);
    // The worker has GEAROPS_JOB_SECRET and the store URL in its environment; its servers do not.
    for (const h of ['server1', 'server2']) {
      const pid = readFileSync(join(f.root, h, 'demo', 'mysqld.pid'), 'utf8').trim();
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      expect(env).not.toContain(f.secret);
      expect(env).not.toMatch(/(^|\0)GEAROPS_/);
      expect(env).not.toContain(f.db.url);
    }
  });

  it('/replica sql runs as a read-only account that cannot see password hashes', async () => {
    // Application schemas made after the install are readable.
    const count = await f.run('/replica sql demo SELECT COUNT(*) AS n FROM t1.x');
    expect(count.outcome.status, count.text).toBe('ok');
    expect(count.text.match(/^ *2 *$/gm)?.length ?? count.text).toBe(3);
    const who = await f.run('/replica sql demo SELECT CURRENT_USER() AS u, @@max_statement_time AS t');
    // GEAROPS_SQL_TIMEOUT_S (30) ends it with KILL QUERY; the server's own limit is a second later.
    expect(who.text).toMatch(/gearops_ro@% +31(\.0+)?$/m);
    expect(who.text).not.toMatch(/msandbox@/);
    // Password hashes: not by column name, not through expressions; the account has no access to mysql.*.
    for (const statement of [
      "SELECT User, authentication_string FROM mysql.user WHERE User = 'msandbox'",
      'SELECT SUBSTR(authentication_string, 2) AS s FROM mysql.user',
      'SELECT HEX(authentication_string) AS h FROM mysql.user',
      'SELECT HEX(Priv) AS p FROM mysql.global_priv',
    ]) {
      const r = await f.run(`/replica sql demo ${statement}`);
      expect(r.text, statement).toMatch(/SELECT command denied to user 'gearops_ro'/);
      expect(r.text, statement).not.toMatch(/[0-9A-F]{40}/);
      expect(r.outcome.status, statement).toBe('failed');
    }
    // Even a statement past the checks could not write: the transaction is read-only.
    const probe = createReplicationProbe({
      credentials: createFileCredentialStore(join(f.root, 'bot.state')),
      logger: f.ctx.logger,
    });
    const node = { address: '127.0.0.1', port: P, cluster: 'demo' };
    const ro = { readOnly: true as const, maxStatementTimeS: 5 };
    const inside = (await probe.exec(node, 'SELECT @@in_transaction AS t, @@max_statement_time AS m', ro)).rows;
    expect(inside.map((r) => r.map(Number))).toEqual([[1, 5]]);
    await expect(probe.exec(node, 'INSERT INTO t1.x VALUES (99)', ro)).rejects.toThrow(/read only|denied/i);
    await expect(probe.exec(node, 'CREATE DATABASE nope', ro)).rejects.toThrow(/read only|denied/i);
    await probe.close();
    const quoted = await f.run('/replica sql demo SELECT `SLEEP`(240)');
    expect(quoted.outcome).toMatchObject({ status: 'denied', rule: 'sql-denied-function' });
    expect(quoted.text).toMatch(/the function SLEEP is not allowed/);
  });

  it('shows a broken replica in /replica status with its error', async () => {
    const probe = adminProbe('demo');
    // A row only the replica has, then the same key on the master: the replica's SQL thread stops with 1062.
    await probe.exec({ address: '127.0.0.1', port: P + 2 }, 'INSERT INTO t1.x VALUES (3)');
    await probe.exec({ address: '127.0.0.1', port: P }, 'INSERT INTO t1.x VALUES (3)');
    await until(async () => (await probe.status({ address: '127.0.0.1', port: P + 2 })).sqlRunning !== 'Yes', 10_000);
    const { outcome, text } = await f.run('/replica status demo');
    expect(outcome.status).toBe('ok');
    expect(text).toMatch(
      new RegExp(
        String.raw`✗ BROKEN +replica +server3 127\.0\.0\.1:${P + 2} .* Yes +No .*SQL 1062: .*Duplicate entry '3'`,
      ),
    );
    expect(text).toMatch(/1 broken node/);
    await probe.skipOneEvent({ address: '127.0.0.1', port: P + 2 });
    await probe.close();
  });

  it('refuses bad installs with the reason and leaves nothing behind', async () => {
    const before = pidsOf(f);
    const cases: Array<[string, RegExp]> = [
      ['/replica install demo master=server1 slaves=server2', /cluster demo already exists/],
      ['/replica install c2 master=server1 slaves=nohost', /nohost: no worker is registered/],
      ['/replica install c2 master=server1 slaves=server1', /server1 is named twice/],
      ['/replica install c2 master=server1 slaves=server2 version=5.1', /version 5\.1 is not available/],
      [`/replica install c2 master=server1 slaves=server2 port=${P}`, new RegExp(String.raw`port ${P} is taken`)],
      ['/replica install c2 master=server1', /slaves=.* is missing/],
      ['/replica install C2; master=server1 slaves=server2', /not a cluster name/],
    ];
    for (const [line, why] of cases) {
      const { outcome, text } = await f.run(line);
      expect(outcome.status, line).not.toBe('ok');
      expect(text, line).toMatch(why);
    }
    expect(pidsOf(f)).toEqual(before);
    expect((await f.ctx.store!.clusters.list()).map((c) => c.name)).toEqual(['demo']);
  });

  it('diagnoses a host', async () => {
    const { text } = await f.run('/replica diagnose server2');
    expect(text).toMatch(/10\.11\.\d+ +mariadb/);
    expect(text).toMatch(new RegExp(String.raw`demo +10\.11\.\d+ +${P + 1} +running`));
  });

  it('asks before removing, then stops every node and deletes it', async () => {
    const no = await f.run('/replica remove demo');
    expect(no.outcome.status).toBe('refused');
    expect(await f.ctx.store!.clusters.get('demo')).not.toBeNull();
    const yes = await f.run('/replica remove demo', { yes: true });
    expect(yes.outcome.status, yes.text).toBe('ok');
    expect(await f.ctx.store!.clusters.get('demo')).toBeNull();
    for (const h of ['server1', 'server2', 'server3']) expect(existsSync(join(f.root, h, 'demo'))).toBe(false);
    // Its passwords go with it, on the bot and on the workers.
    expect(existsSync(join(f.root, 'bot.state', 'clusters', 'demo.json'))).toBe(false);
    expect(existsSync(join(f.root, 'server2.state', 'sandboxes', 'clusters', 'demo.json'))).toBe(false);
    const { execFileSync } = await import('node:child_process');
    const procs = execFileSync('ps', ['-eo', 'args']).toString();
    expect(procs).not.toContain(join(f.root, 'server1', 'demo'));
  });

  it('with pool=yes fills the pool, and remove takes the nodes out of it first, each change announced', async () => {
    const installed = await f.run(`/replica install c3 master=server1 slaves=server2 port=${Q} pool=yes`);
    expect(installed.outcome.status, installed.text).toBe('ok');
    expect((await f.run('/pool add db9:3306 READ kept')).outcome.status).toBe('ok');
    const pool = async () =>
      (await f.ctx.store!.pool.list()).map((n) => `${n.host}:${n.port}:${n.type.join(',')}`).sort();
    expect(await pool()).toEqual([`127.0.0.1:${Q}:READ,WRITE`, `127.0.0.1:${Q + 1}:READ`, 'db9:3306:READ']);
    const announced = () => f.sink.posts.filter((p) => p.channel === 'CPOOL').map((p) => showMentions(p.msg.text));
    expect(announced()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            String.raw`^Pool: 127\.0\.0\.1:${Q} not in pool → READ,WRITE by <@U1> — /replica install c3 pool=yes$`,
          ),
        ),
        expect.stringMatching(new RegExp(String.raw`^Pool: 127\.0\.0\.1:${Q + 1} not in pool → READ by`)),
      ]),
    );

    const asked = await f.run('/replica remove c3');
    expect(asked.outcome.status).toBe('refused');
    expect(asked.text).toMatch(
      new RegExp(
        String.raw`takes 127\.0\.0\.1:${Q} \(READ,WRITE\), 127\.0\.0\.1:${Q + 1} \(READ\) out of the load-balancer pool`,
      ),
    );
    expect(await pool()).toHaveLength(3);

    const removed = await f.run('/replica remove c3', { yes: true });
    expect(removed.outcome.status, removed.text).toBe('ok');
    expect(removed.text).toMatch(
      new RegExp(
        String.raw`Taken out of the pool: 127\.0\.0\.1:${Q}, 127\.0\.0\.1:${Q + 1}\. ⚠ The pool now has no WRITE server\.`,
      ),
    );
    expect(await pool()).toEqual(['db9:3306:READ']);
    expect(announced().filter((t) => t.includes('→ not in pool'))).toEqual([
      `Pool: 127.0.0.1:${Q} READ,WRITE → not in pool by <@U1> — /replica remove c3`,
      `Pool: 127.0.0.1:${Q + 1} READ → not in pool by <@U1> — /replica remove c3`,
    ]);
    const history = await f.ctx.store!.pool.history(10);
    expect(
      history
        .filter((h) => h.reason === '/replica remove c3')
        .map((h) => `${h.host}:${h.port} ${h.before?.join(',')} -> ${h.after}`)
        .sort(),
    ).toEqual([`127.0.0.1:${Q} READ,WRITE -> null`, `127.0.0.1:${Q + 1} READ -> null`]);
    for (const h of ['server1', 'server2']) expect(existsSync(join(f.root, h, 'c3'))).toBe(false);
  });
});
