/**
 * The store ("common" MariaDB) dies while people work: /run goes on, its
 * audit row waits, and lands with the time it happened once MariaDB is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { until } from '../helpers/wait.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import { createSilentLogger } from '../../src/log.js';

describe('a store outage', () => {
  let f: Fleet;
  beforeAll(async () => {
    f = await startFleet({ hosts: ['server1'] });
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('keeps /run working, says so for commands that need the store, and writes the waiting audit rows later with their time', async () => {
    const ok = await f.run('/run server1 hostname');
    expect(ok.outcome.status, ok.text).toBe('ok');
    await f.db.kill();
    const before = Date.now();
    const r = await f.run('/run server1 uptime');
    expect(r.outcome.status, r.text).toBe('ok');
    expect(r.text).toMatch(/load average/);
    expect(f.ctx.auditPending()).toBe(1);
    const pool = await f.run('/pool list');
    expect(pool.outcome.status).not.toBe('ok');
    // Both commands name the store by host:port (the pool's errors once said "the store at store").
    const at = new URL(f.db.url);
    const where = `the store at ${at.hostname}:${at.port} is unavailable`;
    expect(pool.text).toContain(where);
    const replica = await f.run('/replica list');
    expect(replica.outcome.status).not.toBe('ok');
    expect(replica.text).toContain(where);
    await f.db.restart();
    const back = Date.now();
    await until(() => f.ctx.auditPending() === 0, 60_000);
    const rows = await f.ctx.store!.audit.recent(10);
    const late = rows.find((a) => a.text === 'server1 uptime')!;
    expect(late).toBeDefined();
    expect(late.status).toBe('ok');
    // Written after the restart, dated when it happened: after the outage began, before the store came back. (Not
    // bounded by the run's own end: the row's date is the server's NOW(3) less the entry's age, taken a few ms
    // apart, so it may land a few ms past it.)
    expect(late.at.getTime()).toBeGreaterThanOrEqual(before);
    expect(late.at.getTime()).toBeLessThan(back);
    expect(rows.findIndex((a) => a.text === 'server1 uptime')).toBeLessThan(
      rows.findIndex((a) => a.text === 'server1 hostname'),
    );
  });

  it('never leaves two monitors holding the lock after the store restarts', async () => {
    const other = await createMysqlStore({ url: f.db.url, logger: createSilentLogger() });
    try {
      const a = f.ctx.store!.lock('gearops.outage');
      const b = other.lock('gearops.outage');
      expect(await a.tryAcquire()).toBe(true);
      expect(await b.tryAcquire()).toBe(false);
      await f.db.kill();
      await f.db.restart();
      // The restart released the lock server-side; whoever asks first gets it, and the other learns it lost it.
      await until(() => b.tryAcquire(), 30_000);
      expect(await a.tryAcquire()).toBe(false);
      expect(a.held).toBe(false);
      expect(b.held).toBe(true);
      await b.release();
      expect(await a.tryAcquire()).toBe(true);
      await a.release();
    } finally {
      await other.close();
    }
  });
});
