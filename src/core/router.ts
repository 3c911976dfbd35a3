/**
 * The command router: the one place every command and button passes through,
 * whatever the transport. It resolves roles from the policy, applies the
 * per-user rate limit, turns thrown errors into answers with reasons, and
 * writes the audit row.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { ErrorCode, isGearopsError } from '../errors.js';
import { textMessage, type ChatMessage } from './message.js';
import type { Reply } from './ports/chat.js';
import type {
  ActionHandler,
  ActionInvocation,
  CommandInvocation,
  CommandModule,
  CommandOutcome,
  CommandRouter,
} from './ports/commands.js';
import type { Policy } from './ports/policy.js';
import type { AuditEntry, AuditStore } from './ports/store.js';

/** Per-user command budget: `limit` commands per `windowMs`. */
export interface UserRateLimit {
  limit: number;
  windowMs: number;
}

/** Dependencies of the router. */
export interface RouterDeps {
  commands: CommandModule[];
  policy: Policy;
  logger: Logger;
  /** Where audit rows go; without a store they go to the log only. */
  audit?: AuditStore;
  userRate?: UserRateLimit;
  /**
   * Counts userRate over every bot instance (the store): 0, or ms to wait. When it fails, this instance counts
   * alone.
   */
  sharedRate?: (userId: string, limit: number, windowMs: number) => Promise<number>;
  /** Buttons that belong to no slash command (e.g. the monitor's incident buttons), by action id prefix. */
  actions?: Record<string, ActionHandler>;
  now?: () => number;
}

/** Sliding-window counter per user: cheap and exact enough for humans typing. */
function createUserLimiter(rate: UserRateLimit, now: () => number) {
  const hits = new Map<string, number[]>();
  return {
    /** Returns 0 when the user may go on, else the ms to wait. */
    take(userId: string): number {
      const t = now();
      const recent = (hits.get(userId) ?? []).filter((x) => t - x < rate.windowMs);
      if (recent.length >= rate.limit) {
        hits.set(userId, recent);
        return rate.windowMs - (t - (recent[0] ?? t));
      }
      recent.push(t);
      hits.set(userId, recent);
      return 0;
    },
  };
}

/**
 * Creates the router over the given command modules. Over 80 lines as a factory: dispatch and dispatchAction share the command table, the rate limit and the audit helpers; each is short.
 */
