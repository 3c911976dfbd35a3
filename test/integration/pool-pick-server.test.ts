import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createSilentLogger } from '../../src/log.js';
import { ErrorCode, isGearopsError } from '../../src/errors.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import type { Store } from '../../src/core/ports/store.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { createPoolReader } from '../../src/pool/index.js';
import { createPoolSource, type PoolSource } from '../../src/mysql/pool-reader-source.js';
import { startMariadb } from '../helpers/mariadb.js';
import { until } from '../helpers/wait.js';

/**
 * The real source over `url`, counting the reads that answered; while `hold` is set, a read waits until it is
 * cleared and then fails (a server that does not answer).
 */
function watchedSource(url: string): PoolSource & { reads: number; hold: boolean } {
  const real = createPoolSource(url);
  const s = {
    reads: 0,
    hold: false,
    async read() {
      if (s.hold) {
        await until(() => !s.hold, 60_000);
        throw new Error('held read released');
      }
      const rows = await real.read();
      s.reads++;
      return rows;
    },
    close: () => real.close(),
  };
  return s;
}

async function tally(pick: () => Promise<{ host: string }>, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const s = await pick();
    counts.set(s.host, (counts.get(s.host) ?? 0) + 1);
  }
  return counts;
}

describe('pickServer (application library) against the real nodes table', () => {
  let db: MariadbProcess;
  let store: Store;

  beforeAll(async () => {
    db = await startMariadb();
    store = await createMysqlStore({ url: db.url, logger: createSilentLogger() });
    await store.pool.add({ host: 'm1', port: 3306, sock: '/s/m1.sock', type: ['READ', 'WRITE'] }, 'U', 'setup');
    await store.pool.add({ host: 'r1', port: 3306, sock: '/s/r1.sock', type: ['READ'] }, 'U', 'setup');
    await store.pool.add({ host: 'r2', port: 3307, sock: '', type: ['READ'] }, 'U', 'setup');
    await store.pool.add({ host: 'off', port: 3306, sock: '', type: [] }, 'U', 'setup');
  });

  afterAll(async () => {
    await store?.close();
    await db?.stop();
  });

  it('spreads 300 reads over the three READ servers, writes only to WRITE servers, never to an offline one', async () => {
    const reader = createPoolReader({ url: db.url, refreshMs: 10_000 });
    const reads = await tally(() => reader.pickServer('READ'), 300);
    expect([...reads.keys()].sort()).toEqual(['m1', 'r1', 'r2']);
    // Expected 100 each (sd ≈ 8): 30 is far outside chance, and catches a reader stuck on one server.
    for (const [host, n] of reads) expect(n, host).toBeGreaterThanOrEqual(30);
    const writes = await tally(() => reader.pickServer('WRITE'), 50);
    expect([...writes.keys()]).toEqual(['m1']);
    expect(await reader.pickServer('WRITE')).toEqual({ host: 'm1', port: 3306, sock: '/s/m1.sock' });
    await reader.close();
  });

  it('follows changes on refresh, and the background refresh picks them up by itself', async () => {
    const source = watchedSource(db.url);
    const reader = createPoolReader({ source, refreshMs: 100 });
    await reader.pickServer('READ');
    await store.pool.set('r2', 3307, [], 'U', 'maintenance');
    await reader.refresh();
    expect((await tally(() => reader.pickServer('READ'), 100)).has('r2')).toBe(false);
    await store.pool.set('r2', 3307, ['READ'], 'U', 'back');
    // Two reads of the timer's after the change (the first may have begun before it); nobody calls refresh().
    const seen = source.reads;
    await until(() => source.reads >= seen + 2, 10_000);
    expect((await tally(() => reader.pickServer('READ'), 200)).has('r2')).toBe(true);
    await reader.close();
  });

  it('answers "no WRITE server in the pool" when none is, and finds one added since without waiting for the timer', async () => {
    let skew = 0;
    const reader = createPoolReader({ url: db.url, refreshMs: 60_000, now: () => Date.now() + skew });
    await store.pool.set('m1', 3306, ['READ'], 'U', 'failover drill');
    const err = await reader.pickServer('WRITE').catch((e: unknown) => e);
    expect(isGearopsError(err, ErrorCode.NotFound)).toBe(true);
    expect((err as Error).message).toBe('no WRITE server in the pool');
    await store.pool.set('m1', 3306, ['READ', 'WRITE'], 'U', 'drill over');
    skew += 1100; // the on-demand re-read is limited to once a second
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await reader.close();
  });

  it('reads through an application-owned mysql2 pool and leaves that pool open on close', async () => {
    const appPool = mysql.createPool({ uri: db.url, connectionLimit: 1 });
    const reader = createPoolReader({ url: appPool });
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await reader.close();
    const [rows] = await appPool.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM nodes');
    expect(Number(rows[0]?.n)).toBe(4);
    await appPool.end();
  });

  // Last: it kills the server (and brings it back).
  it('keeps serving the cached list while MySQL is down, logs it once, gives up after maxStaleMs, and recovers', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    let failed = 0;
    let skew = 0;
    const source = watchedSource(db.url);
    const reader = createPoolReader({
      source,
      refreshMs: 100,
      maxStaleMs: 2000,
      logger: createLogger({ level: 'info', destination: sink }),
      onError: () => failed++,
      now: () => Date.now() + skew,
    });
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    await db.kill();
    await until(() => failed >= 3, 10_000); // several background refreshes fail meanwhile
    // Served from the cache, not waiting on connects: every pick answers while a refresh hangs.
    source.hold = true;
    const during = await tally(() => reader.pickServer('READ'), 30);
    source.hold = false;
    expect([...during.keys()].sort()).toEqual(['m1', 'r1', 'r2']);
    const failures = lines.filter((l) => l.includes('pool_refresh_failed'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).not.toMatch(/root:/); // no credentials in the log line

    skew += 2100; // past maxStaleMs
    const stale = await reader.pickServer('READ').catch((e: unknown) => e);
    expect(isGearopsError(stale, ErrorCode.StoreUnavailable)).toBe(true);
    expect((stale as Error).message).toMatch(/pool list is \d+ s old and MySQL is not answering/);

    await db.restart();
    expect((await reader.pickServer('WRITE')).host).toBe('m1');
    expect(lines.some((l) => l.includes('pool_refresh_recovered'))).toBe(true);
    await reader.close();
  });
});
