import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
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
  beforeAll(async () => {
    f = await startFleet();
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('installs a master and two replicas, proves replication, and records the cluster', async () => {
    const { outcome, text } = await f.run('/replica install demo master=server1 slaves=server2,server3 port=24100');
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/cluster demo ready/);
    const c = await f.ctx.store!.clusters.get('demo');
    expect(c?.nodes.map((n) => [n.host, n.port, n.role])).toEqual([
      ['server1', 24100, 'master'],
      ['server2', 24101, 'replica'],
      ['server3', 24102, 'replica'],
    ]);
    const probe = (await import('../../src/mysql/replication.js')).createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: f.ctx.logger,
    });
    await probe.exec({ address: '127.0.0.1', port: 24100 }, 'CREATE DATABASE t1');
    await probe.exec({ address: '127.0.0.1', port: 24100 }, 'CREATE TABLE t1.x (id INT PRIMARY KEY)');
    await probe.exec({ address: '127.0.0.1', port: 24100 }, 'INSERT INTO t1.x VALUES (1), (2)');
    const check = await probe.verifyReplication({ address: '127.0.0.1', port: 24100 }, [
      { address: '127.0.0.1', port: 24101 },
      { address: '127.0.0.1', port: 24102 },
    ]);
    expect(check.every((v) => v.ok)).toBe(true);
    for (const port of [24101, 24102])
      expect((await probe.exec({ address: '127.0.0.1', port }, 'SELECT COUNT(*) AS n FROM t1.x')).rows).toEqual([
        ['2'],
      ]);
    // Even a statement that got past /replica sql's checks could not read the host's files.
    expect(
      (await probe.exec({ address: '127.0.0.1', port: 24100 }, "SELECT LOAD_FILE('/etc/passwd') AS f")).rows,
    ).toEqual([['NULL']]);
    expect(
      (await probe.exec({ address: '127.0.0.1', port: 24100 }, 'SELECT @@secure_file_priv AS d')).rows[0]?.[0],
    ).toMatch(/\/server1\/demo\/files\/?$/);
    await probe.close();
  });

  it('/replica sql shows a wide result (SHOW SLAVE STATUS) one column per line on every node', async () => {
    const { outcome, text } = await f.run('/replica sql demo SHOW SLAVE STATUS');
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/\*master server1:24100\*\n\(no rows\)/);
    for (const r of ['server2:24101', 'server3:24102']) {
      const part = text.slice(text.indexOf(`*replica ${r}*`));
      expect(part).toMatch(/^ +Slave_IO_Running: Yes$/m);
      expect(part).toMatch(/^ +Master_Port: 24100$/m);
    }
    // Password hashes are credentials too: they do not reach the channel.
    const users = await f.run(
      "/replica sql demo SELECT User, authentication_string FROM mysql.user WHERE User = 'msandbox'",
    );
    expect(users.outcome.status, users.text).toBe('ok');
    expect(users.text).toMatch(/msandbox +\*\*\*\*/);
    expect(users.text).not.toMatch(/\*[0-9A-F]{40}/);
  });

  it('shows a broken replica in /replica status with its error', async () => {
    const probe = (await import('../../src/mysql/replication.js')).createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: f.ctx.logger,
    });
    // A row only the replica has, then the same key on the master: the replica's SQL thread stops with 1062.
    await probe.exec({ address: '127.0.0.1', port: 24102 }, 'INSERT INTO t1.x VALUES (3)');
    await probe.exec({ address: '127.0.0.1', port: 24100 }, 'INSERT INTO t1.x VALUES (3)');
    const deadline = Date.now() + 10_000;
    while ((await probe.status({ address: '127.0.0.1', port: 24102 })).sqlRunning === 'Yes' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const { outcome, text } = await f.run('/replica status demo');
    expect(outcome.status).toBe('ok');
    expect(text).toMatch(/✗ BROKEN +replica +server3 127\.0\.0\.1:24102 .* Yes +No .*SQL 1062: .*Duplicate entry '3'/);
    expect(text).toMatch(/1 broken node/);
    await probe.skipOneEvent({ address: '127.0.0.1', port: 24102 });
    await probe.close();
  });

  it('refuses bad installs with the reason and leaves nothing behind', async () => {
    const before = pidsOf(f);
    const cases: Array<[string, RegExp]> = [
      ['/replica install demo master=server1 slaves=server2', /cluster demo already exists/],
      ['/replica install c2 master=server1 slaves=nohost', /nohost: no worker is registered/],
      ['/replica install c2 master=server1 slaves=server1', /server1 is named twice/],
      ['/replica install c2 master=server1 slaves=server2 version=5.1', /version 5\.1 is not available/],
      ['/replica install c2 master=server1 slaves=server2 port=24100', /port 24100 is taken/],
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
    expect(text).toMatch(/demo +10\.11\.\d+ +24101 +running/);
  });

  it('asks before removing, then stops every node and deletes it', async () => {
    const no = await f.run('/replica remove demo');
    expect(no.outcome.status).toBe('refused');
    expect(await f.ctx.store!.clusters.get('demo')).not.toBeNull();
    const yes = await f.run('/replica remove demo', { yes: true });
    expect(yes.outcome.status, yes.text).toBe('ok');
    expect(await f.ctx.store!.clusters.get('demo')).toBeNull();
    for (const h of ['server1', 'server2', 'server3']) expect(existsSync(join(f.root, h, 'demo'))).toBe(false);
    const { execFileSync } = await import('node:child_process');
    const procs = execFileSync('ps', ['-eo', 'args']).toString();
    expect(procs).not.toContain(join(f.root, 'server1', 'demo'));
  });

  it('with pool=yes fills the pool, and remove takes the nodes out of it first, each change announced', async () => {
    const installed = await f.run('/replica install c3 master=server1 slaves=server2 port=24110 pool=yes');
    expect(installed.outcome.status, installed.text).toBe('ok');
    expect((await f.run('/pool add db9:3306 READ kept')).outcome.status).toBe('ok');
    const pool = async () =>
      (await f.ctx.store!.pool.list()).map((n) => `${n.host}:${n.port}:${n.type.join(',')}`).sort();
    expect(await pool()).toEqual(['127.0.0.1:24110:READ,WRITE', '127.0.0.1:24111:READ', 'db9:3306:READ']);
    const announced = () => f.sink.posts.filter((p) => p.channel === 'CPOOL').map((p) => showMentions(p.msg.text));
    expect(announced()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Pool: 127\.0\.0\.1:24110 not in pool → READ,WRITE by <@U1> — \/replica install c3 pool=yes$/,
        ),
        expect.stringMatching(/^Pool: 127\.0\.0\.1:24111 not in pool → READ by/),
      ]),
    );

    const asked = await f.run('/replica remove c3');
    expect(asked.outcome.status).toBe('refused');
    expect(asked.text).toMatch(
      /takes 127\.0\.0\.1:24110 \(READ,WRITE\), 127\.0\.0\.1:24111 \(READ\) out of the load-balancer pool/,
    );
    expect(await pool()).toHaveLength(3);

    const removed = await f.run('/replica remove c3', { yes: true });
    expect(removed.outcome.status, removed.text).toBe('ok');
    expect(removed.text).toMatch(
      /Taken out of the pool: 127\.0\.0\.1:24110, 127\.0\.0\.1:24111\. ⚠ The pool now has no WRITE server\./,
    );
    expect(await pool()).toEqual(['db9:3306:READ']);
    expect(announced().filter((t) => t.includes('→ not in pool'))).toEqual([
      'Pool: 127.0.0.1:24110 READ,WRITE → not in pool by <@U1> — /replica remove c3',
      'Pool: 127.0.0.1:24111 READ → not in pool by <@U1> — /replica remove c3',
    ]);
    const history = await f.ctx.store!.pool.history(10);
    expect(
      history
        .filter((h) => h.reason === '/replica remove c3')
        .map((h) => `${h.host}:${h.port} ${h.before?.join(',')} -> ${h.after}`)
        .sort(),
    ).toEqual(['127.0.0.1:24110 READ,WRITE -> null', '127.0.0.1:24111 READ -> null']);
    for (const h of ['server1', 'server2']) expect(existsSync(join(f.root, h, 'c3'))).toBe(false);
  });
});
