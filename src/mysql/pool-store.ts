/**
 * The load-balancer pool (common.nodes, the table applications read) and its
 * history. Each change is one transaction: the row is read FOR UPDATE, the
 * table written, and the history row added, so concurrent changes from
 * several users leave both consistent.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../errors.js';
import type { PoolChange, PoolNode, PoolRole, PoolStore } from '../core/ports/store.js';
import { toStoreError } from './errors.js';
import { planWriteMove, type WriteMove } from '../core/pool-move.js';

/** SET string → roles (sorted, unknown members dropped). */
export function parseSet(s: string | null | undefined): PoolRole[] {
  return [...new Set((s ?? '').split(',').filter((x): x is PoolRole => x === 'READ' || x === 'WRITE'))].sort();
}

/** Roles → SET string: '' | 'READ' | 'WRITE' | 'READ,WRITE'. */
export function toSet(t: PoolRole[]): string {
  return [...new Set(t)].sort().join(',');
}

/** How a pool type reads in messages: offline when empty. */
export function showType(t: PoolRole[]): string {
  return t.length ? toSet(t) : 'offline';
}

/** The column sizes of `nodes`: checked here because a non-strict server would silently truncate. */
export const HOST_MAX = 28;
/** Size of `nodes.sock`. */
export const SOCK_MAX = 64;

const fmt = (t: PoolRole[] | null) => (t === null ? null : toSet(t));
const same = (a: PoolRole[], b: PoolRole[]) => toSet(a) === toSet(b);
// InnoDB may pick a victim when two transactions lock rows in opposite order; the change is safe to redo.
const DEADLOCK = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const TX_ATTEMPTS = 3;

function toNode(r: RowDataPacket): PoolNode {
  return { host: String(r.host), port: Number(r.port), sock: String(r.sock ?? ''), type: parseSet(r.type) };
}

function checkSizes(host: string, sock = ''): void {
  if (host.length === 0 || host.length > HOST_MAX)
    throw new GearopsError(
      ErrorCode.Usage,
      `host \`${host.slice(0, 40)}\` must be 1..${HOST_MAX} characters (nodes.host is CHAR(${HOST_MAX}))`,
      { data: { host } },
    );
  if (sock.length > SOCK_MAX)
    throw new GearopsError(
      ErrorCode.Usage,
      `sock must be at most ${SOCK_MAX} characters (nodes.sock is CHAR(${SOCK_MAX}))`,
      { data: { host } },
    );
}

/** The host:port a mysql2 pool connects to, for error messages. */
export function poolAddress(db: Pool): string {
  const c = (db as unknown as { pool?: { config?: { connectionConfig?: { host?: string; port?: number } } } }).pool
    ?.config?.connectionConfig;
  return c?.host ? `${c.host}:${c.port ?? 3306}` : 'an unknown address';
}

/**
 * Creates the pool store on an open mysql2 pool (the store's database selected). `where` is the store's host:port,
 * named in errors as /replica names it (default: read from the pool's own settings).
 * Over 80 lines as a factory: the pool's methods share one transaction helper and the history writes; each is short.
 */
