/** Safety of automatic pool changes: never leave the pool without a WRITE server or take out the last READ server. */
import type { PoolNode, PoolRole } from './ports/store.js';

/**
 * Decides whether the monitor may make `change` by itself. Compares the pool
 * before and after: a change that would bring the WRITE or READ count to zero
 * is refused with a reason people can read in the alert thread. (A pool that
 * already has no WRITE server is not made worse by taking out a reader, so
 * that is allowed.)
 */
export function checkAutomaticChange(
  nodes: PoolNode[],
  change: { host: string; port: number; after: PoolRole[] },
): { allowed: boolean; reason: string } {
  const name = `${change.host}:${change.port}`;
  const isTarget = (n: PoolNode) => n.host === change.host && n.port === change.port;
  if (!nodes.some(isTarget)) return { allowed: false, reason: `${name} is not in the pool` };
  const after = nodes.map((n) => (isTarget(n) ? { ...n, type: change.after } : n));
  const count = (list: PoolNode[], role: PoolRole) => list.filter((n) => n.type.includes(role)).length;
  if (count(nodes, 'WRITE') > 0 && count(after, 'WRITE') === 0)
    return { allowed: false, reason: `not taking ${name} out: it is the last WRITE server` };
  if (count(nodes, 'READ') > 0 && count(after, 'READ') === 0)
    return { allowed: false, reason: `not taking ${name} out: it is the last READ server` };
  return { allowed: true, reason: `${name} may change automatically` };
}
