/**
 * `gearops bot`: the Slack app. Socket Mode when SLACK_APP_TOKEN is set,
 * otherwise HTTP on PORT. Needs the store (audit trail, clusters, incidents,
 * pool) and refuses to start without it.
 */
import { loadDotenvFile, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { createAppContext, type AppContext } from './app.js';
import { createDeferredSink } from './chat/deferred-sink.js';
import { createSlackBot } from './chat/slack/app.js';
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
  stop(): Promise<void>;
}

/** An open incident as the gearops_open_incidents gauge labels it. */
const toLabels = (i: { cluster: string; kind: string }) => ({ cluster: i.cluster, fault: i.kind });

/** Starts the bot from an environment; resolves once it is listening. */
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
  logger.info(
    { event: 'bot_started', mode: config.slack.appToken ? 'socket' : 'http', port: started.port },
    'gearops bot started',
  );
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
    async stop() {
      await bot.stop();
      await ctx.close();
    },
  };
}

/** Entry point of `gearops bot`: runs until SIGTERM/SIGINT; SIGHUP reads the policy file again. */
export async function runBotCommand(_argv: string[]): Promise<number> {
  loadDotenvFile();
  let bot: RunningBot;
  try {
    bot = await startBot(process.env);
  } catch (err) {
    process.stderr.write(`gearops bot: ${(err as Error).message}\n`);
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
  await bot.stop();
  return 0;
}
