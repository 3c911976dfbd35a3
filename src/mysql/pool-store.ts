/**
 * The load-balancer pool (common.nodes, the table applications read) and its
 * history. Each change is one transaction: the row is read FOR UPDATE, the
 * table written, and the history row added, so concurrent changes from
 * several users leave both consistent.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError } from '../errors.js';
import type { PoolChange, PoolNode, PoolRole, PoolStore } from '../core/ports/store.js';
import { toStoreError } from './errors.js';

/** SET string → roles. */
export function parseSet(s: string | null | undefined): PoolRole[] {
  return (s ?? '').split(',').filter((x): x is PoolRole => x === 'READ' || x === 'WRITE').sort();
}

/** Roles → SET string. */
export function toSet(t: PoolRole[]): string {
  return [...new Set(t)].sort().join(',');
}

const fmt = (t: PoolRole[] | null) => (t === null ? null : toSet(t));

/** Creates the pool store on an open mysql2 pool (the store's database selected). */
export function createPoolStore(deps: { db: Pool; logger: Logger }): PoolStore {
  const where = 'store';
  async function tx<T>(fn: (c: PoolConnection) => Promise<T>): Promise<T> {
    let c: PoolConnection | null = null;
    try {
      c = await deps.db.getConnection();
      await c.beginTransaction();
      const out = await fn(c);
      await c.commit();
      return out;
    } catch (err) {
      await c?.rollback().catch(() => undefined);
      throw toStoreError(err, where);
    } finally {
      c?.release();
    }
  }
  const row = async (c: PoolConnection, host: string, port: number): Promise<PoolNode | null> => {
    const [rows] = await c.query<RowDataPacket[]>('SELECT host, port, sock, type FROM nodes WHERE host = ? AND port = ? FOR UPDATE', [host, port]);
    const r = rows[0];
    return r ? { host: r.host, port: Number(r.port), sock: r.sock, type: parseSet(r.type) } : null;
  };
  const history = async (c: PoolConnection, ch: PoolChange) => {
    await c.query('INSERT INTO pool_history (host, port, before_type, after_type, actor, reason) VALUES (?,?,?,?,?,?)', [ch.host, ch.port, fmt(ch.before), fmt(ch.after), ch.actor, ch.reason]);
  };
  const show = (t: PoolRole[]) => (t.length ? toSet(t) : 'offline');
  return {
    async list() {
      try {
        const [rows] = await deps.db.query<RowDataPacket[]>('SELECT host, port, sock, type FROM nodes ORDER BY host, port');
        return rows.map((r) => ({ host: r.host, port: Number(r.port), sock: r.sock, type: parseSet(r.type) }));
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
    async get(host, port) {
      try {
        const [rows] = await deps.db.query<RowDataPacket[]>('SELECT host, port, sock, type FROM nodes WHERE host = ? AND port = ?', [host, port]);
        const r = rows[0];
        return r ? { host: r.host, port: Number(r.port), sock: r.sock, type: parseSet(r.type) } : null;
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
    async add(node, actor, reason) {
      try {
        // No SELECT … FOR UPDATE first: on a missing row it takes a gap lock and concurrent adds deadlock.
        // The primary key decides; the loser hears who won.
        return await tx(async (c) => {
          await c.query('INSERT INTO nodes (host, port, sock, type) VALUES (?,?,?,?)', [node.host, node.port, node.sock, toSet(node.type)]);
          const ch: PoolChange = { host: node.host, port: node.port, before: null, after: parseSet(toSet(node.type)), actor, reason };
          await history(c, ch);
          return ch;
        });
      } catch (err) {
        if ((err as GearopsError).code === ErrorCode.Conflict && !(err as GearopsError).data.current) {
          const cur = await this.get(node.host, node.port);
          throw new GearopsError(ErrorCode.Conflict, `${node.host}:${node.port} is already in the pool as ${cur ? show(cur.type) : 'offline'}`, { data: { current: cur } });
        }
        throw err;
      }
    },
    async set(host, port, type, actor, reason) {
      return tx(async (c) => {
        const cur = await row(c, host, port);
        if (!cur) throw new GearopsError(ErrorCode.NotFound, `${host}:${port} is not in the pool`);
        await c.query('UPDATE nodes SET type = ? WHERE host = ? AND port = ?', [toSet(type), host, port]);
        const ch: PoolChange = { host, port, before: cur.type, after: parseSet(toSet(type)), actor, reason };
        await history(c, ch);
        return ch;
      });
    },
    async del(host, port, actor, reason) {
      return tx(async (c) => {
        const cur = await row(c, host, port);
        if (!cur) throw new GearopsError(ErrorCode.NotFound, `${host}:${port} is not in the pool`);
        await c.query('DELETE FROM nodes WHERE host = ? AND port = ?', [host, port]);
        const ch: PoolChange = { host, port, before: cur.type, after: null, actor, reason };
        await history(c, ch);
        return ch;
      });
    },
    async history(limit) {
      try {
        const [rows] = await deps.db.query<RowDataPacket[]>('SELECT * FROM pool_history ORDER BY id DESC LIMIT ?', [limit]);
        return rows.map((r) => ({ host: r.host, port: Number(r.port), before: r.before_type === null ? null : parseSet(r.before_type), after: r.after_type === null ? null : parseSet(r.after_type), actor: r.actor, reason: r.reason, at: new Date(r.at) }));
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
  };
}
