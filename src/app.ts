/**
 * The composition root shared by `gearops console`, `gearops bot` and the
 * demo: policy, dispatcher, store, limits, commands and the router, wired
 * from the configuration. Every adapter is created here and closed here.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { GearopsConfig } from './config.js';
import type { Logger } from './log.js';
import { ErrorCode, GearopsError } from './errors.js';
import { createCommandRouter } from './core/router.js';
import { createDrainableRouter, type DrainableRouter } from './core/drain.js';
import { createHostLimiter, type HostLimiter } from './core/host-limiter.js';
import type { ChatSink } from './core/ports/chat.js';
import type { CommandModule, CommandRouter } from './core/ports/commands.js';
import type { Dispatcher } from './core/ports/dispatcher.js';
import type { Policy } from './core/ports/policy.js';
import type { Store } from './core/ports/store.js';
import { createReloadablePolicy, type PolicyReload } from './core/policy/reloadable.js';
import { createGearmanDispatcher } from './gearman/dispatcher.js';
import type { ReplicationMonitor } from './monitor/monitor.js';
import { createRunCommand } from '../commands/run.js';
import { createAuditOutbox } from './core/audit-outbox.js';
import { VERSION } from './package-info.js';
import { needsStore, openMysqlStore, storeParts } from './store-parts.js';
import { noopMetrics, type Metrics } from './core/ports/metrics.js';
import { meteredDispatcher, meteredRouter } from './core/metered.js';

/** Everything a transport needs to serve commands. */
export interface AppContext {
  config: GearopsConfig;
  policy: Policy;
  dispatcher: Dispatcher;
  store: Store | null;
  limiter: HostLimiter;
  router: CommandRouter;
  /** Stops the router taking work (shutdown) and tells what still runs. */
  drain: DrainableRouter;
  logger: Logger;
  /** The replication monitor, when a store and GEAROPS_ALERT_CHANNEL are configured (not started). */
  monitor: ReplicationMonitor | null;
  /** Audit rows waiting for the store (it was unreachable when they happened). */
  auditPending(): number;
  /** Stopping: journals this process's commands in flight as handed over, and leaves them alone from now on. */
  handOver(): Promise<number>;
  /** True when accepted commands are journaled in the store: what a stopping bot leaves, the next one finishes. */
  readonly journaled: boolean;
  /** Finishes the commands other bot processes left (handed over, or silent for `staleMs`); returns how many. */
  recover(chat: ChatSink, staleMs?: number): Promise<number>;
  /** Reads the policy file again (SIGHUP); throws and keeps the current rules when it does not load. */
  reloadPolicy(): PolicyReload;
  /** Closes every adapter this context opened. */
  close(): Promise<void>;
}

/** Options of the composition root. */
export interface AppOptions {
  config: GearopsConfig;
  logger: Logger;
  /** Where announcements go (pool channel, alert threads). */
  chat: ChatSink;
  /** Tests and the benchmark pass the dispatcher's fast preset. */
  dispatchPreset?: 'default' | 'fast';
  /** Opens the store (tests may pass their own). */
  openStore?: (url: string, logger: Logger) => Promise<Store>;
  /** Where jobs, commands, connections and monitor cycles are counted (default: nowhere). */
  metrics?: Metrics;
  /**
   * How long past a command's policy time-out /run waits for its host's answer (default 10 s: the worker ends the
   * command at the time-out and answers). Tests of an unplugged host pass less.
   */
  runExtraTimeoutMs?: number;
}

/**
 * Builds the application context from the configuration. Over 80 lines: the composition, read top to bottom
 * (policy, dispatcher, store and its parts, limits, router, close), with its close() beside what it closes.
 */
