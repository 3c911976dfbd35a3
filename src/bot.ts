/**
 * `gearops bot`: the Slack app. Socket Mode when SLACK_APP_TOKEN is set,
 * otherwise HTTP on PORT. Needs the store (audit trail, clusters, incidents,
 * pool) and refuses to start without it.
 */
import { loadDotenvFile, parseConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { createAppContext, type AppContext } from './app.js';
import { createDeferredSink } from './chat/deferred-sink.js';
import { createSlackBot } from './chat/slack/app.js';
import { textMessage } from './core/message.js';
import type { RunningCommand } from './core/drain.js';

/**
 * What becomes of commands still running when the grace period is over. The default tells their users and logs
 * them; a command journal can take them over instead (finish their messages after the restart).
 */
export type HandOver = (running: RunningCommand[]) => Promise<void>;

/** How a shutdown ended: `clean` when nothing was left running; `handedOver` counts what was. */
export interface ShutdownResult {
  clean: boolean;
  handedOver: number;
  /** Closing the adapters (store, job servers, Slack) took longer than its share of the grace period. */
  closeTimedOut: boolean;
}
import { guardUnhandledRejections } from './process-guard.js';
import { VERSION } from './package-info.js';
import { createPrometheusMetrics } from './metrics/prometheus.js';

/** A running bot, for tests and the demo. */
export interface RunningBot {
  ctx: AppContext;
  port?: number;
  /**
   * Reads the policy file again (what SIGHUP does): later commands, buttons and the monitor follow the new
   * rules, and a changed set of user groups is looked up. A file that does not load changes nothing; the
   * answer says why.
   */
  reloadPolicy(): { ok: boolean; message: string };
  /**
   * SIGTERM: stops taking work (new commands are answered "restarting"), lets running ones finish for most of
   * `graceMs` (default GEAROPS_SHUTDOWN_GRACE_S), hands the rest to `handOver`, and closes everything within the
   * grace period.
   */
  shutdown(opts?: { graceMs?: number; handOver?: HandOver }): Promise<ShutdownResult>;
  stop(): Promise<void>;
}

/** An open incident as the gearops_open_incidents gauge labels it. */
const toLabels = (i: { cluster: string; kind: string }) => ({ cluster: i.cluster, fault: i.kind });

/**
 * Starts the bot from an environment; resolves once it is listening. Over 80 lines: the composition of one bot, read top to bottom, then the handle it returns (reload, stop, shutdown), each part short.
 */
export async function startBot(
  env: NodeJS.ProcessEnv,
  opts: { dispatchPreset?: 'default' | 'fast'; slackLimits?: 'default' | 'fast' } = {},
): Promise<RunningBot> {
  const config = parseConfig(env, ['slack', 'jobSecret', 'mysql']);
  const logger = createLogger({ level: config.logLevel });
  const sink = createDeferredSink();
  const metrics = createPrometheusMetrics({ role: 'bot', version: VERSION });
  const ctx = await createAppContext({ config, logger, chat: sink, dispatchPreset: opts.dispatchPreset, metrics });
  const incidents = ctx.store?.incidents;
  if (incidents) metrics.setOpenIncidentSource(async () => (await incidents.listOpen()).map(toLabels));
  const bot = createSlackBot({
    botToken: config.slack.botToken!,
    appToken: config.slack.appToken,
    signingSecret: config.slack.signingSecret,
    port: config.slack.port,
    apiUrl: config.slack.apiUrl,
    router: ctx.router,
    logger,
    limits: opts.slackLimits,
    groups: { ids: ctx.policy.groupIds(), ttlMs: config.groupsTtlS * 1000 },
    interactions: ctx.store?.interactions,
    responseOrigins: config.slack.responseOrigins,
    metrics,
    metricsText: async () => ({ contentType: metrics.contentType, body: await metrics.render() }),
    health: async () => {
      const [gearman, store] = await Promise.all([
        ctx.dispatcher.ping().catch(() => false),
        ctx.store?.ping().catch(() => false) ?? false,
      ]);
      const detail = { version: VERSION, gearman, store, auditPending: ctx.auditPending() };
      return { ok: gearman && store, detail };
    },
  });
  sink.attach(bot.sink);
  let started: { port?: number };
  try {
    started = await bot.start();
  } catch (err) {
    await ctx.close();
    throw err;
  }
  // Only one bot instance monitors at a time (a lock in the store); the others stand by.
  await ctx.monitor?.start();
  // What a previous bot process left in flight (it restarted or handed it over) is finished here.
  void ctx
    .recover(sink)
    .catch((err: Error) =>
      logger.error({ event: 'recover_failed', err: err.message }, 'commands of a previous bot could not be finished'),
    );
  logger.info(
    { event: 'bot_started', mode: config.slack.appToken ? 'socket' : 'http', port: started.port },
    'gearops bot started',
  );
  const stop = async () => {
    // Commands still in flight are journaled as handed over: the next bot process finishes their messages.
    await ctx.handOver();
    await bot.stop();
    await ctx.close();
  };
  return {
    ctx,
    port: started.port,
    reloadPolicy() {
      try {
        const r = ctx.reloadPolicy();
        if (r.groupsChanged) bot.setGroupIds(ctx.policy.groupIds());
        const message = `policy reloaded from ${r.source}`;
        logger.info({ event: 'policy_reloaded', file: r.source, groupsChanged: r.groupsChanged }, message);
        return { ok: true, message };
      } catch (err) {
        const message = `policy reload failed, the previous rules stay in force: ${(err as Error).message}`;
        logger.error({ event: 'policy_reload_failed', err: (err as Error).message }, message);
        return { ok: false, message };
      }
    },
    stop,
    async shutdown(o = {}) {
      const graceMs = o.graceMs ?? config.shutdownGraceS * 1000;
      // The last quarter (at most 5 s) is for handing over and closing; until then, running commands may finish.
      const closeMs = Math.min(5_000, graceMs / 4);
      ctx.drain.drain();
      logger.info(
        { event: 'bot_stopping', graceS: graceMs / 1000, running: ctx.drain.running().length },
        'stopping: new commands are answered "restarting"',
      );
      const clean = await ctx.drain.idle(graceMs - closeMs);
      const left = ctx.drain.running();
      const deadline = Date.now() + closeMs;
      // With the commands journal the next bot process finishes what is left (stop() hands it over); without it,
      // the users are told their results will not be posted.
      const handOver = o.handOver ?? (ctx.journaled ? async () => undefined : defaultHandOver(logger));
      if (left.length) await within(deadline, handOver(left));
      const closed = await within(deadline, stop());
      if (!closed) logger.warn({ event: 'bot_close_timeout' }, 'closing the adapters took too long; exiting anyway');
      return { clean, handedOver: left.length, closeTimedOut: !closed };
    },
  };
}

/** Resolves true when `p` settles before `deadline`, false when the deadline comes first. */
function within(deadline: number, p: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    p.then(
      () => (clearTimeout(t), resolve(true)),
      () => (clearTimeout(t), resolve(true)),
    );
  });
}

