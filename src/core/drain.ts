/**
 * Shutting down without stranding anyone: wraps the command router so that, once draining, new commands and
 * buttons get "restarting, try again in a moment" (and run nothing), while those already running are known and
 * can be waited for, for a bounded time, then handed over.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { textMessage } from './message.js';
import type { ActionInvocation, CommandInvocation, CommandOutcome, CommandRouter } from './ports/commands.js';
import type { AuditEntry } from './ports/store.js';

/** The answer to a command that arrives while the bot is stopping. */
export const RESTARTING_ANSWER = 'The bot is restarting: try again in a moment. Nothing was run.';

/** A command or button still running when the bot stops (what a hand-over gets). */
export interface RunningCommand {
  kind: 'command' | 'button';
  /** `run server1 uptime`, or the button's action id and value. */
  what: string;
  userId: string;
  channelId: string;
  requestId: string;
  startedAt: number;
  /** The reply of the invocation, to tell its user what became of it. */
  reply: CommandInvocation['reply'];
}

/** The router, and the controls to stop it taking work. */
export interface DrainableRouter {
  router: CommandRouter;
  /** From now on, new commands and buttons are answered RESTARTING_ANSWER. */
  drain(): void;
  readonly draining: boolean;
  /** What runs now. */
  running(): RunningCommand[];
  /** Resolves true once nothing runs, or false after `ms`. */
  idle(ms: number): Promise<boolean>;
}

/**
 * Wraps `inner`; refusals while draining are audited through `audit` (when given) and logged. Over 80 lines as a factory: the wrapped dispatch methods share the running set and the drain state; each is short.
 */
export function createDrainableRouter(
  inner: CommandRouter,
  deps: { logger: Logger; audit?: { record(e: AuditEntry): Promise<void> } },
): DrainableRouter {
  const log = deps.logger.child({ component: 'drain' });
  let draining = false;
  const running = new Map<symbol, RunningCommand>();
  const waiters = new Set<() => void>();
  const settle = () => {
    if (running.size === 0) for (const w of [...waiters]) w();
  };

  async function refuse(inv: CommandInvocation | ActionInvocation, kind: 'command' | 'button', what: string) {
    log.info({ event: 'command_refused_restarting', kind, what, userId: inv.principal.userId }, RESTARTING_ANSWER);
    await inv.reply.ephemeral(textMessage(RESTARTING_ANSWER)).catch((err: Error) => {
      log.warn({ err: err.message }, 'the restarting answer was not delivered');
    });
    await deps.audit
      ?.record({
        source: inv.source,
        userId: inv.principal.userId,
        channelId: inv.principal.channelId,
        command: kind === 'command' ? (inv as CommandInvocation).command : (inv as ActionInvocation).actionId,
        text: kind === 'command' ? (inv as CommandInvocation).text : (inv as ActionInvocation).value,
        decision: 'allow',
        rule: null,
        status: 'refused',
        host: null,
        jobHandle: null,
        exitCode: null,
        durationMs: 0,
        outputBytes: null,
        requestId: inv.requestId || randomUUID(),
        summary: 'not run: the bot was restarting',
      })
      .catch(() => undefined);
    return { status: 'refused', summary: 'not run: the bot was restarting' } satisfies CommandOutcome;
  }

  async function tracked(entry: RunningCommand, run: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
    const key = Symbol(entry.requestId);
    running.set(key, entry);
    try {
      return await run();
    } finally {
      running.delete(key);
      settle();
    }
  }

  const entryOf = (
    kind: RunningCommand['kind'],
    what: string,
    inv: CommandInvocation | ActionInvocation,
  ): RunningCommand => ({
    kind,
    what,
    userId: inv.principal.userId,
    channelId: inv.principal.channelId,
    requestId: inv.requestId,
    startedAt: Date.now(),
    reply: inv.reply,
  });

  const router: CommandRouter = {
    commands: () => inner.commands(),
    dispatch(inv) {
      const what = `${inv.command} ${inv.text}`.trim();
      if (draining) return refuse(inv, 'command', what);
      return tracked(entryOf('command', what, inv), () => inner.dispatch(inv));
    },
    dispatchAction(inv) {
      const what = `${inv.actionId} ${inv.value}`.trim();
      if (draining) return refuse(inv, 'button', what);
      return tracked(entryOf('button', what, inv), () => inner.dispatchAction(inv));
    },
  };

  return {
    router,
    drain() {
      if (!draining) log.info({ event: 'drain_started', running: running.size }, 'no longer taking new commands');
      draining = true;
    },
    get draining() {
      return draining;
    },
    running: () => [...running.values()],
    idle(ms) {
      if (running.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (v: boolean) => {
          clearTimeout(timer);
          waiters.delete(onIdle);
          resolve(v);
        };
        const onIdle = () => done(true);
        const timer = setTimeout(() => done(false), ms);
        waiters.add(onIdle);
      });
    },
  };
}
