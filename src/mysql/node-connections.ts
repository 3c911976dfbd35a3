/**
 * Connections to the nodes of clusters, shared by the replication probe (reading) and the replication control
 * (topology changes): which account logs in to a node, one mysql2 pool per node and account, and the ids of the
 * connections these pools hold (so that ending a node's writers never ends our own).
 */
import mysql, { type ConnectionOptions, type FieldPacket, type Pool, type RowDataPacket } from 'mysql2/promise';
import { ErrorCode, GearopsError } from '../errors.js';
import type { NodeAddress } from '../core/ports/replication.js';
import type { CredentialResolver, DbAccount } from '../core/ports/credentials.js';
import { toStoreError } from './errors.js';

/** Which of a cluster's accounts a connection logs in with. */
export type NodeRole = 'admin' | 'readOnly';

/** A watched cluster's named credentials entry: its login, and optionally the account its replicas use. */
export type NamedAccount = DbAccount & { replication?: DbAccount };

/** Where node accounts come from. */
export interface NodeCredentialOptions {
  /** One account for every node (benchmarks, tests), or each built cluster's own by the node's `cluster`. */
  credentials: DbAccount | CredentialResolver;
  /** Named credentials (a node's `credentials`, a watched cluster's); throws for an unknown name. */
  named?: (name: string) => NamedAccount;
  connectTimeoutMs?: number;
}

/** The per-node pools of one probe or control. */
export interface NodeConnections {
  account(n: NodeAddress, role: NodeRole): DbAccount;
  /** The account replicas of the node's cluster log in with; null when none is configured. */
  replicationAccount(n: NodeAddress): DbAccount | null;
  connectOptions(n: NodeAddress, role: NodeRole): ConnectionOptions;
  /** The pool of `map` for the node and role, made on first use with `limit` connections. */
  poolIn(map: Map<string, Pool>, n: NodeAddress, role: NodeRole, limit: number): Pool;
  /** Runs one statement on the node's admin pool (`limit` connections), errors translated naming the node. */
  query(n: NodeAddress, sql: string, params?: unknown[], timeoutMs?: number): Promise<[RowDataPacket[], FieldPacket[]]>;
  /** Connection ids our pools hold on a node (as the server numbers them). */
  ownIds(n: NodeAddress): Set<number>;
  close(): Promise<void>;
}

const missing = (name: string): never => {
  throw new GearopsError(ErrorCode.Config, `no credentials named '${name}' are configured (GEAROPS_CREDENTIALS_FILE)`);
};

/** Creates the connection handling; `adminLimit` is the admin pool's size per node. */
export function createNodeConnections(opts: NodeCredentialOptions & { adminLimit: number }): NodeConnections {
  const admin = new Map<string, Pool>();
  const every: Array<Map<string, Pool>> = [admin];
  const threads = new Map<string, Set<number>>();
  const nodeKey = (n: NodeAddress) => `${n.address}:${n.port}`;
  const account = (n: NodeAddress, role: NodeRole): DbAccount => {
    // A watched cluster's servers have one account, the named entry; gearops made no other there.
    if (n.credentials) {
      const e = opts.named?.(n.credentials) ?? missing(n.credentials);
      return { user: e.user, password: e.password };
    }
    const c = opts.credentials;
    if ('user' in c) return c;
    const found = n.cluster ? c.get(n.cluster) : null;
    if (!found)
      throw new GearopsError(
        ErrorCode.Config,
        `no credentials for ${n.cluster ? `cluster ${n.cluster}` : `${n.address}:${n.port}`} ` +
          "in the bot's state dir (GEAROPS_STATE_DIR)",
      );
    return found[role];
  };
  const connectOptions = (n: NodeAddress, role: NodeRole): ConnectionOptions => {
    const a = account(n, role);
    return {
      host: n.address,
      port: n.port,
      user: a.user,
      password: a.password,
      connectTimeout: opts.connectTimeoutMs ?? 1000,
    };
  };
  const poolIn = (map: Map<string, Pool>, n: NodeAddress, role: NodeRole, limit: number): Pool => {
    if (!every.includes(map)) every.push(map);
    const o = connectOptions(n, role);
    const key = `${n.address}:${n.port}:${o.user}:${n.credentials ?? ''}`;
    let p = map.get(key);
    if (!p) {
      p = mysql.createPool({ ...o, connectionLimit: limit, enableKeepAlive: true });
      const ids = threads.get(nodeKey(n)) ?? new Set<number>();
      threads.set(nodeKey(n), ids);
      // mysql2's pool hands its 'connection' event the callback-style connection, which has the server's id.
      p.on('connection', (c: { threadId: number | null }) => {
        if (c.threadId !== null) ids.add(c.threadId);
      });
      map.set(key, p);
    }
    return p;
  };
  return {
    account,
    replicationAccount(n) {
      if (n.credentials) return opts.named?.(n.credentials).replication ?? null;
      const c = opts.credentials;
      if ('user' in c) return null;
      return (n.cluster ? c.get(n.cluster)?.replication : null) ?? null;
    },
    connectOptions,
    poolIn,
    async query(n, sql, params = [], timeoutMs = 5000) {
      try {
        return (await poolIn(admin, n, 'admin', opts.adminLimit).query<RowDataPacket[]>(
          { sql, timeout: timeoutMs },
          params,
        )) as [RowDataPacket[], FieldPacket[]];
      } catch (err) {
        throw toStoreError(err, `${n.address}:${n.port}`, 'the server');
      }
    },
    ownIds: (n) => threads.get(nodeKey(n)) ?? new Set(),
    async close() {
      await Promise.all(every.flatMap((m) => [...m.values()]).map((p) => p.end().catch(() => undefined)));
      for (const m of every) m.clear();
    },
  };
}
