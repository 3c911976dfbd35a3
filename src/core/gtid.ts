/**
 * MariaDB GTIDs, pure: `domain-server-seq` and comma-separated lists of them, as in @@gtid_binlog_pos,
 * @@gtid_slave_pos, Gtid_IO_Pos (one GTID per domain: a position) and @@gtid_binlog_state (one per domain and
 * server: what a binlog holds of each server). Sequence numbers are 64-bit, so they are bigints.
 *
 * MariaDB positions are not sets: within a domain a server's history is every sequence number up to its last
 * one, so "A is contained in B" is per-domain seq comparison. A position alone cannot see a fork at a lower
 * sequence number (the old master wrote 0-1-101 that nobody received, the new one then wrote 0-2-101, 0-2-102),
 * so the checks take B's binlog *state* when they have it: B holds server s's events of domain d up to the seq
 * its state says, and anything of s beyond that never reached B.
 */
import { ErrorCode, GearopsError } from '../errors.js';

/** One GTID. */
export interface Gtid {
  domain: number;
  server: number;
  seq: bigint;
}

/** A run of sequence numbers of one domain that one side has and the other does not. */
export interface GtidRange {
  domain: number;
  /** The server id of the side that has them (of its last GTID in that domain: the earlier ones are likely its too). */
  server: number;
  from: bigint;
  to: bigint;
}

const GTID_RE = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;
const U32 = 2 ** 32 - 1;
const U64 = 2n ** 64n - 1n;

/** Parses one GTID (`0-1-100`); throws a usage error naming the text for anything else. */
export function parseGtid(text: string): Gtid {
  const m = GTID_RE.exec(text.trim());
  const bad = () => new GearopsError(ErrorCode.Usage, `\`${text.slice(0, 40)}\` is not a GTID (domain-server-seq)`);
  if (!m) throw bad();
  const domain = Number(m[1]);
  const server = Number(m[2]);
  const seq = BigInt(m[3]!);
  if (domain > U32 || server > U32 || seq > U64) throw bad();
  return { domain, server, seq };
}

/** Parses a GTID list; empty or NULL is the empty list. Commas, spaces and new lines separate (SHOW output wraps). */
export function parseGtidList(text: string | null | undefined): Gtid[] {
  if (!text) return [];
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(parseGtid);
}

/** One GTID as MariaDB writes it. */
export const formatGtid = (g: Gtid): string => `${g.domain}-${g.server}-${g.seq}`;

/** A list as MariaDB writes it, by domain then server. */
export function formatGtidList(list: Gtid[]): string {
  return [...list]
    .sort((a, b) => a.domain - b.domain || a.server - b.server)
    .map(formatGtid)
    .join(',');
}

/** The position of a list: per domain its highest sequence number (a binlog state read as a position). */
export function positionOf(list: Gtid[] | string | null | undefined): Map<number, Gtid> {
  const gtids = typeof list === 'string' || list == null ? parseGtidList(list) : list;
  const pos = new Map<number, Gtid>();
  for (const g of gtids) {
    const had = pos.get(g.domain);
    if (!had || g.seq > had.seq) pos.set(g.domain, g);
  }
  return pos;
}

/** Per domain and server, the highest sequence number (what a binlog state says of each server). */
function byServer(list: Gtid[]): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const g of list) {
    const k = `${g.domain}-${g.server}`;
    if ((m.get(k) ?? -1n) < g.seq) m.set(k, g.seq);
  }
  return m;
}

/**
 * How position A stands to position B: `equal`, `behind` (B has everything A has, and more), `ahead` (the
 * reverse), or `incomparable` (each has something of a domain the other lacks).
 */
export function compareGtids(
  a: Gtid[] | string | null | undefined,
  b: Gtid[] | string | null | undefined,
): 'equal' | 'behind' | 'ahead' | 'incomparable' {
  const pa = positionOf(a);
  const pb = positionOf(b);
  let less = false;
  let more = false;
  for (const d of new Set([...pa.keys(), ...pb.keys()])) {
    const sa = pa.get(d)?.seq ?? 0n;
    const sb = pb.get(d)?.seq ?? 0n;
    if (sa < sb) less = true;
    if (sa > sb) more = true;
  }
  return less && more ? 'incomparable' : less ? 'behind' : more ? 'ahead' : 'equal';
}

/**
 * What A has that B never got, as ranges. A is a position or a binlog state (every entry is checked); B is a
 * position, or better a binlog state (`b`), which also finds A's transactions at sequence numbers B has passed
 * with another server's (a fork). Without a state for a server, B is taken to have what its domain's
 * position covers: a fork below B's position is then not seen.
 */
