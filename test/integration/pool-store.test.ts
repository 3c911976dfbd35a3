import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import type { Store } from '../../src/core/ports/store.js';
import { loadPolicyFile } from '../../src/core/policy/index.js';
import { createPoolCommand } from '../../commands/pool.js';
import { createCommandRouter } from '../../src/core/router.js';
import { startMariadb } from '../helpers/mariadb.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { showMentions } from '../../src/core/message.js';

const logger = createSilentLogger();

describe('store and /pool on a real MariaDB', () => {
  let db: MariadbProcess;
  let store: Store;

  beforeAll(async () => {
    db = await startMariadb();
    // Two stores starting at once on a fresh database: migrations run once, both work.
    const [a, b] = await Promise.all([
      createMysqlStore({ url: db.url, logger }),
      createMysqlStore({ url: db.url, logger }),
    ]);
    await b.close();
    store = a;
  });

  afterAll(async () => {
    await store?.close();
    await db?.stop();
  });

  it('creates the nodes table applications read, exactly', async () => {
    const mysql = await import('mysql2/promise');
    const c = await mysql.createConnection(db.url);
    const [rows] = await c.query<import('mysql2').RowDataPacket[]>('SHOW CREATE TABLE nodes');
    await c.end();
    const ddl = String(rows[0]?.['Create Table']);
    expect(ddl).toMatch(/`host` char\(28\) NOT NULL/);
    expect(ddl).toMatch(/`port` int\(10\) unsigned NOT NULL/);
    expect(ddl).toMatch(/`sock` char\(64\) NOT NULL/);
    expect(ddl).toMatch(/`type` set\('READ','WRITE'\) NOT NULL DEFAULT ''/);
    expect(ddl).toMatch(/PRIMARY KEY \(`host`,`port`\)/);
  });

  it('runs every /pool subcommand against the real table, with history and announcements', async () => {
    const policy = loadPolicyFile('policies/demo.yml');
    const announced: string[] = [];
    const chat = {
      post: async (_c: string, m: { text: string }) => (
        announced.push(showMentions(m.text)),
        { channel: 'CPOOL', ts: '1.1' }
      ),
      update: async () => undefined,
      upload: async () => undefined,
    };
    const cmd = createPoolCommand({ policy, pool: store.pool, chat, poolChannel: 'CPOOL', logger });
    const router = createCommandRouter({ commands: [cmd], policy, logger, audit: store.audit });
    const go = async (text: string, confirm = true) => {
      const rec = createRecordingReply('C1', { confirm });
      const out = await router.dispatch({
        command: 'pool',
        text,
        principal: { userId: 'U1', channelId: 'C1', roles: [] },
        reply: rec.reply,
        source: 'console',
        requestId: 'r',
      });
      return { out, rec };
    };
    expect((await go('add db3:3306 READ maintenance done')).out.status).toBe('ok');
    expect((await go('add db3:3306 WRITE')).rec.ephemerals[0]).toMatch(
      /already in the pool as READ; nothing was changed/,
    );
    expect((await go('add db4:3306')).out.status).toBe('ok');
    expect((await store.pool.get('db4', 3306))?.type).toEqual([]);
    expect((await go('set db4:3306 read,write')).out.status).toBe('ok');
    expect((await go('offline db3:3306 disk full')).out.status).toBe('ok');
    for (const bad of [
      'add db3',
      'add db3:0',
      'add db3:99999',
      'add db3:3306 READER',
      'add db5:3306 READ sock=../x',
      `add ${'h'.repeat(40)}:3306`,
      "add db3';DROP TABLE nodes;--:3306",
    ]) {
      expect((await go(bad)).out.status, bad).toBe('refused');
    }
    expect((await go('del db4:3306', false)).out.status).toBe('refused');
    expect(await store.pool.get('db4', 3306)).not.toBeNull();
    expect((await go('del db4:3306')).out.status).toBe('ok');
    expect(await store.pool.get('db4', 3306)).toBeNull();
    const list = (await go('list')).rec.ephemerals[0] ?? '';
    expect(list).toMatch(/db3:3306 +- +offline/);
    const history = await store.pool.history(100);
    expect(history).toHaveLength(5);
    expect(history[0]).toMatchObject({ host: 'db4', before: ['READ', 'WRITE'], after: null, actor: 'U1' });
    expect(announced).toHaveLength(5);
    expect(announced[0]).toMatch(/db3:3306 not in pool → READ by <@U1> — maintenance done/);
  });

  it('keeps the table and history consistent under concurrent changes', async () => {
    const adds = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        store.pool.add({ host: `c${i}`, port: 3306, sock: '', type: ['READ'] }, 'U2', 'concurrent'),
      ),
    );
    expect(adds.every((a) => a.status === 'fulfilled')).toBe(true);
    const same = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        store.pool.add({ host: 'same', port: 3306, sock: '', type: ['READ'] }, 'U2', 'race'),
      ),
    );
    expect(same.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    expect(
      same.filter((a) => a.status === 'rejected' && /already in the pool/.test(String((a.reason as Error).message))),
    ).toHaveLength(9);
    const flips = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => store.pool.set('same', 3306, i % 2 ? ['READ'] : [], 'U3', 'flip')),
    );
    expect(flips.every((f) => f.status === 'fulfilled')).toBe(true);
    // A set to the type the node already has is no change and writes no history row.
    const changed = flips.filter(
      (f) => f.status === 'fulfilled' && JSON.stringify(f.value.before) !== JSON.stringify(f.value.after),
    ).length;
    expect(changed).toBeGreaterThan(0);
    const h = (await store.pool.history(1000)).filter((x) => x.host === 'same');
    expect(h).toHaveLength(1 + changed);
    // Each recorded change starts where the previous one ended.
    const chrono = [...h].reverse();
    for (let i = 1; i < chrono.length; i++) expect(chrono[i]!.before).toEqual(chrono[i - 1]!.after);
  });

  it('keeps one open incident per node and kind, even when opened concurrently', async () => {
    const spec = {
      cluster: 'demo',
      host: 'server2',
      port: 21001,
      kind: 'sql_stopped' as const,
      errno: 1062,
      error: 'dup',
      lag: null,
    };
    const opened = await Promise.all(Array.from({ length: 5 }, () => store.incidents.open(spec)));
    expect(opened.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(opened.map((o) => o.incident.id)).size).toBe(1);
    await store.incidents.resolve(opened[0]!.incident.id);
    const again = await store.incidents.open(spec);
    expect(again.created).toBe(true);
    expect(again.incident.id).not.toBe(opened[0]!.incident.id);
  });

  it('lets only one holder take the monitor lock, and another take it after release', async () => {
    const other = await createMysqlStore({ url: db.url, logger });
    const a = store.lock('gearops.test');
    const b = other.lock('gearops.test');
    expect(await a.tryAcquire()).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    await a.release();
    expect(await b.tryAcquire()).toBe(true);
    await b.release();
    await other.close();
  });
});
