/** Moving WRITE from one server of a cluster to another, as one set of row changes (pure; the pool store applies it). */
import type { PoolNode, PoolRole, WriteMove } from './ports/store.js';

export type { WriteMove } from './ports/store.js';

/** One row to change: `before` null inserts, `after` null deletes. */
export interface RowChange {
  host: string;
  port: number;
  sock: string;
  before: PoolRole[] | null;
  after: PoolRole[] | null;
}

const key = (n: { host: string; port: number }) => `${n.host}:${n.port}`;
const sorted = (t: PoolRole[]): PoolRole[] => [...new Set(t)].sort();
const same = (a: PoolRole[] | null, b: PoolRole[] | null) =>
  a === null || b === null ? a === b : sorted(a).join() === sorted(b).join();

/**
 * The row changes that move WRITE, given the pool's current rows: WRITE taken away first (every server of the
 * cluster but `to`), then given to `to`, so that even applied one by one the cluster never has two WRITE servers.
 * Rows that already are as asked are left out; an empty list means nothing to do.
 */
export function planWriteMove(current: PoolNode[], m: WriteMove): RowChange[] {
  const rows = new Map(current.map((n) => [key(n), n]));
  const toKey = key(m.to);
  const fromKey = m.from ? key(m.from) : null;
  if (fromKey === toKey) throw new Error(`the old and the new master are both ${toKey}`);
  const out: RowChange[] = [];
  const members = new Map([...m.cluster, ...(m.from ? [m.from] : [])].map((n) => [key(n), n]));
  for (const [k, n] of members) {
    if (k === toKey) continue;
    const row = rows.get(k);
    if (!row) continue;
    let after: PoolRole[] | null = row.type.filter((t) => t !== 'WRITE');
    if (k === fromKey) after = m.fromAfter === 'out' ? null : sorted(m.fromAfter.filter((t) => t !== 'WRITE'));
    if (!same(row.type, after)) out.push({ host: n.host, port: n.port, sock: row.sock, before: row.type, after });
  }
  const target = rows.get(toKey);
  const after: PoolRole[] = ['READ', 'WRITE'];
  if (!target) out.push({ host: m.to.host, port: m.to.port, sock: m.to.sock ?? '', before: null, after });
  else if (!same(target.type, after))
    out.push({ host: target.host, port: target.port, sock: target.sock, before: target.type, after });
  return out;
}

/** The servers of `cluster` with WRITE in `nodes` (what must be exactly one after a move). */
export function writersOf(nodes: PoolNode[], cluster: Array<{ host: string; port: number }>): PoolNode[] {
  const members = new Set(cluster.map(key));
  return nodes.filter((n) => members.has(key(n)) && n.type.includes('WRITE'));
}
