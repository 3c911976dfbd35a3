/**
 * Every Web API call goes through here: one chat.postMessage per second per
 * channel, chat.update coalesced per message (the latest content wins), a
 * global concurrency cap, and 429s waited out for their Retry-After and
 * retried — no message is dropped.
 */
import { channelMention } from '../../core/message.js';
import Bottleneck from 'bottleneck';
import type { Logger } from '../../log.js';
import { ErrorCode, GearopsError } from '../../errors.js';
import { noopMetrics, type Metrics } from '../../core/ports/metrics.js';

/** Pace and retry settings. */
export interface SlackLimits {
  perChannelMinMs: number;
  maxConcurrent: number;
  /** Attempts of one call on 429 or a passing network error. */
  maxAttempts: number;
  /** Used when a 429 carries no Retry-After. */
  defaultRetryAfterMs: number;
}

/** Named presets: default for Slack, fast for tests. */
export const SLACK_LIMIT_PRESETS: Record<'default' | 'fast', SlackLimits> = {
  default: { perChannelMinMs: 1000, maxConcurrent: 8, maxAttempts: 10, defaultRetryAfterMs: 1000 },
  fast: { perChannelMinMs: 100, maxConcurrent: 8, maxAttempts: 5, defaultRetryAfterMs: 100 },
};

/** The shape of the Web API client's errors that this module reads. */
interface WebApiError {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string };
  message?: string;
}

/** What the limiter needs to know of a failed call: a 429, a dropped connection and a 5xx pass; the rest do not. */
function retryAfterOf(err: unknown, fallbackMs: number): number | null {
  const e = err as WebApiError;
  if (e?.code === 'slack_webapi_rate_limited_error') return (e.retryAfter ?? fallbackMs / 1000) * 1000;
  if (e?.code === 'slack_webapi_request_error') return fallbackMs;
  if (e?.code === 'slack_webapi_http_error' && (e.statusCode ?? 0) >= 500) return fallbackMs;
  return null;
}

/** True when Slack answered 429 (as the Web API client reports it). */
function isRateLimited(err: unknown): boolean {
  return (err as { code?: string })?.code === 'slack_webapi_rate_limited_error';
}

/** What a person can do about a failed call in `channel`, by Slack's error (null: nothing to advise). */
function adviceFor(e: WebApiError, channel: string | undefined, attempts: number): string | null {
  // The bot's own channel link (a token only the renderer turns into <#C…>): escaped text could not make one.
  const where = channel ? channelMention(channel) : 'this channel';
  switch (e?.data?.error) {
    case 'not_in_channel':
      return `the bot is not a member of ${where}: invite it with \`/invite @gearops\``;
    case 'channel_not_found':
      return (
        `the bot cannot see ${where} (a private channel or a conversation it was not added to): ` +
        'invite it with `/invite @gearops`, or run the command in a channel the bot is in'
      );
    case 'is_archived':
      return `${where} is archived: run the command in another channel`;
  }
  if (e?.code === 'slack_webapi_http_error')
    return `Slack answered HTTP ${e.statusCode ?? '?'} (${attempts} attempt(s)); try again in a moment`;
  if (e?.code === 'slack_webapi_request_error')
    return `Slack could not be reached (${attempts} attempt(s)); try again in a moment`;
  return null;
}

/**
 * Translates a Slack error (the one place). The message names Slack's error and, where one helps, what to do;
 * data.slackError keeps Slack's code and data.advice the advice alone.
 */
export function toSlackError(
  err: unknown,
  method: string,
  ctx: { channel?: string; attempts?: number } = {},
): GearopsError {
  if (err instanceof GearopsError) return err;
  const e = err as WebApiError;
  const what = e?.data?.error ?? (e?.statusCode ? `HTTP ${e.statusCode}` : (e?.message ?? String(err)));
  const advice = adviceFor(e, ctx.channel, ctx.attempts ?? 1);
  return new GearopsError(ErrorCode.Slack, `Slack ${method} failed: ${what}${advice ? ` — ${advice}` : ''}`, {
    cause: err,
    data: { method, slackError: e?.data?.error ?? e?.code ?? null, channel: ctx.channel, advice },
  });
}

/** The error of a call made after stop(): the bot is going down and sends nothing more. */
function stoppedError(method: string): GearopsError {
  return new GearopsError(ErrorCode.Cancelled, `Slack ${method} not sent: the bot is shutting down`, {
    data: { method },
  });
}

/** Creates the call scheduler. */
export function createSlackScheduler(limits: SlackLimits, logger: Logger, metrics: Metrics = noopMetrics) {
  const global = new Bottleneck({ maxConcurrent: limits.maxConcurrent });
  const perChannel = new Bottleneck.Group({ maxConcurrent: 1, minTime: limits.perChannelMinMs });
  const pendingUpdates = new Map<
    string,
    { run: () => Promise<unknown>; waiters: Array<{ resolve(): void; reject(e: unknown): void }> }
  >();

  let stopped = false;

  async function withRetry<T>(method: string, fn: () => Promise<T>, channel?: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (stopped) throw stoppedError(method);
      try {
        const r = await global.schedule(fn);
        metrics.slackCall(method, 'ok');
        return r;
      } catch (err) {
        metrics.slackCall(method, isRateLimited(err) ? 'ratelimited' : 'error');
        // Bottleneck's own "This limiter has been stopped": said in our words, never left unexplained.
        if (stopped) throw stoppedError(method);
        const wait = retryAfterOf(err, limits.defaultRetryAfterMs);
        if (wait === null || attempt >= limits.maxAttempts)
          throw toSlackError(err, method, { channel, attempts: attempt });
        logger.warn(
          { event: 'slack_retry', method, attempt, waitMs: wait },
          `${method}: rate limited or unreachable; retrying in ${wait} ms`,
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  return {
    /** A channel-paced call (postMessage, postEphemeral, uploads). */
    paced<T>(channel: string, method: string, fn: () => Promise<T>): Promise<T> {
      return perChannel.key(channel).schedule(() => withRetry(method, fn, channel));
    },
    /** An unpaced call that still retries on 429. */
    call<T>(method: string, fn: () => Promise<T>): Promise<T> {
      return withRetry(method, fn);
    },
    /** chat.update of one message: while one is waiting, a newer one replaces it. */
    update(key: string, channel: string, fn: () => Promise<unknown>): Promise<void> {
      const existing = pendingUpdates.get(key);
      return new Promise<void>((resolve, reject) => {
        if (existing) {
          existing.run = fn;
          existing.waiters.push({ resolve, reject });
          return;
        }
        const entry = { run: fn, waiters: [{ resolve, reject }] };
        pendingUpdates.set(key, entry);
        void perChannel
          .key(`update:${channel}`)
          .schedule(async () => {
            pendingUpdates.delete(key);
            return withRetry('chat.update', entry.run, channel);
          })
          .then(
            () => entry.waiters.forEach((w) => w.resolve()),
            (err) => entry.waiters.forEach((w) => w.reject(err)),
          );
      });
    },
    async stop() {
      stopped = true;
      await global.stop({ dropWaitingJobs: false }).catch(() => undefined);
    },
  };
}
