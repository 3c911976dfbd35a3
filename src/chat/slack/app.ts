/**
 * The Slack transport (the only code that imports Bolt): slash commands and
 * buttons in, Block Kit out. Every command is acked at once and run after
 * the ack; Slack's retries of an accepted command never run it twice.
 *
 * This module composes the parts: the Bolt app and its routes (bolt-app.ts),
 * the once-only and response_url checks (request-gate.ts), messages out
 * (sink.ts), slash commands (slash-commands.ts) and buttons (buttons.ts).
 */
import type { Logger } from '../../log.js';
import type { ChatSink } from '../../core/ports/chat.js';
import type { CommandRouter } from '../../core/ports/commands.js';
import type { InteractionStore } from '../../core/ports/store.js';
import { createConfirmationDesk } from './confirmations.js';
import { SLACK_RESPONSE_ORIGINS } from './requests.js';
import { createSlackScheduler, SLACK_LIMIT_PRESETS, type SlackLimits } from './limits.js';
import { createGroupDirectory } from './groups.js';
import { noopMetrics, type Metrics } from '../../core/ports/metrics.js';
import { createBoltApp, type SlackClient } from './bolt-app.js';
import { createRequestGate } from './request-gate.js';
import { createReply, createSlackSink, type Respond, type SlackScheduler } from './sink.js';
import { onSlashCommands } from './slash-commands.js';
import { onButtons } from './buttons.js';

/** Options of the Slack bot. */
export interface SlackBotOptions {
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  /** HTTP mode port (0: a free one, for tests). */
  port?: number;
  apiUrl?: string;
  router: CommandRouter;
  logger: Logger;
  health?: () => Promise<{ ok: boolean; detail: Record<string, unknown> }>;
  limits?: keyof typeof SLACK_LIMIT_PRESETS | SlackLimits;
  /** How long a confirmation button waits. */
  confirmTimeoutMs?: number;
  /** User groups the policy names (policy.groupIds()) and how long a member list is fresh; no ids: usergroups.* is never called. */
  groups?: { ids: readonly string[]; ttlMs: number; waitMs?: number };
  /**
   * Shared with the other bot instances (the store): requests taken, confirmations, per-user counts. Without it
   * (or while it does not answer) this instance knows only its own.
   */
  interactions?: InteractionStore;
  /** How often an open confirmation looks for a press that reached another instance. */
  confirmPollMs?: number;
  /** The only origins the bot posts response_urls to (default: Slack's hooks hosts). */
  responseOrigins?: readonly string[];
  /** Counts Web API calls, and 429s, by method. */
  metrics?: Metrics;
  /** Serves GET /metrics (Prometheus text) on the same port as /healthz. */
  metricsText?: () => Promise<{ contentType: string; body: string }>;
}

/** A Slack bot. */
export interface SlackBot {
  start(): Promise<{ port?: number }>;
  stop(): Promise<void>;
  sink: ChatSink;
  /** The policy was reloaded and names other user groups: look those up from now on. */
  setGroupIds(ids: readonly string[]): void;
}

/** Creates the Slack bot (call start()). */
export function createSlackBot(opts: SlackBotOptions): SlackBot {
  const log = opts.logger.child({ component: 'slack' });
  const limits = typeof opts.limits === 'object' ? opts.limits : SLACK_LIMIT_PRESETS[opts.limits ?? 'default'];
  let port = opts.port ?? 3000;
  const app = createBoltApp({ ...opts, port }, log);
  const client = app.client;
  const sched = createSlackScheduler(limits, log, opts.metrics ?? noopMetrics);
  const confirms = createConfirmationDesk({
    shared: opts.interactions,
    logger: log,
    pollMs: opts.confirmPollMs,
  });
  const gate = createRequestGate({
    interactions: opts.interactions,
    responseOrigins: opts.responseOrigins ?? SLACK_RESPONSE_ORIGINS,
    log,
  });
  const directory = groupDirectory(opts, client, sched, log);
  const sink = createSlackSink(client, sched);
  const replyParts = { client, sched, sink, confirms, log, confirmTimeoutMs: opts.confirmTimeoutMs ?? 120_000 };
  const inbound = {
    router: opts.router,
    gate,
    directory,
    log,
    replyFor: (channel: string, user: string, respond?: Respond, threadTs?: string) =>
      createReply(replyParts, channel, user, respond, threadTs),
  };
  onSlashCommands(app, inbound);
  onButtons(app, { ...inbound, confirms, client, sched });
  app.error(async (err) => {
    log.error({ err: (err as Error).message }, 'Bolt error');
  });

  return {
    sink,
    async start() {
      if (opts.appToken) {
        await app.start();
        return {};
      }
      const server = (await app.start(port)) as unknown as { address(): { port: number } | string | null };
      const addr = server?.address?.();
      if (addr && typeof addr === 'object') port = addr.port;
      return { port };
    },
    setGroupIds(ids) {
      directory.setGroupIds(ids);
      if (ids.length)
        log.info(
          { event: 'slack_groups', groups: ids },
          `policy roles use ${ids.length} user group(s) after the reload`,
        );
    },
    async stop() {
      directory.stop();
      await app.stop().catch(() => undefined);
      await sched.stop();
    },
  };
}

/** The user groups the policy names, their members looked up with usergroups.users.list (paced like any call). */
function groupDirectory(opts: SlackBotOptions, client: SlackClient, sched: SlackScheduler, log: Logger) {
  const directory = createGroupDirectory({
    groupIds: opts.groups?.ids ?? [],
    ttlMs: opts.groups?.ttlMs ?? 300_000,
    waitMs: opts.groups?.waitMs,
    logger: log,
    async fetchMembers(usergroup) {
      const r = await sched
        .call('usergroups.users.list', () => client.usergroups.users.list({ usergroup }))
        .catch((err: Error) => {
          // The usual cause after adding groups to the policy: the app was installed before usergroups:read was in its manifest.
          throw /missing_scope/.test(err.message)
            ? new Error(
                `${err.message} — add usergroups:read to the app's bot scopes (manifest.yml) and reinstall it`,
                { cause: err },
              )
            : err;
        });
      if (!Array.isArray(r.users))
        throw new Error(`usergroups.users.list answered without a users list${r.warning ? ` (${r.warning})` : ''}`);
      return r.users;
    },
  });
  if (opts.groups?.ids.length)
    log.info(
      { event: 'slack_groups', groups: opts.groups.ids, ttlS: opts.groups.ttlMs / 1000 },
      `policy roles use ${opts.groups.ids.length} user group(s): members are looked up with usergroups.users.list`,
    );
  return directory;
}