export function createCommandRouter(deps: RouterDeps): CommandRouter {
  const now = deps.now ?? Date.now;
  const byName = new Map(deps.commands.map((c) => [c.name, c]));
  const limiter = deps.userRate ? createUserLimiter(deps.userRate, now) : null;
  const takeRate = async (userId: string): Promise<number> => {
    if (!limiter || !deps.userRate) return 0;
    if (!deps.sharedRate) return limiter.take(userId);
    try {
      return await deps.sharedRate(userId, deps.userRate.limit, deps.userRate.windowMs);
    } catch (err) {
      deps.logger.warn(
        { event: 'rate_shared_failed', err: (err as Error).message },
        'the store did not count this command: the rate limit is counted by this instance only',
      );
      return limiter.take(userId);
    }
  };

  async function audit(entry: AuditEntry): Promise<void> {
    deps.logger.info({ event: 'audit', ...entry }, 'audit');
    if (!deps.audit) return;
    try {
      await deps.audit.record(entry);
    } catch (err) {
      // The command already happened; losing its audit row must be loud, not fatal.
      deps.logger.error({ event: 'audit_failed', err, entry }, 'audit row could not be written');
    }
  }

  /**
   * The reply handed to commands: a private answer that cannot be delivered (Slack refused it by every route) is
   * logged, not thrown, so a denial stays a denial in the audit trail and the command goes on as decided.
   */
  function safeReply(reply: Reply, requestId: string, userId: string): Reply {
    const ephemeral = (msg: ChatMessage) =>
      reply
        .ephemeral(msg)
        .catch((err: Error) =>
          deps.logger.error(
            { event: 'answer_undelivered', requestId, user: userId, err: err.message, text: msg.text },
            'the requester could not be told',
          ),
        );
    return Object.assign(Object.create(reply) as Reply, { ephemeral });
  }

  const tell = (inv: CommandInvocation | ActionInvocation, text: string) => inv.reply.ephemeral(textMessage(text));

  async function guarded(
    run: () => Promise<CommandOutcome>,
    answer: (text: string) => Promise<void>,
    requestId: string,
  ): Promise<CommandOutcome> {
    try {
      return await run();
    } catch (err) {
      if (isGearopsError(err)) {
        // Every denial is the policy's coded error (src/core/authorize.ts): answered alike, audited with its rule.
        const status =
          err.code === ErrorCode.PolicyDenied ? 'denied' : err.code === ErrorCode.Usage ? 'refused' : 'failed';
        await answer(`${status === 'denied' ? 'Denied' : status === 'refused' ? 'Refused' : 'Failed'}: ${err.message}`);
        return {
          status,
          summary: err.message,
          rule: typeof err.data.rule === 'string' ? err.data.rule : undefined,
          host: typeof err.data.host === 'string' ? err.data.host : undefined,
        };
      }
      deps.logger.error({ event: 'command_crashed', err, requestId }, 'command failed unexpectedly');
      await answer(`Failed: internal error (request ${requestId}); the details are in the bot's log.`);
      return { status: 'failed', summary: err instanceof Error ? err.message : String(err) };
    }
  }

  /** One audit row for a command or a button. */
  function auditRow(
    inv: CommandInvocation | ActionInvocation,
    command: string,
    text: string,
    outcome: CommandOutcome,
    started: number,
  ): AuditEntry {
    return {
      source: inv.source,
      userId: inv.principal.userId,
      channelId: inv.principal.channelId,
      command,
      text,
      decision: outcome.status === 'denied' ? 'deny' : 'allow',
      rule: outcome.rule ?? null,
      status: outcome.status,
      host: outcome.host ?? null,
      jobHandle: outcome.jobHandle ?? null,
      exitCode: outcome.exitCode ?? null,
      durationMs: outcome.durationMs ?? now() - started,
      outputBytes: outcome.outputBytes ?? null,
      requestId: inv.requestId,
      summary: outcome.summary ?? null,
    };
  }

  function withRoles<T extends CommandInvocation | ActionInvocation>(inv: T): T {
    const roles = deps.policy.rolesFor(inv.principal.userId, inv.principal.groups);
    return { ...inv, principal: { ...inv.principal, roles: [...new Set([...inv.principal.roles, ...roles])] } };
  }

  return {
    commands: () => [...byName.values()],

    async dispatch(raw) {
      const requestId = raw.requestId || randomUUID();
      const inv = withRoles({ ...raw, requestId, reply: safeReply(raw.reply, requestId, raw.principal.userId) });
      const started = now();
      const mod = byName.get(inv.command);
      let outcome: CommandOutcome;
      const wait = await takeRate(inv.principal.userId);
      if (!mod) {
        await tell(
          inv,
          `Unknown command /${inv.command}. Commands: ${[...byName.keys()].map((n) => `/${n}`).join(', ')}`,
        );
        outcome = { status: 'refused', summary: 'unknown command' };
      } else if (wait > 0) {
        const s = Math.ceil(wait / 1000);
        await tell(
          inv,
          `Slow down: you can run ${deps.userRate?.limit} commands per ${Math.round((deps.userRate?.windowMs ?? 60_000) / 1000)} s. Try again in ${s} s; nothing was run.`,
        );
        outcome = { status: 'refused', summary: `rate limited (${s} s)` };
      } else {
        outcome = await guarded(
          () => mod.handle(inv),
          (t) => tell(inv, t),
          inv.requestId,
        );
      }
      // A fan-out is one command of many host jobs: one row per host job, tied together by the request id.
      if (outcome.handedOver)
        deps.logger.info({ event: 'handed_over', requestId: inv.requestId }, 'left to the next bot process');
      else
        for (const row of outcome.jobs?.length ? outcome.jobs : [outcome])
          await audit(auditRow(inv, inv.command, inv.text, row, started));
      return outcome;
    },

    async dispatchAction(raw) {
      const requestId = raw.requestId || randomUUID();
      const inv = withRoles({ ...raw, requestId, reply: safeReply(raw.reply, requestId, raw.principal.userId) });
      const started = now();
      let handler: ActionHandler | undefined;
      for (const table of [...[...byName.values()].map((m) => m.actions ?? {}), deps.actions ?? {}]) {
        for (const [prefix, h] of Object.entries(table)) {
          if (inv.actionId.startsWith(prefix)) handler = h;
        }
      }
      const outcome = handler
        ? await guarded(
            () => handler(inv),
            (t) => tell(inv, t),
            inv.requestId,
          )
        : { status: 'refused' as const, summary: `no handler for button ${inv.actionId}` };
      await audit(auditRow(inv, inv.actionId, inv.value, outcome, started));
      return outcome;
    },
  };
}