/** Tells each user whose command was still running that its result will not be posted, and logs it. */
function defaultHandOver(logger: Logger): HandOver {
  return async (running) => {
    await Promise.allSettled(
      running.map((r) => {
        logger.warn(
          { event: 'command_abandoned', what: r.what, requestId: r.requestId, userId: r.userId },
          'still running when the bot stopped: its result will not be posted',
        );
        return r.reply.ephemeral(
          textMessage(
            `The bot restarted while your ${r.kind === 'command' ? `/${r.what}` : 'button'} was running or waiting: ` +
              'it may still finish, but its result will not be posted here. Check before running it again.',
          ),
        );
      }),
    );
  };
}

/** Entry point of `gearops bot`: runs until SIGTERM/SIGINT; SIGHUP reads the policy file again. */
export async function runBotCommand(_argv: string[]): Promise<number> {
  loadDotenvFile();
  const unguard = guardUnhandledRejections(createLogger());
  let bot: RunningBot;
  try {
    bot = await startBot(process.env);
  } catch (err) {
    process.stderr.write(`gearops bot: ${(err as Error).message}\n`);
    unguard();
    return 2;
  }
  const reload = () => void bot.reloadPolicy();
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  process.removeListener('SIGHUP', reload);
  const log = bot.ctx.logger;
  const graceMs = bot.ctx.config.shutdownGraceS * 1000;
  // A second signal means now; and whatever hangs, the process is gone soon after its grace period.
  const now = () => {
    log.warn({ event: 'bot_killed' }, 'second signal: exiting now');
    process.exit(1);
  };
  process.once('SIGTERM', now);
  process.once('SIGINT', now);
  setTimeout(() => {
    log.error({ event: 'bot_shutdown_overdue' }, 'shutdown did not finish within the grace period: exiting');
    process.exit(1);
  }, graceMs + 2_000).unref();
  const r = await bot.shutdown({ graceMs });
  log.info({ event: 'bot_stopped', ...r }, 'gearops bot stopped');
  // A job the worker still runs keeps a socket open: it must not keep the process alive.
  setTimeout(() => process.exit(0), 500).unref();
  unguard();
  return 0;
}