export function createPoolStore(deps: { db: Pool; logger: Logger; where?: string }): PoolStore {
  const where = deps.where ?? poolAddress(deps.db);
  const log = deps.logger.child({ component: 'pool-store' });

  async function tx<T>(fn: (c: PoolConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let c: PoolConnection | null = null;
      try {
        c = await deps.db.getConnection();
        await c.beginTransaction();
        const out = await fn(c);
        await c.commit();
        return out;
      } catch (err) {
        await c?.rollback().catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (code && DEADLOCK.has(code) && attempt < TX_ATTEMPTS) {
          log.warn({ event: 'pool_tx_retry', code, attempt }, 'pool change retried after a lock conflict');
          continue;
        }
        throw toStoreError(err, where);
      } finally {
        c?.release();
      }
    }
  }

  const lockRow = async (c: PoolConnection, host: string, port: number): Promise<PoolNode | null> => {
    const [rows] = await c.query<RowDataPacket[]>(
      'SELECT host, port, sock, type FROM nodes WHERE host = ? AND port = ? FOR UPDATE',
      [host, port],
    );
    return rows[0] ? toNode(rows[0]) : null;
  };
  const record = async (c: PoolConnection, ch: PoolChange) => {
    await c.query(
      'INSERT INTO pool_history (host, port, before_type, after_type, actor, reason) VALUES (?,?,?,?,?,?)',
      [ch.host, ch.port, fmt(ch.before), fmt(ch.after), ch.actor, ch.reason],
    );
  };
  const logged = (ch: PoolChange): PoolChange => {
    log.info(
      {
        event: 'pool_change',
        host: ch.host,
        port: ch.port,
        before: fmt(ch.before),
        after: fmt(ch.after),
        actor: ch.actor,
      },
      'pool changed',
    );
    return ch;
  };
  const notFound = (host: string, port: number) =>
    new GearopsError(ErrorCode.NotFound, `${host}:${port} is not in the pool`, { data: { host, port } });

  async function get(host: string, port: number): Promise<PoolNode | null> {
    try {
      const [rows] = await deps.db.query<RowDataPacket[]>(
        'SELECT host, port, sock, type FROM nodes WHERE host = ? AND port = ?',
        [host, port],
      );
      return rows[0] ? toNode(rows[0]) : null;
    } catch (err) {
      throw toStoreError(err, where);
    }
  }

  async function add(node: PoolNode, actor: string, reason: string): Promise<PoolChange> {
    checkSizes(node.host, node.sock);
    // No SELECT … FOR UPDATE first: on a missing row it takes a gap lock and concurrent adds deadlock.
    // The primary key decides; the loser hears who won.
    for (let attempt = 1; ; attempt++) {
      try {
        return logged(
          await tx(async (c) => {
            await c.query('INSERT INTO nodes (host, port, sock, type) VALUES (?,?,?,?)', [
              node.host,
              node.port,
              node.sock,
              toSet(node.type),
            ]);
            const ch: PoolChange = {
              host: node.host,
              port: node.port,
              before: null,
              after: parseSet(toSet(node.type)),
              actor,
              reason,
            };
            await record(c, ch);
            return ch;
          }),
        );
      } catch (err) {
        if (!isGearopsError(err, ErrorCode.Conflict)) throw err;
        const current = await get(node.host, node.port);
        // Deleted between our insert and this read: the key is free again, so try once more.
        if (!current && attempt < 2) continue;
        const as = current ? showType(current.type) : 'a server that was just removed';
        throw new GearopsError(ErrorCode.Conflict, `${node.host}:${node.port} is already in the pool as ${as}`, {
          cause: err,
          data: { host: node.host, port: node.port, current },
        });
      }
    }
  }

  /** One transaction: every server the move names locked (in key order), the planned rows written, history added. */
  async function moveWrite(m: WriteMove): Promise<PoolChange[]> {
    checkSizes(m.to.host, m.to.sock ?? '');
    const names = new Map([...m.cluster, m.to, ...(m.from ? [m.from] : [])].map((n) => [`${n.host}:${n.port}`, n]));
    const order = [...names.keys()].sort().map((k) => names.get(k)!);
    const changes = await tx(async (c) => {
      const current: PoolNode[] = [];
      for (const n of order) {
        const row = await lockRow(c, n.host, n.port);
        if (row) current.push(row);
      }
      const made: PoolChange[] = [];
      for (const r of planWriteMove(current, m)) {
        if (r.before === null)
          await c.query('INSERT INTO nodes (host, port, sock, type) VALUES (?,?,?,?)', [
            r.host,
            r.port,
            r.sock,
            toSet(r.after ?? []),
          ]);
        else if (r.after === null) await c.query('DELETE FROM nodes WHERE host = ? AND port = ?', [r.host, r.port]);
        else await c.query('UPDATE nodes SET type = ? WHERE host = ? AND port = ?', [toSet(r.after), r.host, r.port]);
        const ch: PoolChange = {
          host: r.host,
          port: r.port,
          before: r.before,
          after: r.after,
          actor: m.actor,
          reason: m.reason,
        };
        await record(c, ch);
        made.push(ch);
      }
      return made;
    });
    return changes.map(logged);
  }

  return {
    moveWrite,
    async list() {
      try {
        const [rows] = await deps.db.query<RowDataPacket[]>(
          'SELECT host, port, sock, type FROM nodes ORDER BY host, port',
        );
        return rows.map(toNode);
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
    get,
    add,
    async set(host, port, type, actor, reason) {
      const after = parseSet(toSet(type));
      const ch = await tx(async (c) => {
        const cur = await lockRow(c, host, port);
        if (!cur) throw notFound(host, port);
        const change: PoolChange = { host, port, before: cur.type, after, actor, reason };
        // A set to the type it already has is not a change: no write, no history row (the caller sees before = after).
        if (same(cur.type, after)) return { change, wrote: false };
        await c.query('UPDATE nodes SET type = ? WHERE host = ? AND port = ?', [toSet(after), host, port]);
        await record(c, change);
        return { change, wrote: true };
      });
      return ch.wrote ? logged(ch.change) : ch.change;
    },
    async del(host, port, actor, reason) {
      return logged(
        await tx(async (c) => {
          const cur = await lockRow(c, host, port);
          if (!cur) throw notFound(host, port);
          await c.query('DELETE FROM nodes WHERE host = ? AND port = ?', [host, port]);
          const ch: PoolChange = { host, port, before: cur.type, after: null, actor, reason };
          await record(c, ch);
          return ch;
        }),
      );
    },
    async history(limit) {
      try {
        const n = Math.max(1, Math.min(10_000, Math.floor(limit)));
        const [rows] = await deps.db.query<RowDataPacket[]>(
          'SELECT id, at, host, port, before_type, after_type, actor, reason FROM pool_history ORDER BY id DESC LIMIT ?',
          [n],
        );
        return rows.map((r) => ({
          host: String(r.host),
          port: Number(r.port),
          before: r.before_type === null ? null : parseSet(r.before_type),
          after: r.after_type === null ? null : parseSet(r.after_type),
          actor: String(r.actor),
          reason: String(r.reason),
          at: new Date(r.at),
        }));
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
  };
}
