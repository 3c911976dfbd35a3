/**
 * The Bolt app itself, in either mode: HTTP (a receiver that checks Slack's signature, refuses requests dated too
 * far from now, and hands the signed request's key on for deduplication) or Socket Mode; GET /healthz, and
 * GET /metrics when asked, on the same port in both.
 */
import type { ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { Logger } from '../../log.js';
import { refuseUnfreshRequests, signatureKey } from './requests.js';
import { metricsRoute } from './metrics-route.js';

/** The Slack API client of a Bolt app (Web API calls). */
export type SlackClient = App['client'];

/** What the Bolt app is made from (a subset of the bot's options). */
export interface BoltAppOptions {
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  port: number;
  apiUrl?: string;
  health?: () => Promise<{ ok: boolean; detail: Record<string, unknown> }>;
  metricsText?: () => Promise<{ contentType: string; body: string }>;
}

/** GET /healthz: 200 or 503 with the health detail as JSON. */
function healthRoute(health: BoltAppOptions['health']) {
  return {
    path: '/healthz',
    method: ['GET'],
    handler: (_req: unknown, res: ServerResponse) => {
      void (health?.() ?? Promise.resolve({ ok: true, detail: {} })).then(
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
}

/** Creates the Bolt app (not started): Socket Mode when an app token is given, else HTTP on `opts.port`. */
export function createBoltApp(opts: BoltAppOptions, log: Logger): App {
  const clientOptions = {
    slackApiUrl: opts.apiUrl ?? 'https://slack.com/api/',
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
  };
  // GET /healthz in both modes (in Socket Mode Bolt serves custom routes on PORT too).
  const routes = [healthRoute(opts.health), ...(opts.metricsText ? [metricsRoute(opts.metricsText)] : [])];
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
  return new App({
    token: opts.botToken,
    // Socket Mode: apps.connections.open goes to the same Web API base URL as every other call.
    ...(opts.appToken
      ? {
          socketMode: true,
          appToken: opts.appToken,
          customRoutes: routes,
          installerOptions: { port: opts.port, clientOptions: { slackApiUrl: clientOptions.slackApiUrl } },
        }
      : { receiver }),
    clientOptions,
    logLevel: LogLevel.WARN,
  });
}
