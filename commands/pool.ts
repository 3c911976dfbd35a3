/**
 * `/pool`: the load-balancer pool applications read (common.nodes), changed
 * from chat. Every change has a reason, goes into pool_history and is
 * announced in the pool channel; bad input and denials change nothing.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../src/errors.js';
import { channelMention, textMessage } from '../src/core/message.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { PoolChange, PoolRole, PoolStore } from '../src/core/ports/store.js';
import { poolChangeMessage, showPoolType } from '../src/core/pool-message.js';
import { policyPrincipal, words } from './shared.js';
import { authorize } from '../src/core/authorize.js';

/** Dependencies of `/pool`. */
export interface PoolCommandDeps {
  policy: Policy;
  pool: PoolStore;
  /** Where announcements go; without it (or without poolChannel) only the requester's channel hears of a change. */
  chat?: ChatSink;
  /** GEAROPS_POOL_CHANNEL. */
  poolChannel?: string;
  logger: Logger;
  /** Socket path for an `add` without `sock=` (e.g. from the cluster record); default ''. */
  resolveSock?: (host: string, port: number) => string;
}

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
const SUBCOMMANDS = ['list', 'add', 'set', 'offline', 'del'] as const;
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
interface ChangeRequest {
  sub: Exclude<Sub, 'list'>;
  host: string;
  port: number;
  type: PoolRole[];
  sock: string | null;
  reason: string;
  assumeYes: boolean;
}

function parseChange(sub: ChangeRequest['sub'], args: string[]): ChangeRequest {
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

/** Creates the `/pool` command. */
export function createPoolCommand(deps: PoolCommandDeps): CommandModule {
  const log = deps.logger.child({ command: 'pool' });

  /** One message in the pool channel per change, and a visible confirmation where the command was typed. */
  async function announce(inv: CommandInvocation, ch: PoolChange): Promise<CommandOutcome> {
    const msg = poolChangeMessage(ch);
    const line = msg.text;
    const inPoolChannel = !!deps.chat && !!deps.poolChannel;
    let announced = false;
    if (inPoolChannel) {
      try {
        await deps.chat!.post(deps.poolChannel!, msg);
        announced = true;
      } catch (err) {
        // The change is committed; say so rather than fail the command.
        log.error({ event: 'pool_announce_failed', err, host: ch.host, port: ch.port }, 'pool announcement failed');
        await inv.reply
          .ephemeral(
            textMessage(
              `The change was made, but announcing it in ${channelMention(deps.poolChannel!)} failed: ${(err as Error).message}`,
            ),
          )
          .catch(() => undefined);
      }
    }
    // Typed in the pool channel itself: the announcement is the confirmation (no second copy there).
    if (!announced || inv.reply.channel !== deps.poolChannel) await inv.reply.post(textMessage(line));
    return { status: 'ok', host: ch.host, summary: line };
  }

  async function change(inv: CommandInvocation, req: ChangeRequest): Promise<CommandOutcome> {
    const { host, port, reason } = req;
    const server = `${host}:${port}`;
    authorize(deps.policy, inv.principal, { action: `pool.${req.sub}`, host });
    const actor = inv.principal.userId;
    try {
      let ch: PoolChange;
      if (req.sub === 'add') {
        const sock = req.sock ?? deps.resolveSock?.(host, port) ?? '';
        ch = await deps.pool.add({ host, port, sock, type: req.type }, actor, reason);
      } else if (req.sub === 'set' || req.sub === 'offline') {
        ch = await deps.pool.set(host, port, req.sub === 'set' ? req.type : [], actor, reason);
        if (ch.before !== null && ch.after !== null && ch.before.join(',') === ch.after.join(',')) {
          await inv.reply.ephemeral(
            textMessage(`${server} is already ${showPoolType(ch.after)}; nothing was changed.`),
          );
          return { status: 'ok', host, summary: `${server} unchanged (${showPoolType(ch.after)})` };
        }
      } else {
        const cur = await deps.pool.get(host, port);
        if (!cur) throw new GearopsError(ErrorCode.NotFound, `${server} is not in the pool`, { data: { host, port } });
        // `--yes` is the console's answer; in Slack the button is the only way to confirm.
        const yes =
          (req.assumeYes && inv.source === 'console') ||
          (await inv.reply.confirm(
            textMessage(`Delete ${server} (${showPoolType(cur.type)}) from the pool? Reason: ${reason}`),
            { yesLabel: 'Delete' },
          ));
        if (!yes) {
          await inv.reply.ephemeral(
            textMessage(`Not deleted: ${server} stays in the pool as ${showPoolType(cur.type)}.`),
          );
          return { status: 'refused', host, summary: 'delete not confirmed' };
        }
        ch = await deps.pool.del(host, port, actor, reason);
      }
      return await announce(inv, ch);
    } catch (err) {
      if (isGearopsError(err, ErrorCode.Conflict) || isGearopsError(err, ErrorCode.NotFound)) {
        const hint = isGearopsError(err, ErrorCode.NotFound) ? `\nUsage:\n${POOL_USAGE}` : '';
        await inv.reply.ephemeral(textMessage(`${err.message}; nothing was changed.${hint}`));
        return { status: 'refused', host, summary: err.message };
      }
      throw err;
    }
  }

  async function list(inv: CommandInvocation): Promise<CommandOutcome> {
    authorize(deps.policy, inv.principal, { action: 'pool.list' });
    const nodes = await deps.pool.list();
    await inv.reply.ephemeral(
      nodes.length
        ? {
            text: `${nodes.length} server(s) in the pool`,
            blocks: [
              {
                type: 'table',
                columns: ['server', 'sock', 'type'],
                rows: nodes.map((n) => [`${n.host}:${n.port}`, n.sock || '-', showPoolType(n.type)]),
              },
            ],
          }
        : textMessage('The pool is empty.'),
    );
    return { status: 'ok', summary: `${nodes.length} servers` };
  }

  async function help(inv: CommandInvocation, unknown?: string): Promise<CommandOutcome> {
    const principal = policyPrincipal(inv.principal);
    const may = SUBCOMMANDS.map((s) => {
      const d = deps.policy.checkAction({ action: `pool.${s}`, principal });
      return `${d.allow ? '✓' : '✗'} ${s}: ${d.reason}`;
    });
    const head = unknown === undefined ? '' : `Unknown subcommand \`${unknown.slice(0, 20)}\`.\n`;
    await inv.reply.ephemeral(
      textMessage(`${head}Usage:\n${POOL_USAGE}\nWhat the policy lets you do:\n${may.join('\n')}`),
    );
    return unknown === undefined
      ? { status: 'ok', summary: 'help' }
      : { status: 'refused', summary: `unknown subcommand ${unknown.slice(0, 20)}` };
  }

  return {
    name: 'pool',
    description: 'Change the load-balancer pool (common.nodes)',
    usage:
      'list | add <host:port> [READ|WRITE|READ,WRITE|none] [sock=<path>] [-- reason] | set <host:port> <types> | offline <host:port> | del <host:port> | help',
    async handle(inv) {
      const [sub, ...args] = words(inv.text);
      try {
        if (sub === 'list') return await list(inv);
        if (sub === 'add' || sub === 'set' || sub === 'offline' || sub === 'del')
          return await change(inv, parseChange(sub, args));
        return await help(inv, sub === undefined || sub === 'help' ? undefined : sub);
      } catch (err) {
        if (!isGearopsError(err, ErrorCode.Usage)) throw err;
        await inv.reply.ephemeral(textMessage(err.message));
        return { status: 'refused', summary: err.message.split('\n')[0] };
      }
    },
  };
}
