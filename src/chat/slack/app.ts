/**
 * The Slack transport (the only code that imports Bolt): slash commands and
 * buttons in, Block Kit out. Every command is acked at once and run after
 * the ack; Slack's retries of an accepted command never run it twice.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { Logger } from '../../log.js';
import { textMessage, type ChatFile, type ChatMessage } from '../../core/message.js';
import type { ChatSink, MessageRef, Reply } from '../../core/ports/chat.js';
import type { CommandRouter, Principal } from '../../core/ports/commands.js';
import type { InteractionStore } from '../../core/ports/store.js';
import { renderSlack } from './render.js';
import { createConfirmationDesk } from './confirmations.js';
import { isAllowedResponseUrl, refuseUnfreshRequests, signatureKey, SLACK_RESPONSE_ORIGINS } from './requests.js';
import { createSlackScheduler, SLACK_LIMIT_PRESETS, type SlackLimits } from './limits.js';
import { createGroupDirectory } from './groups.js';
import { noopMetrics, type Metrics } from '../../core/ports/metrics.js';
import { metricsRoute } from './metrics-route.js';

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
  const clientOptions = {
    slackApiUrl: opts.apiUrl ?? 'https://slack.com/api/',
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
  };
  // GET /healthz in both modes (in Socket Mode Bolt serves custom routes on PORT too).
  const healthRoute = {
    path: '/healthz',
    method: ['GET'],
    handler: (_req: unknown, res: ServerResponse) => {
      void (opts.health?.() ?? Promise.resolve({ ok: true, detail: {} })).then(
        (h) => {
          res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: h.ok, ...h.detail }));
        },
        () => {
          res.writeHead(503);
          res.end('{"ok":false}');
        },
      );
    },
  };
  const routes = [healthRoute, ...(opts.metricsText ? [metricsRoute(opts.metricsText)] : [])];
  let port = opts.port ?? 3000;
  const receiver = opts.appToken
    ? undefined
    : new HTTPReceiver({
        signingSecret: opts.signingSecret ?? '',
        endpoints: '/slack/events',
        logLevel: LogLevel.WARN,
        customRoutes: routes,
        // Bolt's context gets the signed request's timestamp and signature: a replay of the same bytes is refused.
        customPropertiesExtractor: (req) => {
          const key = signatureKey(req.headers);
          return key ? { gearopsSignatureKey: key } : {};
        },
      });
  // Bolt refuses stale timestamps only; one dated ahead (a request signed now to be replayed later) is refused too.
  if (receiver)
    receiver.requestListener = refuseUnfreshRequests(receiver.requestListener, (skewS, req) =>
      log.warn(
        { event: 'slack_request_unfresh', skewS, url: req.url },
        'refused a request whose timestamp is missing or more than 5 minutes off (401)',
      ),
    );
  const app = new App({
    token: opts.botToken,
    // Socket Mode: apps.connections.open goes to the same Web API base URL as every other call.
    ...(opts.appToken
      ? {
          socketMode: true,
          appToken: opts.appToken,
          customRoutes: routes,
          installerOptions: { port, clientOptions: { slackApiUrl: clientOptions.slackApiUrl } },
        }
      : { receiver }),
    clientOptions,
    logLevel: LogLevel.WARN,
  });
  const client = app.client;
  const sched = createSlackScheduler(limits, log, opts.metrics ?? noopMetrics);
  const seen = new Map<string, number>();
  const confirms = createConfirmationDesk({
    shared: opts.interactions,
    logger: log,
    pollMs: opts.confirmPollMs,
  });
  const responseOrigins = opts.responseOrigins ?? SLACK_RESPONSE_ORIGINS;
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

  /** Remembers request keys for 10 minutes; false when one was already seen (a Slack retry, or a replay). */
  const firstTime = (keys: readonly string[]) => {
    const now = Date.now();
    for (const [k, t] of seen) if (now - t > 600_000) seen.delete(k);
    if (keys.some((k) => seen.has(k))) return false;
    for (const k of keys) seen.set(k, now);
    return true;
  };

  /**
   * firstTime, and across instances and restarts (the store): a request taken anywhere is not run again. If the
   * store does not answer, this instance's own memory decides (logged: a retry reaching another may run twice).
   */
  const firstEverywhere = async (keys: Array<string | undefined>): Promise<boolean> => {
    const ks = keys.filter((k): k is string => !!k);
    if (!firstTime(ks)) return false;
    if (!opts.interactions) return true;
    try {
      return await opts.interactions.claim(ks);
    } catch (err) {
      log.warn(
        { event: 'slack_claim_failed', err: (err as Error).message },
        'the store did not answer: this request is deduplicated by this instance only',
      );
      return true;
    }
  };

  /**
   * Bolt's respond() for this request if its response_url is on Slack's hosts; else none, and answers go through
   * the Web API (a forged body must not make the bot post to a URL of its choice).
   */
  const respondVia = <R>(url: unknown, respond: R): R | undefined => {
    if (isAllowedResponseUrl(url, responseOrigins)) return respond;
    if (url === undefined) return undefined;
    log.warn(
      { event: 'slack_response_url_refused', origin: originOf(url) },
      'response_url is not on an allowed origin: answering through the Web API instead',
    );
    return undefined;
  };

  const sink: ChatSink = {
    async post(channel, msg, o) {
      const r = await sched.paced(channel, 'chat.postMessage', () =>
        client.chat.postMessage({
          channel,
          // Rendered as the call leaves: a message that changed while waiting its turn goes out as it is now.
          ...renderSlack(o?.latest?.() ?? msg),
          ...(o?.threadTs ? { thread_ts: o.threadTs } : {}),
          unfurl_links: false,
        } as never),
      );
      return { channel: (r as { channel?: string }).channel ?? channel, ts: String((r as { ts?: string }).ts) };
    },
    async update(ref, msg) {
      await sched.update(`${ref.channel}/${ref.ts}`, ref.channel, () =>
        client.chat.update({ channel: ref.channel, ts: ref.ts, ...renderSlack(msg) } as never),
      );
    },
    async upload(ref, file: ChatFile) {
      await sched.paced(ref.channel, 'files.uploadV2', () =>
        client.filesUploadV2({
          channel_id: ref.channel,
          thread_ts: ref.ts,
          filename: file.filename,
          title: file.title ?? file.filename,
          content: typeof file.content === 'string' ? file.content : file.content.toString('utf8'),
          ...(file.comment ? { initial_comment: file.comment } : {}),
        } as never),
      );
    },
  };

  function replyFor(
    channel: string,
    user: string,
    respond: ((m: Record<string, unknown>) => Promise<unknown>) | undefined,
    threadTs?: string,
  ): Reply {
    return {
      channel,
      async ephemeral(msg) {
        const body = renderSlack(msg);
        if (respond) {
          try {
            await respond({ response_type: 'ephemeral', replace_original: false, ...body });
            return;
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'response_url failed; falling back to chat.postEphemeral');
          }
        }
        await sched.paced(channel, 'chat.postEphemeral', () =>
          client.chat.postEphemeral({ channel, user, ...body } as never),
        );
      },
      post: (msg, o) => sink.post(channel, msg, { ...o, threadTs: o?.threadTs ?? threadTs }),
      update: (ref, msg) => sink.update(ref, msg),
      upload: (ref, file) => sink.upload(ref, file),
      async confirm(question: ChatMessage, o) {
        const { id, answer } = await confirms.ask(user, o?.timeoutMs ?? opts.confirmTimeoutMs ?? 120_000);
        await this.ephemeral({
          text: question.text,
          blocks: [
            ...(question.blocks ?? [{ type: 'text', text: question.text }]),
            {
              type: 'buttons',
              buttons: [
                { actionId: 'gearops.confirm.yes', label: o?.yesLabel ?? 'Yes', value: id, style: 'danger' },
                { actionId: 'gearops.confirm.no', label: 'Cancel', value: id },
              ],
            },
          ],
        });
        return answer;
      },
    };
  }

  app.command(/.*/, async ({ command, ack, respond, context, body }) => {
    await ack();
    const key = `${body.team_id ?? ''}/${command.channel_id}/${command.user_id}/${command.trigger_id}`;
    if (!(await firstEverywhere([key, signed(context)]))) {
      log.info(
        { event: 'slack_retry_ignored', retryNum: context.retryNum, command: command.command },
        'retry of an accepted command: not run again',
      );
      return;
    }
    // Run after the ack: Slack gets its answer within its 3 s whatever the job (or a group lookup) does.
    setImmediate(() => {
      void directory
        .groupsOf(command.user_id)
        .then((groups) => {
          const principal: Principal = {
            userId: command.user_id,
            userName: command.user_name,
            channelId: command.channel_id,
            groups,
            roles: [],
          };
          return opts.router.dispatch({
            command: command.command.replace(/^\//, ''),
            text: command.text ?? '',
            principal,
            reply: replyFor(
              command.channel_id,
              command.user_id,
              respondVia(command.response_url, (m: Record<string, unknown>) => respond(m as never)),
            ),
            source: 'slack',
            requestId: command.trigger_id || randomUUID(),
          });
        })
        .catch((err) => log.error({ err }, 'command failed'));
    });
  });

  app.action(/.*/, async ({ ack, body, action, respond: boltRespond, context }) => {
    await ack();
    const respond = respondVia((body as { response_url?: unknown }).response_url, boltRespond);
    const b = body as {
      user: { id: string; name?: string };
      channel?: { id: string };
      message?: { ts: string; thread_ts?: string };
      container?: { message_ts?: string; channel_id?: string };
    };
    const a = action as { action_id: string; value?: string; action_ts?: string };
    const channel = b.channel?.id ?? b.container?.channel_id ?? '';
    if (a.action_id === 'gearops.confirm.yes' || a.action_id === 'gearops.confirm.no') {
      if (!(await firstEverywhere([signed(context)]))) return;
      const yes = a.action_id === 'gearops.confirm.yes';
      const r = await confirms.press(a.value ?? '', b.user.id, yes);
      if (!r.taken)
        log.info({ event: 'slack_confirm_refused', user: b.user.id, reason: r.text }, 'confirmation press refused');
      // A press that counted replaces the question; a refused one is told why, the question stays.
      const answer = { response_type: 'ephemeral', replace_original: r.taken, ...renderSlack(textMessage(r.text)) };
      await (respond ? respond(answer as never) : Promise.reject(new Error('no response_url'))).catch(() =>
        sched
          .paced(channel, 'chat.postEphemeral', () =>
            client.chat.postEphemeral({ channel, user: b.user.id, ...renderSlack(textMessage(r.text)) } as never),
          )
          .catch((err: Error) =>
            log.warn({ err: err.message }, 'the answer to a confirmation press was not delivered'),
          ),
      );
      return;
    }
    const actionKey = `action/${b.user.id}/${a.action_id}/${a.action_ts ?? ''}/${b.message?.ts ?? ''}`;
    if (!(await firstEverywhere([actionKey, signed(context)]))) return;
    const ref: MessageRef = { channel, ts: b.message?.ts ?? b.container?.message_ts ?? '' };
    setImmediate(() => {
      void directory
        .groupsOf(b.user.id)
        .then((groups) =>
          opts.router.dispatchAction({
            actionId: a.action_id,
            value: a.value ?? '',
            principal: { userId: b.user.id, userName: b.user.name, channelId: channel, groups, roles: [] },
            message: ref,
            threadTs: b.message?.thread_ts ?? ref.ts,
            reply: replyFor(
              channel,
              b.user.id,
              respond && ((m: Record<string, unknown>) => respond(m as never)),
              b.message?.thread_ts ?? ref.ts,
            ),
            source: 'slack',
            requestId: randomUUID(),
          }),
        )
        .catch((err) => log.error({ err }, 'button failed'));
    });
  });

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

/** The signed request's key Bolt's context carries in HTTP mode (see customPropertiesExtractor). */
function signed(context: Record<string, unknown>): string | undefined {
  return typeof context.gearopsSignatureKey === 'string' ? context.gearopsSignatureKey : undefined;
}

/** The origin of a URL for the log (never the whole URL: a response_url is a credential for its request). */
function originOf(url: unknown): string {
  try {
    return typeof url === 'string' ? new URL(url).origin : typeof url;
  } catch {
    return 'not a URL';
  }
}
