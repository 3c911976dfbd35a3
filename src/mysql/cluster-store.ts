/**
 * Cluster records in the store: a cluster and its nodes, written in one transaction, through the installing →
 * ready → removing lifecycle.
 */
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ClusterNode, ClusterRecord, ClusterStore } from '../core/ports/store.js';
import { ErrorCode, GearopsError } from '../errors.js';
import { toStoreError } from './errors.js';
import type { StoreDb } from './store-db.js';

/** The ClusterStore over the pool. Long as a factory only: one short method each, over two row helpers. */
export function createMysqlClusters({ db, q, where }: StoreDb): ClusterStore {
  async function insertNodes(conn: PoolConnection, cluster: string, nodes: ClusterNode[]): Promise<void> {
    for (const [i, n] of nodes.entries())
      await conn.query(
        'INSERT INTO cluster_nodes (cluster, position, host, address, port, role, server_id, sandbox, replicates_from, ' +
          'probe_via) VALUES (?,?,?,?,?,?,?,?,?,?)',
        [cluster, i, n.host, n.address, n.port, n.role, n.serverId, n.sandbox, n.replicatesFrom ?? null, n.via ?? null],
      );
  }

  async function loadClusters(name?: string): Promise<ClusterRecord[]> {
    const rows = await q<RowDataPacket[]>(
      `SELECT * FROM clusters ${name ? 'WHERE name = ?' : ''} ORDER BY name`,
      name ? [name] : [],
    );
    if (rows.length === 0) return [];
    const nodes = await q<RowDataPacket[]>(
      `SELECT * FROM cluster_nodes WHERE cluster IN (${rows.map(() => '?').join(',')}) ORDER BY cluster, position`,
      rows.map((r) => r.name),
    );
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind === 'watched' ? ('watched' as const) : ('built' as const),
      version: r.version,
      credentials: r.credentials,
      createdBy: r.created_by,
      createdAt: new Date(r.created_at),
      state:
        r.state === 'installing' || r.state === 'removing'
          ? (r.state as 'installing' | 'removing')
          : ('ready' as const),
      ...(r.install_token ? { installToken: String(r.install_token) } : {}),
      nodes: nodes
        .filter((n) => n.cluster === r.name)
        .map((n) => ({
          host: n.host,
          address: n.address,
          port: Number(n.port),
          role: n.role,
          serverId: Number(n.server_id),
          sandbox: n.sandbox,
          ...(n.replicates_from ? { replicatesFrom: String(n.replicates_from) } : {}),
          ...(n.probe_via ? { via: String(n.probe_via) } : {}),
        })),
    }));
  }
  return {
    async create(c) {
      let conn: PoolConnection | null = null;
      try {
        conn = await db.getConnection();
        await conn.beginTransaction();
        await conn.query(
          'INSERT INTO clusters (name, kind, version, credentials, created_by, state, install_token) VALUES (?,?,?,?,?,?,?)',
          [
            c.name,
            c.kind ?? 'built',
            c.version,
            c.credentials,
            c.createdBy,
            c.state ?? 'ready',
            c.state === 'installing' ? (c.installToken ?? null) : null,
          ],
        );
        await insertNodes(conn, c.name, c.nodes);
        await conn.commit();
      } catch (err) {
        await conn?.rollback().catch(() => undefined);
        const e = toStoreError(err, where);
        if (e.code === ErrorCode.Conflict)
          throw new GearopsError(ErrorCode.Conflict, `a cluster named ${c.name} already exists`, { cause: err });
        throw e;
      } finally {
        conn?.release();
      }
    },
    async get(name) {
      return (await loadClusters(name))[0] ?? null;
    },
    list: () => loadClusters(),
    async remove(name) {
      const r = await q<ResultSetHeader>('DELETE FROM clusters WHERE name = ?', [name]);
      return r.affectedRows > 0;
    },
    async setNodes(name, nodes) {
      let conn: PoolConnection | null = null;
      try {
        conn = await db.getConnection();
        await conn.beginTransaction();
        const [found] = await conn.query<RowDataPacket[]>('SELECT name FROM clusters WHERE name = ? FOR UPDATE', [
          name,
        ]);
        if (found.length === 0) {
          await conn.rollback();
          return false;
        }
        await conn.query('DELETE FROM cluster_nodes WHERE cluster = ?', [name]);
        await insertNodes(conn, name, nodes);
        await conn.commit();
        return true;
      } catch (err) {
        await conn?.rollback().catch(() => undefined);
        throw toStoreError(err, where);
      } finally {
        conn?.release();
      }
    },
    async markRemoving(name) {
      const r = await q<ResultSetHeader>("UPDATE clusters SET state = 'removing' WHERE name = ?", [name]);
      return r.affectedRows > 0;
    },
    async markReady(name, version) {
      const r = await q<ResultSetHeader>(
        "UPDATE clusters SET state = 'ready', version = ?, install_token = NULL WHERE name = ? AND state = 'installing'",
        [version, name],
      );
      return r.affectedRows > 0;
    },
  };
}
