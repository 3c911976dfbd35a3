/** Safety of automatic pool changes: never leave the pool without a WRITE server or take out the last READ server. */
import type { PoolNode, PoolRole } from './ports/store.js';

/** Decides whether the monitor may make `change` by itself. */
export function checkAutomaticChange(nodes: PoolNode[], change: { host: string; port: number; after: PoolRole[] }): { allowed: boolean; reason: string } {
  const name = `${change.host}:${change.port}`;
  const after = nodes.map((n) => (n.host === change.host && n.port === change.port ? { ...n, type: change.after } : n));
  const before = nodes.find((n) => n.host === change.host && n.port === change.port);
  if (!before) return { allowed: false, reason: `${name} is not in the pool` };
  const readers = (list: PoolNode[]) => list.filter((n) => n.type.includes('READ')).length;
  const writers = (list: PoolNode[]) => list.filter((n) => n.type.includes('WRITE')).length;
  if (writers(nodes) > 0 && writers(after) === 0) return { allowed: false, reason: `not taking ${name} out: it is the last WRITE server` };
  if (readers(nodes) > 0 && readers(after) === 0) return { allowed: false, reason: `not taking ${name} out: it is the last READ server` };
  return { allowed: true, reason: `${name} may change automatically` };
}
