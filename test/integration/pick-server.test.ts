import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import type { Store } from '../../src/core/ports/store.js';
import type { MariadbProcess } from '../../src/mysql/mariadb-process.js';
import { createPoolReader } from '../../src/pool/index.js';
import { startMariadb } from '../helpers/mariadb.js';

describe('pickServer against the real nodes table', () => {
  let db: MariadbProcess;
  let store: Store;
  beforeAll(async () => {
    db = await startMariadb();
    store = await createMysqlStore({ url: db.url, logger: createSilentLogger() });
    await store.pool.add({ host: 'm1', port: 3306, sock: '', type: ['READ', 'WRITE'] }, 'U', 't');
    await store.pool.add({ host: 'r1', port: 3306, sock: '', type: ['READ'] }, 'U', 't');
    await store.pool.add({ host: 'r2', port: 3306, sock: '', type: ['READ'] }, 'U', 't');
    await store.pool.add({ host: 'off', port: 3306, sock: '', type: [] }, 'U', 't');
  });
  afterAll(async () => {
    await store?.close();
    await db?.stop();
  });

  it('spreads reads over every READ server, sends writes to WRITE servers, never to offline ones', async () => {
    const reader = createPoolReader({ url: db.url, refreshMs: 200 });
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const s = await reader.pickServer('READ');
      counts.set(s.host, (counts.get(s.host) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['m1', 'r1', 'r2']);
    for (const n of counts.values()) expect(n).toBeGreaterThan(30);
    for (let i = 0; i < 20; i++) expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await store.pool.set('r2', 3306, [], 'U', 'maintenance');
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 50; i++) expect((await reader.pickServer('READ')).host).not.toBe('r2');
    await reader.close();
  });

  it('keeps serving the last good list when MySQL goes away', async () => {
    const reader = createPoolReader({ url: db.url, refreshMs: 100, maxStaleMs: 60_000, onError: () => undefined });
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await db.kill();
    await new Promise((r) => setTimeout(r, 400));
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await reader.close();
    await db.restart();
  });
});