export async function createAppContext(opts: AppOptions): Promise<AppContext> {
  const { config, logger } = opts;
  if (!config.jobSecret) {
    throw new GearopsError(
      ErrorCode.Config,
      'GEAROPS_JOB_SECRET is not set — set it to the shared secret the workers use (`openssl rand -hex 32`)',
      { data: { variable: 'GEAROPS_JOB_SECRET' } },
    );
  }
  const policyFile = createReloadablePolicy(config.policyFile);
  const policy = policyFile.policy;
  const metrics = opts.metrics ?? noopMetrics;
  const gearman = createGearmanDispatcher({
    servers: config.gearman,
    secret: config.jobSecret,
    logger,
    preset: opts.dispatchPreset,
    maxFrameBytes: config.maxFrameBytes,
    onConnection: (server, up) => metrics.gearmanConnection('client', server, up),
  });
  const dispatcher = meteredDispatcher(gearman, metrics);
  let store: Store | null = null;
  try {
    store = config.mysqlUrl ? await (opts.openStore ?? openMysqlStore)(config.mysqlUrl, logger) : null;
  } catch (err) {
    await dispatcher.close();
    throw err;
  }
  const limiter = createHostLimiter({ maxConcurrent: config.hostConcurrency });
  // This process's name in the commands journal: what it leaves behind, another process finishes.
  const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let handedOver = false;
  const journal = store?.commands ? { instance, commands: store.commands, handedOver: () => handedOver } : undefined;
  const commands: CommandModule[] = [
    createRunCommand({
      dispatcher,
      policy,
      limiter,
      logger,
      journal,
      fanout: config.fanout,
      version: VERSION,
      extraTimeoutMs: opts.runExtraTimeoutMs,
    }),
  ];
  const parts = store
    ? await storeParts({ store, policy, dispatcher, chat: opts.chat, config, logger, metrics })
    : null;
  commands.push(
    ...(parts
      ? parts.commands
      : [
          needsStore(
            'replica',
            'Install, check and remove MySQL replication sandboxes',
            'install | status | list | diagnose | remove | sql',
          ),
          needsStore('pool', 'Change the load-balancer pool', 'list | add <host:port> [types] | set | offline | del'),
        ]),
  );
  const audit = store ? createAuditOutbox(store.audit, logger) : undefined;
  const inner = createCommandRouter({
    commands,
    policy,
    logger,
    audit,
    actions: parts?.actions,
    userRate: { limit: config.userRatePerMinute, windowMs: 60_000 },
    sharedRate: store ? (user, limit, windowMs) => store.interactions.takeRate(user, limit, windowMs) : undefined,
  });
  const drain = createDrainableRouter(meteredRouter(inner, metrics), { logger, audit });
  const router = drain.router;
  return {
    config,
    policy,
    dispatcher,
    store,
    limiter,
    router,
    drain,
    logger,
    monitor: parts?.monitor ?? null,
    auditPending: () => audit?.pending() ?? 0,
    journaled: journal !== undefined,
    async handOver() {
      if (!journal || handedOver) return 0;
      handedOver = true;
      const n = await journal.commands.handOver(instance).catch((err: Error) => {
        logger.error({ event: 'handover_failed', err: err.message }, 'commands in flight could not be handed over');
        return 0;
      });
      if (n) logger.info({ event: 'handed_over', commands: n }, `${n} command(s) in flight left to the next bot`);
      return n;
    },
    async recover(chat, staleMs = 60_000) {
      if (!journal) return 0;
      const entries = await journal.commands.claim(instance, staleMs);
      const finish = async (entry: (typeof entries)[number]) => {
        const mod = commands.find((c) => c.name === entry.command);
        const started = Date.now();
        const outcome = mod?.recover
          ? await mod.recover(entry, chat)
          : { status: 'failed' as const, summary: 'not finished: the bot restarted' };
        await audit?.record({
          source: 'slack',
          userId: entry.userId,
          channelId: entry.channelId,
          command: entry.command,
          text: entry.text,
          decision: outcome.status === 'denied' ? 'deny' : 'allow',
          rule: outcome.rule ?? null,
          status: outcome.status,
          host: outcome.host ?? entry.host,
          jobHandle: outcome.jobHandle ?? null,
          exitCode: outcome.exitCode ?? null,
          durationMs: outcome.durationMs ?? Date.now() - started,
          outputBytes: outcome.outputBytes ?? null,
          requestId: entry.requestId,
          summary: `${outcome.summary ?? ''} (finished after a bot restart)`,
        });
      };
      // At once: each waits for its host's slot like any command.
      await Promise.all(entries.map(finish));
      if (entries.length)
        logger.info({ event: 'recovered', commands: entries.length }, 'commands of a previous bot finished');
      return entries.length;
    },
    reloadPolicy: () => policyFile.reload(),
    async close() {
      await parts?.monitor?.stop();
      await audit?.close();
      await Promise.allSettled([
        dispatcher.close(),
        store?.close(),
        parts?.probe.close(),
        parts?.monitorProbe.close(),
        parts?.control.close(),
      ]);
    },
  };
}
