/** The load-balancer pool steps of a cluster sequence: add a proven cluster, look up and take out its nodes. */
import { ErrorCode, isGearopsError } from '../errors.js';
import type { ClusterNode, ClusterRecord, PoolChange, PoolRole, PoolStore } from '../core/ports/store.js';

/** Posts one pool change where people read them; never fails (the change is made either way). */
export type AnnouncePool = (change: PoolChange) => Promise<void>;

/**
 * Adds every node of a proven cluster (master READ,WRITE, replicas READ); a node the pool refuses is a note, not a
 * failure. Answers the note for the summary ("; added to the pool …" or "; pool: …").
 */
export async function addToPool(
  pool: PoolStore,
  announce: AnnouncePool,
  c: ClusterRecord,
  userId: string,
  reason: string,
): Promise<string> {
  const notes: string[] = [];
  for (const n of c.nodes) {
    const type: PoolRole[] = n.role === 'master' ? ['READ', 'WRITE'] : ['READ'];
    try {
      await announce(await pool.add({ host: n.address, port: n.port, sock: '', type }, userId, reason));
    } catch (err) {
      notes.push(`${n.address}:${n.port}: ${(err as Error).message}`);
    }
  }
  return notes.length ? `; pool: ${notes.join('; ')}` : '; added to the pool (master READ,WRITE, replicas READ)';
}

/** A node of a cluster that is in the pool, with its roles there. */
export interface PooledNode {
  node: ClusterNode;
  type: PoolRole[];
}

/** The nodes still in the pool (a store error rejects: nothing is changed). */
export async function pooledNodes(pool: PoolStore, nodes: ClusterNode[]): Promise<PooledNode[]> {
  const inPool: PooledNode[] = [];
  for (const n of nodes) {
    const row = await pool.get(n.address, n.port);
    if (row) inPool.push({ node: n, type: row.type });
  }
  return inPool;
}

/** What taking nodes out of the pool did: those out, and the first that failed with why (the rest untried). */
export interface PoolOutResult {
  outOfPool: string[];
  failed?: { server: string; error: Error };
}

/** Takes each node out of the pool in turn, stopping at the first failure; one already gone counts as out. */
export async function takeOutOfPool(
  pool: PoolStore,
  announce: AnnouncePool,
  inPool: PooledNode[],
  userId: string,
  reason: string,
): Promise<PoolOutResult> {
  const outOfPool: string[] = [];
  for (const x of inPool) {
    const server = `${x.node.address}:${x.node.port}`;
    try {
      await announce(await pool.del(x.node.address, x.node.port, userId, reason));
      outOfPool.push(server);
    } catch (err) {
      // Someone took it out meanwhile: that is what was wanted.
      if (isGearopsError(err, ErrorCode.NotFound)) continue;
      return { outOfPool, failed: { server, error: err as Error } };
    }
  }
  return { outOfPool };
}
