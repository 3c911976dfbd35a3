/**
 * Reading `/pool`'s words: servers as host:port that fit common.nodes, types, sock paths and reasons. A word
 * that looks like a mistyped type is refused rather than taken as the start of a reason. Every bad input is a
 * usage error naming the problem; nothing here touches the pool.
 */
import { ErrorCode, GearopsError } from '../src/errors.js';
import type { PoolRole } from '../src/core/ports/store.js';

/** Usage lines of `/pool` (also shown on every bad input). */
export const POOL_USAGE = [
  '/pool list',
  '/pool add <host:port> [READ|WRITE|READ,WRITE|none] [sock=<path>] [-- reason…]   (no type, or none: added offline)',
  '/pool set <host:port> <READ|WRITE|READ,WRITE|none> [-- reason…]',
  '/pool offline <host:port> [-- reason…]',
  '/pool del <host:port> [-- reason…]   (asks to confirm; --yes in the console)',
  '/pool help',
  'A reason goes after -- or reason=; without them it may start with any word that does not look like a type.',
].join('\n');

const HOST_MAX = 28; // nodes.host is CHAR(28)
const SOCK_MAX = 64; // nodes.sock is CHAR(64)
const REASON_MAX = 500;
const DEFAULT_REASON = '(no reason given)';
const LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const SOCK_RE = /^\/[A-Za-z0-9._\-/]*$/;
/** The subcommands, in the order help lists them. */
export const SUBCOMMANDS = ['list', 'add', 'set', 'offline', 'del'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

function usage(why: string): GearopsError {
  return new GearopsError(ErrorCode.Usage, `${why}\nUsage:\n${POOL_USAGE}`);
}

/** True for a host name (RFC 1123 labels) or a dotted IPv4 address that fits nodes.host. */
export function isPoolHost(host: string): boolean {
  if (host.length === 0 || host.length > HOST_MAX) return false;
  // All-numeric dotted names would pass as host names; they must be real IPv4 addresses.
  if (/^[\d.]+$/.test(host)) return IPV4_RE.test(host);
  return host.split('.').every((l) => LABEL_RE.test(l));
}

/** Parses host:port; throws a usage error naming the problem. */
export function parseServerArg(s: string | undefined): { host: string; port: number } {
  if (!s) throw usage('Name the server as host:port.');
  const shown = `\`${s.slice(0, 40)}\``;
  const m = /^([^:]*):(\d{1,5})$/.exec(s);
  if (!m) throw usage(`${shown} is not host:port.`);
  const host = m[1] ?? '';
  if (!isPoolHost(host))
    throw usage(`${shown}: the host must be a host name or IPv4 address of at most ${HOST_MAX} characters.`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw usage(`${shown}: port ${m[2]} is out of range 1..65535.`);
  return { host, port };
}

const TYPES_HINT = 'use READ, WRITE, READ,WRITE or none (in the pool, offline)';

/** Parses READ / WRITE / READ,WRITE or none (case-insensitive, deduplicated, sorted); throws a usage error otherwise. */
export function parseTypes(s: string): PoolRole[] {
  if (s.toLowerCase() === 'none') return [];
  const parts = s.toUpperCase().split(',');
  if (parts.some((p) => p !== 'READ' && p !== 'WRITE'))
    throw usage(`\`${s.slice(0, 30)}\` is not a type: ${TYPES_HINT}.`);
  return [...new Set(parts as PoolRole[])].sort();
}

/** True for a word that is a type keyword: READ, WRITE, a comma list of them, or none. */
const isTypeWord = (w: string) => w.toLowerCase() === 'none' || /^(read|write)(,(read|write))*$/i.test(w);

/** Words people use for a pool state that are not its keywords. */
const POOL_WORDS = new Set(
  'offline online rw ro r w delete del remove drop master primary replica slave reader writer both'.split(' '),
);

/** `a` and `b` differ by one swap of neighbours, one letter more or one letter less (RAED, WRTIE, WRTE, NON). */
function oneSlipAway(a: string, b: string): boolean {
  if (a.length === b.length) {
    const diff = [...a].flatMap((ch, i) => (ch === b[i] ? [] : [i]));
    return diff.length === 2 && diff[1] === diff[0]! + 1 && a[diff[0]!] === b[diff[1]!] && a[diff[1]!] === b[diff[0]!];
  }
  const [long, short] = a.length > b.length ? [a, b] : [b, a];
  if (long.length !== short.length + 1) return false;
  return [...long].some((_, i) => long.slice(0, i) + long.slice(i + 1) === short);
}

/**
 * True for a word that looks like a type but is not one: a comma list, a word starting with read/write (READER),
 * a slip of READ/WRITE/none (RAED, WRTIE), a pool word (offline, rw, delete…), or a word in capitals the way types
 * are written (DELETE, REDA). Such a word in a type's place, or starting a free-form reason, is refused: it is a
 * typo, not the first word of a reason.
 */
export function looksLikeType(w: string): boolean {
  if (isTypeWord(w)) return false;
  const lower = w.toLowerCase();
  if (w.includes(',') || /^(read|write)/.test(lower) || POOL_WORDS.has(lower)) return true;
  if (/^[A-Z]{2,}$/.test(w)) return true;
  return ['read', 'write', 'none'].some((t) => oneSlipAway(lower, t));
}

/** The usage error for a type-like word in `sub`'s type or reason place. */
function notAType(sub: string, w: string): GearopsError {
  const shown = `\`${w.slice(0, 30)}\``;
  const what =
    sub === 'offline'
      ? `${shown} is not something /pool offline takes: it takes no type (to give one, use /pool set)`
      : isTypeWord(w)
        ? `${shown} is a second type: give the types as one word (READ,WRITE); ${TYPES_HINT}`
        : `${shown} is not a type: ${TYPES_HINT}`;
  return usage(`${what}. A reason that starts with such a word goes after -- or reason=. Nothing was changed.`);
}

/**
 * The reason in `rest`: everything after `--`, or from `reason=` on, or the free words when the first of them is
 * not a type and does not look like one (`checkTypos`; `del` takes no type, so any word may start its reason).
 */
function parseReason(sub: string, rest: string[], checkTypos: boolean): string {
  let words = rest;
  if (words[0] === '--') words = words.slice(1);
  else if (words[0]?.toLowerCase().startsWith('reason=')) words = [words[0].slice(7), ...words.slice(1)];
  else if (checkTypos && words[0] !== undefined && (isTypeWord(words[0]) || looksLikeType(words[0])))
    throw notAType(sub, words[0]);
  return words.join(' ').trim().slice(0, REASON_MAX) || DEFAULT_REASON;
}

/** Checks a `sock=` path: absolute, at most 64 characters, no `..`, no shell or quote characters. */
export function parseSock(s: string): string {
  if (!SOCK_RE.test(s) || s.length > SOCK_MAX || s.split('/').includes('..'))
    throw usage(`sock= must be an absolute path of at most ${SOCK_MAX} characters without \`..\`.`);
  return s;
}

/** What a change subcommand asks for, after parsing. */
export interface ChangeRequest {
  sub: Exclude<Sub, 'list'>;
  host: string;
  port: number;
  type: PoolRole[];
  sock: string | null;
  reason: string;
  assumeYes: boolean;
}

/** Parses a change subcommand's words: server, type or sock, `--yes`, reason; throws a usage error. */
export function parseChange(sub: ChangeRequest['sub'], args: string[]): ChangeRequest {
  const { host, port } = parseServerArg(args[0]);
  let rest = args.slice(1);
  let type: PoolRole[] = [];
  let sock: string | null = null;
  if (sub === 'set') {
    if (!rest[0] || rest[0] === '--' || rest[0].toLowerCase().startsWith('reason='))
      throw usage(`Say which types: ${TYPES_HINT}.`);
    if (!isTypeWord(rest[0])) throw notAType(sub, rest[0]);
    type = parseTypes(rest[0]);
    rest = rest.slice(1);
  } else if (sub === 'add') {
    // Options come before the reason, in either order; the first other word starts the reason.
    let typed = false;
    for (let i = 0; i < 2 && rest[0] !== undefined; i++) {
      const w = rest[0];
      if (w.toLowerCase().startsWith('sock=') && sock === null) sock = parseSock(w.slice(5));
      else if (isTypeWord(w) && !typed) {
        type = parseTypes(w);
        typed = true;
      } else break;
      rest = rest.slice(1);
    }
  } else if (sub === 'offline' && rest[0]?.toLowerCase() === 'none') {
    rest = rest.slice(1);
  }
  const assumeYes = sub === 'del' && rest.includes('--yes');
  if (sub === 'del') rest = rest.filter((w) => w !== '--yes');
  const reason = parseReason(sub, rest, sub !== 'del');
  return { sub, host, port, type, sock, reason, assumeYes };
}
