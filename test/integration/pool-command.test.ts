import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { ErrorCode, isGearopsError } from '../../src/errors.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import type { CommandOutcome } from '../../src/core/ports/commands.js';
import type { PoolChange, Store } from '../../src/core/ports/store.js';
import { renderText } from '../../src/core/message.js';
import { loadPolicyFile } from '../../src/core/policy/index.js';
import { createPoolCommand } from '../../commands/pool.js';
import { startMariadb } from '../helpers/mariadb.js';
import { createRecordingReply } from '../unit/fakes/ports.js';

const logger = createSilentLogger();

describe('/pool through the real pool store on MariaDB', () => {
  let db: MariadbProcess;
  let store: Store;
  let raw: mysql.Connection;
  const announced: string[] = [];

  beforeAll(async () => {
    db = await startMariadb();
    store = await createMysqlStore({ url: db.url, logger });
    raw = await mysql.createConnection(db.url);
  });

  afterAll(async () => {
    await raw?.end();
    await store?.close();
    await db?.stop();
  });

  const cmd = () =>
    createPoolCommand({
      policy: loadPolicyFile('policies/demo.yml'),
      pool: store.pool,
      chat: {
        post: async (channel, m) => (
          announced.push(renderText(m).split('\n')[0]!),
          { channel, ts: `${announced.length}.0` }
        ),
        update: async () => undefined,
        upload: async () => undefined,
      },
      poolChannel: 'CPOOL',
      logger,
    });
  const go = async (text: string, user = 'U1', confirm = true) => {
    const rec = createRecordingReply('COPS', { confirm });
    const out = await cmd().handle({
      command: 'pool',
      text,
      principal: { userId: user, channelId: 'COPS', roles: [] },
      reply: rec.reply,
      source: 'slack',
      requestId: `r-${user}`,
    });
    return { out, rec };
  };
  const historyOf = async (host: string): Promise<PoolChange[]> =>
    (await store.pool.history(10_000)).filter((h) => h.host === host).reverse();
  const rowCount = async (sql: string, params: unknown[] = []) =>
    Number((await raw.query<mysql.RowDataPacket[]>(sql, params))[0][0]?.n);

  it('has the nodes table exactly as the issue gives it, and nothing more', async () => {
    const [cols] = await raw.query<mysql.RowDataPacket[]>(
      "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS def, COLUMN_KEY AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'nodes' ORDER BY ORDINAL_POSITION",
    );
    expect(cols.map((c) => [c.name, c.type, c.nullable, c.k])).toEqual([
      ['host', 'char(28)', 'NO', 'PRI'],
      ['port', 'int(10) unsigned', 'NO', 'PRI'],
      ['sock', 'char(64)', 'NO', ''],
      ['type', "set('READ','WRITE')", 'NO', ''],
    ]);
    expect(String(cols[3]?.def).replace(/'/g, '')).toBe('');
    const [ddl] = await raw.query<mysql.RowDataPacket[]>('SHOW CREATE TABLE nodes');
    expect(String(ddl[0]?.['Create Table'])).toMatch(/PRIMARY KEY \(`host`,`port`\)/);
  });

  it('runs add, set, offline, list and del with history and one announcement per change', async () => {
    const before = announced.length;
    expect((await go('add db3:3306 READ sock=/var/run/mysqld/db3.sock new replica')).out.status).toBe('ok');
    expect(await store.pool.get('db3', 3306)).toEqual({
      host: 'db3',
      port: 3306,
      sock: '/var/run/mysqld/db3.sock',
      type: ['READ'],
    });
    expect((await go('set db3:3306 READ,WRITE promoted', 'U2')).out.status).toBe('ok');
    expect((await go('set db3:3306 write,read', 'U2')).rec.ephemerals[0]).toMatch(
      /already READ,WRITE; nothing was changed/,
    );
    expect((await go('offline db3:3306 disk full', 'U3')).out.status).toBe('ok');
    expect((await go('list')).rec.ephemerals[0]).toMatch(/db3:3306\s+\/var\/run\/mysqld\/db3\.sock\s+offline/);
    expect((await go('del db3:3306 retired', 'U1', false)).out.status).toBe('refused');
    expect(await store.pool.get('db3', 3306)).not.toBeNull();
    expect((await go('del db3:3306 retired', 'U4')).out.status).toBe('ok');
    expect(await store.pool.get('db3', 3306)).toBeNull();

    const h = await historyOf('db3');
    expect(h.map((c) => [c.before, c.after, c.actor, c.reason])).toEqual([
      [null, ['READ'], 'U1', 'new replica'],
      [['READ'], ['READ', 'WRITE'], 'U2', 'promoted'],
      [['READ', 'WRITE'], [], 'U3', 'disk full'],
      [[], null, 'U4', 'retired'],
    ]);
    for (const c of h) expect(c.at).toBeInstanceOf(Date);
    expect(announced.slice(before)).toEqual([
      'Pool: db3:3306 not in pool → READ by <@U1> — new replica',
      'Pool: db3:3306 READ → READ,WRITE by <@U2> — promoted',
      'Pool: db3:3306 READ,WRITE → offline by <@U3> — disk full',
      'Pool: db3:3306 offline → not in pool by <@U4> — retired',
    ]);
  });

  it('changes nothing on bad input or unknown servers, and binds SQL-looking text as plain data', async () => {
    await go('add db5:3306 READ');
    const nodes = await store.pool.list();
    const history = await rowCount('SELECT COUNT(*) AS n FROM pool_history');
    for (const bad of [
      'add db5',
      'add db5:0',
      'add db5:99999',
      'add db5:3306 READER',
      'add db6:3306 READ sock=../x',
      `add ${'h'.repeat(40)}:3306`,
      "add db3'; DROP TABLE nodes;--:3306",
      'set db5:3306 READER',
      'set db9:3306 READ',
      'offline db9:3306',
      'del db9:3306',
      'add db5:3306 WRITE',
    ]) {
      expect((await go(bad)).out.status, bad).toBe('refused');
    }
    expect(await store.pool.list()).toEqual(nodes);
    expect(await rowCount('SELECT COUNT(*) AS n FROM pool_history')).toBe(history);

    const evil = "x'); DROP TABLE nodes; -- \\' \"";
    expect((await go(`offline db5:3306 ${evil}`)).out.status).toBe('ok');
    expect((await historyOf('db5')).at(-1)?.reason).toBe(evil);
    expect(
      await rowCount(
        "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'nodes'",
      ),
    ).toBe(1);
  });

  it('refuses at the store a host or socket longer than the columns instead of truncating it', async () => {
    const err = await store.pool
      .add({ host: 'h'.repeat(29), port: 3306, sock: '', type: [] }, 'U1', 'too long')
      .catch((e: unknown) => e);
    expect(isGearopsError(err, ErrorCode.Usage)).toBe(true);
    expect(await rowCount('SELECT COUNT(*) AS n FROM nodes WHERE host LIKE ?', ['hhhh%'])).toBe(0);
  });

  it('lands ten concurrent adds from ten users, each in the history and announced once', async () => {
    const before = announced.length;
    const outs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => go(`add web${i}:3306 READ scale-out`, `U${i}`)),
    );
    expect(outs.map((o) => o.out.status)).toEqual(Array(10).fill('ok'));
    expect(await rowCount("SELECT COUNT(*) AS n FROM nodes WHERE host LIKE 'web%'")).toBe(10);
    expect(await rowCount("SELECT COUNT(*) AS n FROM pool_history WHERE host LIKE 'web%'")).toBe(10);
    expect(announced.length - before).toBe(10);
  });

  it('lets exactly one of ten concurrent adds of the same server land; nine hear "already in the pool"', async () => {
    const outs = await Promise.all(Array.from({ length: 10 }, (_, i) => go(`add same:3306 READ race ${i}`, `U${i}`)));
    const ok = outs.filter((o) => o.out.status === 'ok');
    expect(ok).toHaveLength(1);
    const refused = outs.filter((o) => o.out.status === 'refused');
    expect(refused).toHaveLength(9);
    for (const r of refused)
      expect(r.rec.ephemerals[0]).toMatch(/^same:3306 is already in the pool as READ; nothing was changed/);
    expect(await historyOf('same')).toHaveLength(1);
  });

  it('keeps nodes and history consistent under concurrent set/offline/del from several users', async () => {
    await go('add flip:3306 READ');
    const before = announced.length;
    const texts = Array.from({ length: 24 }, (_, i) =>
      i === 17
        ? 'del flip:3306 gone'
        : i % 3 === 0
          ? 'offline flip:3306'
          : i % 3 === 1
            ? 'set flip:3306 READ'
            : 'set flip:3306 READ,WRITE',
    );
    const outs: CommandOutcome[] = (await Promise.all(texts.map((t, i) => go(t, `U${i}`)))).map((o) => o.out);
    const changed = outs.filter((o) => o.status === 'ok' && !/unchanged/.test(o.summary ?? '')).length;
    const h = await historyOf('flip');
    // The add, then every change that reported success; no-ops and "not in the pool" wrote nothing.
    expect(h).toHaveLength(1 + changed);
    expect(announced.length - before).toBe(changed);
    for (let i = 1; i < h.length; i++) expect(h[i]!.before, `history row ${i}`).toEqual(h[i - 1]!.after);
    expect(h.at(-1)!.after).toBeNull(); // the delete was last: nothing happens to a server after it left
    expect(await store.pool.get('flip', 3306)).toBeNull();
    expect(outs.every((o) => o.status === 'ok' || o.status === 'refused')).toBe(true);
  });
});
