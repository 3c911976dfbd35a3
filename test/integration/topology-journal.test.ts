/** The topology-change journal and the pool's one-transaction WRITE move, on a real MariaDB store. */
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createMysqlStore } from '../../src/mysql/store.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import type { ChangeJournal, Store } from '../../src/core/ports/store.js';
import { startMariadb } from '../helpers/mariadb.js';

const logger = createSilentLogger();

describe('topology changes journal and WRITE moves on a real store', () => {
  let db: MariadbProcess;
  let store: Store;
  let journal: ChangeJournal;

  beforeAll(async () => {
    db = await startMariadb();
    store = await createMysqlStore({ url: db.url, logger });
    journal = store.changes!;
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await db?.stop();
  });

  it('journals a change step by step, one running per cluster, and ends it once', async () => {
    const c = await journal.begin({
      cluster: 'demo',
      kind: 'switchover',
      from: '10.0.0.1:3306',
      to: '10.0.0.2:3306',
      actor: 'U1',
      step: 'checks',
      detail: { thread: '1.2' },
    });
    expect(c).toMatchObject({ cluster: 'demo', kind: 'switchover', state: 'running', step: 'checks' });
    // A second change of the same cluster, even of another kind, is refused naming the running one.
    await expect(
      journal.begin({ cluster: 'demo', kind: 'failover', from: 'a:1', to: 'b:1', actor: 'U2', step: 'checks' }),
    ).rejects.toMatchObject({ code: 'gearops_conflict', message: expect.stringContaining(`#${c.id} by U1`) });
    // Another cluster may change at the same time.
    const other = await journal.begin({ cluster: 'b', kind: 'rejoin', from: 'a:1', to: 'b:1', actor: 'U2', step: 's' });
    await journal.step(c.id, 'read_only', { note: 'old master read-only', detail: { oldPos: '0-1-5' } });
    await journal.step(c.id, 'catch_up', { detail: { newPos: '0-1-5' } });
    expect(await journal.running('demo')).toMatchObject({
      id: c.id,
      step: 'catch_up',
      detail: { thread: '1.2', oldPos: '0-1-5', newPos: '0-1-5' },
    });
    expect(await journal.finish(c.id, 'rolled_back', { note: 'target did not catch up' })).toBe(true);
    expect(await journal.finish(c.id, 'done')).toBe(false);
    await expect(journal.step(c.id, 'late')).rejects.toMatchObject({ code: 'gearops_conflict' });
    const ended = await journal.get(c.id);
    expect(ended).toMatchObject({ state: 'rolled_back', step: 'catch_up' });
    expect(ended!.finishedAt).toBeInstanceOf(Date);
    expect(ended!.steps.map((s) => [s.step, s.note])).toEqual([
      ['checks', undefined],
      ['read_only', 'old master read-only'],
      ['catch_up', undefined],
      ['rolled_back', 'target did not catch up'],
    ]);
    expect(await journal.running('demo')).toBeNull();
    // Ended: the cluster may change again.
    const again = await journal.begin({
      cluster: 'demo',
      kind: 'failover',
      from: 'a:1',
      to: 'b:1',
      actor: 'U',
      step: 's',
    });
    expect((await journal.recent('demo', 5)).map((x) => x.id)).toEqual([again.id, c.id]);
    await journal.finish(again.id, 'done');
    await journal.finish(other.id, 'failed');
  });

  it('two changes of one cluster begun at once: exactly one runs', async () => {
    const tries = await Promise.allSettled(
      [1, 2, 3, 4].map((i) =>
        journal.begin({ cluster: 'race', kind: 'switchover', from: 'a:1', to: `b:${i}`, actor: `U${i}`, step: 's' }),
      ),
    );
    expect(tries.filter((t) => t.status === 'fulfilled')).toHaveLength(1);
    const running = await journal.running('race');
    await journal.finish(running!.id, 'done');
  });

  it('moves WRITE in one transaction: readers never see two WRITE servers of the cluster', async () => {
    const cluster = [1, 2, 3].map((i) => ({ host: `10.9.0.${i}`, port: 3306 }));
    await store.pool.add({ ...cluster[0]!, sock: '', type: ['READ', 'WRITE'] }, 'U', 'setup');
    await store.pool.add({ ...cluster[1]!, sock: '', type: ['READ'] }, 'U', 'setup');
    // Another cluster's WRITE is none of this move's business.
    await store.pool.add({ host: '10.8.0.1', port: 3306, sock: '', type: ['READ', 'WRITE'] }, 'U', 'setup');
    const reader = await mysql.createConnection(db.url);
    let stop = false;
    let worst = 0;
    let reads = 0;
    const watching = (async () => {
      while (!stop) {
        const [rows] = await reader.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM nodes WHERE host LIKE '10.9.0.%' AND FIND_IN_SET('WRITE', type)",
        );
        worst = Math.max(worst, Number(rows[0]!.n));
        reads++;
      }
    })();
    try {
      let at = 0;
      for (let i = 0; i < 30; i++) {
        const next = (at + 1) % 3;
        const changes = await store.pool.moveWrite({
          cluster,
          from: cluster[at]!,
          to: cluster[next]!,
          fromAfter: ['READ'],
          actor: 'U1',
          reason: `switch ${i}`,
        });
        expect(changes.length).toBeGreaterThan(0);
        at = next;
      }
    } finally {
      stop = true;
      await watching;
      await reader.end();
    }
    expect(reads).toBeGreaterThan(0);
    expect(worst).toBe(1);
    const pool = await store.pool.list();
    const writers = pool.filter((n) => n.type.includes('WRITE')).map((n) => n.host);
    // 30 moves round three servers: WRITE is back on the first; the third joined the pool on its first move.
    expect(writers.sort()).toEqual(['10.8.0.1', '10.9.0.1']);
    expect(pool.filter((n) => n.host.startsWith('10.9.0.')).map((n) => n.type.join())).toEqual([
      'READ,WRITE',
      'READ',
      'READ',
    ]);
    // A failover's move takes the old master out; a move already made changes nothing.
    const out = await store.pool.moveWrite({
      cluster,
      from: cluster[0]!,
      to: cluster[1]!,
      fromAfter: 'out',
      actor: 'U',
      reason: 'failover',
    });
    expect(out.map((c) => [c.host, c.before?.join() ?? null, c.after?.join() ?? null])).toEqual([
      ['10.9.0.1', 'READ,WRITE', null],
      ['10.9.0.2', 'READ', 'READ,WRITE'],
    ]);
    expect(
      await store.pool.moveWrite({
        cluster,
        from: cluster[0]!,
        to: cluster[1]!,
        fromAfter: 'out',
        actor: 'U',
        reason: 'x',
      }),
    ).toEqual([]);
    expect((await store.pool.history(2)).map((h) => h.reason)).toEqual(['failover', 'failover']);
  });
});
