/**
 * `/pool`: the load-balancer pool applications read (common.nodes), changed
 * from chat. Every change has a reason, goes into pool_history and is
 * announced in the pool channel; bad input changes nothing.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../src/errors.js';
import { textMessage } from '../src/core/message.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy, PolicyAction } from '../src/core/ports/policy.js';
import type { PoolChange, PoolRole, PoolStore } from '../src/core/ports/store.js';
import { mention, policyPrincipal, words } from './shared.js';

/** Dependencies of `/pool`. */
export interface PoolCommandDeps {
  policy: Policy;
  pool: PoolStore;
  chat?: ChatSink;
  poolChannel?: string;
  logger: Logger;
}

const USAGE = [
  '/pool list',
  '/pool add <host:port> [READ|WRITE|READ,WRITE] [sock=<path>] [reason…]',
  '/pool set <host:port> <READ|WRITE|READ,WRITE> [reason…]',
  '/pool offline <host:port> [reason…]',
  '/pool del <host:port> [reason…]',
].join('\n');

const HOST_RE = /^(?=.{1,28}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Parses host:port; throws a usage error naming the problem. */
export function parseServerArg(s: string | undefined): { host: string; port: number } {
  if (!s) throw usage('name the server as host:port.');
  const m = /^([^:\s]+):(\d{1,5})$/.exec(s);
  if (!m?.[1] || !HOST_RE.test(m[1])) throw usage(`\`${s.slice(0, 40)}\` is not host:port (a host name or IPv4 of at most 28 characters, and a port).`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw usage(`port ${m[2]} is out of range 1..65535.`);
  return { host: m[1], port };
}

/** Parses READ / WRITE / READ,WRITE (case-insensitive); throws a usage error otherwise. */
export function parseTypes(s: string): PoolRole[] {
  const parts = s.toUpperCase().split(',').filter(Boolean);
  if (parts.length === 0 || parts.some((p) => p !== 'READ' && p !== 'WRITE')) throw usage(`\`${s.slice(0, 30)}\` is not a type: use READ, WRITE or READ,WRITE.`);
  return [...new Set(parts as PoolRole[])].sort();
}

function usage(why: string): GearopsError {
  return new GearopsError(ErrorCode.Usage, `${why}\nUsage:\n${USAGE}`);
}

const show = (t: PoolRole[] | null) => (t === null ? 'not in pool' : t.length ? t.join(',') : 'offline');
const looksLikeType = (s: string | undefined) => !!s && /^(read|write)(,(read|write))*$/i.test(s);

/** Creates the `/pool` command. */
export function createPoolCommand(deps: PoolCommandDeps): CommandModule {
  async function gate(inv: CommandInvocation, action: PolicyAction, host?: string): Promise<CommandOutcome | null> {
    const d = deps.policy.checkAction({ action, host, principal: policyPrincipal(inv.principal) });
    if (d.allow) return null;
    await inv.reply.ephemeral(textMessage(`Denied: ${d.reason}`));
    return { status: 'denied', rule: d.rule, host, summary: d.reason };
  }

  async function announce(inv: CommandInvocation, ch: PoolChange): Promise<CommandOutcome> {
    const line = `Pool: ${ch.host}:${ch.port} ${show(ch.before)} → ${show(ch.after)} by ${mention(inv.principal.userId)} — ${ch.reason}`;
    await inv.reply.post(textMessage(line));
    if (deps.chat && deps.poolChannel && deps.poolChannel !== inv.reply.channel) {
      await deps.chat.post(deps.poolChannel, textMessage(line)).catch((err) => deps.logger.error({ err }, 'pool announcement failed'));
    }
    return { status: 'ok', host: ch.host, summary: line };
  }

  async function change(inv: CommandInvocation, sub: string, args: string[]): Promise<CommandOutcome> {
    const server = parseServerArg(args[0]);
    let rest = args.slice(1);
    const action = ({ add: 'pool.add', set: 'pool.set', offline: 'pool.offline', del: 'pool.del' } as const)[sub as 'add'];
    let type: PoolRole[] = [];
    let sock = '';
    if (sub === 'set') {
      if (!rest[0]) throw usage('say which types: READ, WRITE or READ,WRITE (use /pool offline to take it out).');
      type = parseTypes(rest[0]);
      rest = rest.slice(1);
    } else if (sub === 'add') {
      if (looksLikeType(rest[0])) {
        type = parseTypes(rest[0]!);
        rest = rest.slice(1);
      } else if (rest[0] && /^[A-Z,]+$/.test(rest[0]) && !rest[0].startsWith('sock=')) {
        parseTypes(rest[0]);
      }
      if (rest[0]?.startsWith('sock=')) {
        sock = rest[0].slice(5);
        if (!sock.startsWith('/') || sock.length > 64 || sock.split('/').includes('..') || !/^[A-Za-z0-9._\-/]+$/.test(sock)) throw usage(`sock= must be an absolute path of at most 64 characters without \`..\`.`);
        rest = rest.slice(1);
      }
    }
    const reason = rest.join(' ').slice(0, 500) || '(no reason given)';
    const denied = await gate(inv, action, server.host);
    if (denied) return denied;
    const actor = inv.principal.userId;
    try {
      switch (sub) {
        case 'add':
          return await announce(inv, await deps.pool.add({ ...server, sock, type }, actor, reason));
        case 'set':
          return await announce(inv, await deps.pool.set(server.host, server.port, type, actor, reason));
        case 'offline':
          return await announce(inv, await deps.pool.set(server.host, server.port, [], actor, reason));
        default: {
          const cur = await deps.pool.get(server.host, server.port);
          if (!cur) throw new GearopsError(ErrorCode.NotFound, `${server.host}:${server.port} is not in the pool`);
          const yes = await inv.reply.confirm(textMessage(`Delete ${server.host}:${server.port} (${show(cur.type)}) from the pool?`), { yesLabel: 'Delete' });
          if (!yes) {
            await inv.reply.ephemeral(textMessage(`Not deleted: ${server.host}:${server.port} stays in the pool.`));
            return { status: 'refused', host: server.host, summary: 'not confirmed' };
          }
          return await announce(inv, await deps.pool.del(server.host, server.port, actor, reason));
        }
      }
    } catch (err) {
      if (isGearopsError(err, ErrorCode.Conflict) || isGearopsError(err, ErrorCode.NotFound)) {
        await inv.reply.ephemeral(textMessage(`${err.message}; nothing was changed.`));
        return { status: 'refused', host: server.host, summary: err.message };
      }
      throw err;
    }
  }

  async function list(inv: CommandInvocation): Promise<CommandOutcome> {
    const denied = await gate(inv, 'pool.list');
    if (denied) return denied;
    const nodes = await deps.pool.list();
    await inv.reply.ephemeral(
      nodes.length
        ? { text: `${nodes.length} server(s) in the pool`, blocks: [{ type: 'table', columns: ['server', 'sock', 'type'], rows: nodes.map((n) => [`${n.host}:${n.port}`, n.sock || '-', show(n.type)]) }] }
        : textMessage('The pool is empty.'),
    );
    return { status: 'ok', summary: `${nodes.length} servers` };
  }

  return {
    name: 'pool',
    description: 'Change the load-balancer pool (common.nodes)',
    usage: 'list | add <host:port> [READ|WRITE|READ,WRITE] [sock=] [reason] | set <host:port> <types> | offline <host:port> | del <host:port>',
    async handle(inv) {
      const [sub, ...args] = words(inv.text);
      if (sub === 'list') return list(inv);
      if (sub === 'add' || sub === 'set' || sub === 'offline' || sub === 'del') return change(inv, sub, args);
      const lines = deps.policy.describe(policyPrincipal(inv.principal)).filter((l) => l.startsWith('actions:'));
      await inv.reply.ephemeral(textMessage(`${sub && sub !== 'help' ? `Unknown subcommand \`${sub.slice(0, 20)}\`.\n` : ''}Usage:\n${USAGE}\n${lines.join('\n')}`));
      return { status: sub && sub !== 'help' ? 'refused' : 'ok', summary: 'usage' };
    },
  };
}
