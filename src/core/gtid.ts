/**
 * MariaDB GTID positions (`domain-server-seq` lists, as in @@gtid_binlog_pos), pure: parsing, ordering and
 * containment, for picking the most advanced replica and for telling whether one node's history is inside
 * another's. A position keeps the last GTID of each replication domain.
 */

/** The last GTID of one domain. */
export interface DomainGtid {
  domain: number;
  server: number;
  seq: number;
}

/** A position: domain → its last GTID. */
export type GtidPosition = Map<number, DomainGtid>;

const ONE = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;

/** True when `s` is a well-formed MariaDB GTID position ('' is the empty position). */
export function isGtidPosition(s: string): boolean {
  const t = s.trim();
  return t === '' || t.split(',').every((p) => ONE.test(p.trim()));
}

/** Parses a position; throws on anything but `d-s-n[,d-s-n…]` (what MASTER_GTID_WAIT is then given is checked). */
export function parseGtidPosition(s: string | null | undefined): GtidPosition {
  const out: GtidPosition = new Map();
  const t = (s ?? '').trim();
  if (!t) return out;
  for (const part of t.split(',')) {
    const m = ONE.exec(part.trim());
    if (!m) throw new Error(`not a GTID position: ${JSON.stringify(t.slice(0, 80))}`);
    const g = { domain: Number(m[1]), server: Number(m[2]), seq: Number(m[3]) };
    const had = out.get(g.domain);
    if (!had || had.seq < g.seq) out.set(g.domain, g);
  }
  return out;
}

/** The canonical text of a position (domains in order). */
export function formatGtidPosition(p: GtidPosition): string {
  return [...p.values()]
    .sort((a, b) => a.domain - b.domain)
    .map((g) => `${g.domain}-${g.server}-${g.seq}`)
    .join(',');
}

/** True when every domain of `inner` is at or behind the same domain of `outer` (by sequence number). */
export function gtidContains(outer: GtidPosition, inner: GtidPosition): boolean {
  for (const [d, g] of inner) {
    const o = outer.get(d);
    if (!o || o.seq < g.seq) return false;
  }
  return true;
}

/**
 * What `inner` has that `outer` lacks, per domain, as GTID ranges (`0-1-101..0-1-105`): the transactions a node
 * would lose (a failover) or that diverged (a rejoin). The server id shown is `inner`'s last one for the domain.
 */
export function gtidMissing(outer: GtidPosition, inner: GtidPosition): string[] {
  const out: string[] = [];
  for (const g of [...inner.values()].sort((a, b) => a.domain - b.domain)) {
    const from = (outer.get(g.domain)?.seq ?? 0) + 1;
    if (from > g.seq) continue;
    out.push(
      from === g.seq
        ? `${g.domain}-${g.server}-${g.seq}`
        : `${g.domain}-${g.server}-${from}..${g.domain}-${g.server}-${g.seq}`,
    );
  }
  return out;
}

/**
 * Orders positions by how far they got: positive when `a` is ahead. Compares the sum of sequence numbers over the
 * union of domains (a missing domain counts 0), which is total and agrees with containment when one contains the
 * other.
 */
export function compareGtid(a: GtidPosition, b: GtidPosition): number {
  let d = 0;
  for (const g of a.values()) d += g.seq;
  for (const g of b.values()) d -= g.seq;
  return Math.sign(d);
}
