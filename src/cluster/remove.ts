/**
 * The remove sequence of a built cluster, as steps over ports: its nodes leave the load-balancer pool first (so
 * applications stop using them before they stop), the record is marked removing (the monitor stops watching it),
 * whatever of an unfinished install still runs is cancelled, every sandbox is removed, and only then the record
 * and the passwords. A removal cut half-way leaves the record 'removing', for the same command to finish.
 */
import { ErrorCode, isGearopsError } from '../errors.js';
import type { ClusterNode, ClusterRecord, ClusterStore, PoolStore } from '../core/ports/store.js';
import type { ClusterCredentialStore } from '../core/ports/credentials.js';
import type { RunJob } from './jobs.js';
import { takeOutOfPool, type AnnouncePool, type PooledNode } from './pool.js';

/** What the remove sequence runs over. */
export interface RemovePorts {
  clusters: ClusterStore;
  run: RunJob;
  pool?: PoolStore;
  announce: AnnouncePool;
  credentials?: Pick<ClusterCredentialStore, 'remove'>;
  /** Who asked (recorded in the pool's changes). */
  userId: string;
}

/**
 * How a removal ended. `outOfPool`: the servers it took out of the pool; `noWriteLeft`: it took a WRITE server out
 * and the pool now has none (said, not refused: the user asked for it).
 */
export type RemoveResult =
  | { kind: 'pool-failed'; server: string; error: Error; outOfPool: string[] }
  | { kind: 'store-failed'; error: Error; outOfPool: string[] }
  | { kind: 'partial'; failures: string[]; outOfPool: string[]; noWriteLeft: boolean }
  | { kind: 'removed'; outOfPool: string[]; noWriteLeft: boolean };

/** Removes cluster `c`, taking the nodes `inPool` out of the pool first; nothing is stopped if that fails. */
export async function removeCluster(ports: RemovePorts, c: ClusterRecord, inPool: PooledNode[]): Promise<RemoveResult> {
  const name = c.name;
  const reason = `/replica remove ${name}`;
  const out = ports.pool
    ? await takeOutOfPool(ports.pool, ports.announce, inPool, ports.userId, reason)
    : { outOfPool: [] };
  const { outOfPool } = out;
  if (out.failed) return { kind: 'pool-failed', ...out.failed, outOfPool };
  let writeLeft = false;
  const tookWrite = inPool.some((x) => x.type.includes('WRITE'));
  if (tookWrite)
    writeLeft = (await ports.pool!.list().catch(() => null))?.some((n) => n.type.includes('WRITE')) ?? true;
  const noWriteLeft = tookWrite && !writeLeft;
  // From here its servers go down on purpose: the monitor stops watching it.
  try {
    await ports.clusters.markRemoving(name);
  } catch (err) {
    return { kind: 'store-failed', error: err as Error, outOfPool };
  }
  if (c.installToken) await cancelInstall(ports.run, c.nodes, c.installToken);
  const failures = await removeSandboxes(ports.run, c.nodes);
  if (failures.length) return { kind: 'partial', failures, outOfPool, noWriteLeft };
  await ports.clusters.remove(name);
  ports.credentials?.remove(name);
  return { kind: 'removed', outOfPool, noWriteLeft };
}

/** Tells whatever of an unfinished install still runs on the workers to stop (and remove what it made). */
export async function cancelInstall(run: RunJob, nodes: ClusterNode[], token: string): Promise<void> {
  await Promise.allSettled(
    nodes.map((n) => run('sandbox.cancel', n.host, { name: n.sandbox, token }, { timeoutMs: 10_000 })),
  );
}

/** Removes each node's sandbox; answers the failures (a sandbox already gone is not one). */
export async function removeSandboxes(run: RunJob, nodes: ClusterNode[]): Promise<string[]> {
  const results = await Promise.allSettled(
    nodes.map((n) => run('sandbox.remove', n.host, { name: n.sandbox }, { timeoutMs: 60_000 })),
  );
  return results
    .map((r, i) =>
      r.status === 'rejected' &&
      !isGearopsError(r.reason, ErrorCode.NotFound) &&
      !/not found|no sandbox/i.test((r.reason as Error).message)
        ? `${nodeName(nodes[i])}: ${(r.reason as Error).message}`
        : null,
    )
    .filter((f): f is string => f !== null);
}

/** host:port of a node, as messages name it. */
export function nodeName(n: ClusterNode | undefined): string {
  return n ? `${n.host}:${n.port}` : '?';
}
