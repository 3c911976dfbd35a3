/**
 * What the Slack transport checks of a request before anything runs: that it is fresh (Bolt refuses stale
 * timestamps only, not ones dated ahead), the keys under which it is taken once, and which response_urls the bot
 * may post to (a forged or replayed body could name any URL).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** How far a signed request's timestamp may be from now, either way (Slack's own advice: 5 minutes). */
export const MAX_REQUEST_SKEW_S = 300;

/** Where Slack's response_urls live (slash commands and interactivity); configurable for tests. */
export const SLACK_RESPONSE_ORIGINS = ['https://hooks.slack.com', 'https://hooks.slack-gov.com'] as const;

/** Seconds between a request's x-slack-request-timestamp and now, or null when it has none that parses. */
export function requestSkewS(header: string | string[] | undefined, nowMs = Date.now()): number | null {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw || !/^\d{1,12}$/.test(raw)) return null;
  return Math.abs(nowMs / 1000 - Number(raw));
}

/**
 * Wraps an HTTP request listener so that a POST whose timestamp is missing or more than `maxSkewS` off is
 * answered 401 before Bolt (or anything else) sees it.
 */
export function refuseUnfreshRequests(
  inner: (req: IncomingMessage, res: ServerResponse) => void,
  onRefused: (skewS: number | null, req: IncomingMessage) => void,
  maxSkewS = MAX_REQUEST_SKEW_S,
  now: () => number = Date.now,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method === 'POST') {
      const skew = requestSkewS(req.headers['x-slack-request-timestamp'], now());
      if (skew === null || skew > maxSkewS) {
        onRefused(skew, req);
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end('request timestamp missing or more than 5 minutes off\n');
        return;
      }
    }
    inner(req, res);
  };
}

/** The key of a signed HTTP request: the same bytes sent again (a replay) carry the same timestamp and signature. */
export function signatureKey(headers: IncomingMessage['headers']): string | undefined {
  const ts = headers['x-slack-request-timestamp'];
  const sig = headers['x-slack-signature'];
  return typeof ts === 'string' && typeof sig === 'string' ? `sig/${ts}/${sig}` : undefined;
}

/** True when `url` is a response_url on one of `origins` (scheme, host and port compared exactly). */
export function isAllowedResponseUrl(url: unknown, origins: readonly string[]): boolean {
  if (typeof url !== 'string') return false;
  try {
    return origins.includes(new URL(url).origin);
  } catch {
    return false;
  }
}