export function missingFrom(a: Gtid[] | string | null | undefined, b: Gtid[] | string | null | undefined): GtidRange[] {
  const la = typeof a === 'string' || a == null ? parseGtidList(a) : a;
  const lb = typeof b === 'string' || b == null ? parseGtidList(b) : b;
  const bPos = positionOf(lb);
  const bServers = byServer(lb);
  const aServers = byServer(la);
  // What B holds of server s in domain d: what its state says, else what its position of the domain covers.
  const holds = (domain: number, server: number) => bServers.get(`${domain}-${server}`) ?? bPos.get(domain)?.seq ?? 0n;
  const out: GtidRange[] = [];
  for (const [k, seq] of aServers) {
    const [domain, server] = k.split('-').map(Number) as [number, number];
    let has = holds(domain, server);
    if (seq <= has) continue;
    // A's history is one line per domain: another server's GTID in it below `seq` that B holds means B holds
    // A's history up to there too, so the range starts after it.
    for (const [k2, s2] of aServers) {
      const [d2, sv2] = k2.split('-').map(Number) as [number, number];
      if (d2 === domain && sv2 !== server && s2 < seq && s2 > has && holds(d2, sv2) >= s2) has = s2;
    }
    out.push({ domain, server, from: has + 1n, to: seq });
  }
  return out.sort((x, y) => x.domain - y.domain || x.server - y.server);
}

/** True when B holds everything A has (see `missingFrom` for what B may be). */
export const isContainedIn = (a: Gtid[] | string | null | undefined, b: Gtid[] | string | null | undefined): boolean =>
  missingFrom(a, b).length === 0;

/** A range for a message: `0-1-101` for one GTID, `0-1-101..0-1-105` for several. */
export function formatGtidRange(r: GtidRange): string {
  const first = formatGtid({ domain: r.domain, server: r.server, seq: r.from });
  return r.from === r.to ? first : `${first}..${formatGtid({ domain: r.domain, server: r.server, seq: r.to })}`;
}

/** Ranges for a thread message: `0-1-101..0-1-105 (5 transactions), 1-3-7 (1 transaction)`. */
export function describeRanges(ranges: GtidRange[]): string {
  return ranges
    .map((r) => {
      const n = r.to - r.from + 1n;
      return `${formatGtidRange(r)} (${n} transaction${n === 1n ? '' : 's'})`;
    })
    .join(', ');
}

/** How many transactions lie between an executed position and a received one (relay log not yet applied). */
export function gtidDistance(
  executed: Gtid[] | string | null | undefined,
  received: Gtid[] | string | null | undefined,
): bigint {
  const pe = positionOf(executed);
  let n = 0n;
  for (const [d, g] of positionOf(received)) {
    const e = pe.get(d)?.seq ?? 0n;
    if (g.seq > e) n += g.seq - e;
  }
  return n;
}

// The position-only view the switchover foundation was written against (one GTID per domain, seq as a number),
// kept as a thin layer over the functions above so that both branches' callers and tests hold.

/** The last GTID of one domain (seq as a number: positions the servers print). */
export interface DomainGtid {
  domain: number;
  server: number;
  seq: number;
}

/** A position: domain → its last GTID. */
export type GtidPosition = Map<number, DomainGtid>;

const toDomain = (g: Gtid): DomainGtid => ({ domain: g.domain, server: g.server, seq: Number(g.seq) });
const fromPosition = (p: GtidPosition): Gtid[] =>
  [...p.values()].map((g) => ({ domain: g.domain, server: g.server, seq: BigInt(g.seq) }));
const POSITION_RE = /^\d{1,10}-\d{1,10}-\d{1,20}$/;

/** True when `s` is a well-formed position: `d-s-n[,d-s-n…]` ('' is the empty one); what MASTER_GTID_WAIT is given. */
export function isGtidPosition(s: string): boolean {
  const t = s.trim();
  return t === '' || t.split(',').every((p) => POSITION_RE.test(p.trim()));
}

/** Parses a position (the highest seq per domain); throws on anything but `d-s-n[,d-s-n…]`. */
export function parseGtidPosition(s: string | null | undefined): GtidPosition {
  const t = (s ?? '').trim();
  if (!isGtidPosition(t))
    throw new GearopsError(ErrorCode.Usage, `not a GTID position: ${JSON.stringify(t.slice(0, 80))}`);
  return new Map([...positionOf(t)].map(([d, g]) => [d, toDomain(g)]));
}

/** The canonical text of a position (domains in order). */
export const formatGtidPosition = (p: GtidPosition): string => formatGtidList(fromPosition(p));

/** True when every domain of `inner` is at or behind the same domain of `outer`. */
export const gtidContains = (outer: GtidPosition, inner: GtidPosition): boolean =>
  isContainedIn(fromPosition(inner), fromPosition(outer));

/** What `inner` has that `outer` lacks, per domain, as ranges (`0-1-101..0-1-105`). */
export const gtidMissing = (outer: GtidPosition, inner: GtidPosition): string[] =>
  missingFrom(fromPosition(inner), fromPosition(outer)).map(formatGtidRange);

/** Orders positions by progress (the sum of sequence numbers): positive when `a` is ahead. */
export function compareGtid(a: GtidPosition, b: GtidPosition): number {
  const sum = (p: GtidPosition) => fromPosition(p).reduce((t, g) => t + g.seq, 0n);
  const d = sum(a) - sum(b);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}
