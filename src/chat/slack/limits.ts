/**
 * Every Web API call goes through here: one chat.postMessage per second per
 * channel, chat.update coalesced per message (the latest content wins), a
 * global concurrency cap, and 429s waited out for their Retry-After and
 * retried — no message is dropped.
 */
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

/** What the limiter needs to know of a failed call. */
function retryAfterOf(err: unknown, fallbackMs: number): number | null {
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string } };
  if (e?.code === 'slack_webapi_rate_limited_error') return (e.retryAfter ?? fallbackMs / 1000) * 1000;
  if (e?.code === 'slack_webapi_request_error') return fallbackMs;
  return null;
}

/** True when Slack answered 429 (as the Web API client reports it). */
function isRateLimited(err: unknown): boolean {
  return (err as { code?: string })?.code === 'slack_webapi_rate_limited_error';
}

/** Translates a Slack error (the one place). */
export function toSlackError(err: unknown, method: string): GearopsError {
  if (err instanceof GearopsError) return err;
  const e = err as { code?: string; data?: { error?: string }; message?: string };
  return new GearopsError(ErrorCode.Slack, `Slack ${method} failed: ${e?.data?.error ?? e?.message ?? String(err)}`, {
    cause: err,
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

  async function withRetry<T>(method: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await global.schedule(fn);
        metrics.slackCall(method, 'ok');
        return r;
      } catch (err) {
        metrics.slackCall(method, isRateLimited(err) ? 'ratelimited' : 'error');
        const wait = retryAfterOf(err, limits.defaultRetryAfterMs);
        if (wait === null || attempt >= limits.maxAttempts) throw toSlackError(err, method);
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
      return perChannel.key(channel).schedule(() => withRetry(method, fn));
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
            return withRetry('chat.update', entry.run);
          })
          .then(
            () => entry.waiters.forEach((w) => w.resolve()),
            (err) => entry.waiters.forEach((w) => w.reject(err)),
          );
      });
    },
    async stop() {
      await global.stop({ dropWaitingJobs: false }).catch(() => undefined);
    },
  };
}
