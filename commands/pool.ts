/**
 * `/pool`: the load-balancer pool applications read (common.nodes), changed
 * from chat. Every change has a reason, goes into pool_history and is
 * announced in the pool channel; bad input and denials change nothing.
 * Its words are read by pool-parse.ts.
 */
import type { Logger } from '../src/log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../src/errors.js';
import { channelMention, textMessage } from '../src/core/message.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { PoolChange, PoolStore } from '../src/core/ports/store.js';
import { poolChangeMessage, showPoolType } from '../src/core/pool-message.js';
import { policyPrincipal, words } from './shared.js';
import { authorize } from '../src/core/authorize.js';
import { parseChange, POOL_USAGE, SUBCOMMANDS, type ChangeRequest } from './pool-parse.js';

/** The parsers, for callers and tests that check input alone. */
export { isPoolHost, looksLikeType, parseServerArg, parseSock, parseTypes, POOL_USAGE } from './pool-parse.js';

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

/** One message in the pool channel per change, and a visible confirmation where the command was typed. */
async function announce(
  deps: PoolCommandDeps,
  log: Logger,
  inv: CommandInvocation,
  ch: PoolChange,
): Promise<CommandOutcome> {
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

/** add, set, offline or del, authorized, confirmed where it deletes, then announced. */
async function change(
  deps: PoolCommandDeps,
  log: Logger,
  inv: CommandInvocation,
  req: ChangeRequest,
): Promise<CommandOutcome> {
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
        await inv.reply.ephemeral(textMessage(`${server} is already ${showPoolType(ch.after)}; nothing was changed.`));
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
    return await announce(deps, log, inv, ch);
  } catch (err) {
    if (isGearopsError(err, ErrorCode.Conflict) || isGearopsError(err, ErrorCode.NotFound)) {
      const hint = isGearopsError(err, ErrorCode.NotFound) ? `\nUsage:\n${POOL_USAGE}` : '';
      await inv.reply.ephemeral(textMessage(`${err.message}; nothing was changed.${hint}`));
      return { status: 'refused', host, summary: err.message };
    }
    throw err;
  }
}

/** `/pool list`: the pool as a table, privately. */
async function list(deps: PoolCommandDeps, inv: CommandInvocation): Promise<CommandOutcome> {
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

/** `/pool help`, or an unknown subcommand: the usage and what the policy lets this user do. */
async function help(deps: PoolCommandDeps, inv: CommandInvocation, unknown?: string): Promise<CommandOutcome> {
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

/** Creates the `/pool` command. */
export function createPoolCommand(deps: PoolCommandDeps): CommandModule {
  const log = deps.logger.child({ command: 'pool' });
  return {
    name: 'pool',
    description: 'Change the load-balancer pool (common.nodes)',
    usage:
      'list | add <host:port> [READ|WRITE|READ,WRITE|none] [sock=<path>] [-- reason] | set <host:port> <types> | offline <host:port> | del <host:port> | help',
    async handle(inv) {
      const [sub, ...args] = words(inv.text);
      try {
        if (sub === 'list') return await list(deps, inv);
        if (sub === 'add' || sub === 'set' || sub === 'offline' || sub === 'del')
          return await change(deps, log, inv, parseChange(sub, args));
        return await help(deps, inv, sub === undefined || sub === 'help' ? undefined : sub);
      } catch (err) {
        if (!isGearopsError(err, ErrorCode.Usage)) throw err;
        await inv.reply.ephemeral(textMessage(err.message));
        return { status: 'refused', summary: err.message.split('\n')[0] };
      }
    },
  };
}
