/**
 * Per-host job cap: at most N jobs run at once on one host; the rest wait in
 * line, and the caller is told so it can say so in the channel.
 */
import Bottleneck from 'bottleneck';

/** Schedules work per host with a concurrency cap. */
export interface HostLimiter {
  /** Runs `fn` when `host` has a free slot; `onQueued(position)` is called first if it must wait. */
  schedule<T>(host: string, fn: () => Promise<T>, onQueued?: (position: number) => void): Promise<T>;
  /** Jobs running and waiting for `host`. */
  load(host: string): { running: number; queued: number };
}

/** Creates a host limiter allowing `maxConcurrent` jobs per host. */
export function createHostLimiter(opts: { maxConcurrent: number }): HostLimiter {
  const group = new Bottleneck.Group({ maxConcurrent: opts.maxConcurrent });
  // Jobs scheduled and not finished, per host, counted here as schedule() is called: Bottleneck moves a job to
  // RUNNING only some ticks later, so its counts missed a job scheduled just before (that one then waited without
  // its requester being told).
  const inFlight = new Map<string, number>();
  const load = (host: string) => {
    const n = inFlight.get(host) ?? 0;
    return { running: Math.min(n, opts.maxConcurrent), queued: Math.max(0, n - opts.maxConcurrent) };
  };
  return {
    load,
    schedule(host, fn, onQueued) {
      const { running, queued } = load(host);
      if (running >= opts.maxConcurrent && onQueued) onQueued(queued + 1);
      inFlight.set(host, (inFlight.get(host) ?? 0) + 1);
      return group
        .key(host)
        .schedule(fn)
        .finally(() => {
          const left = (inFlight.get(host) ?? 1) - 1;
          if (left > 0) inFlight.set(host, left);
          else inFlight.delete(host);
        });
    },
  };
}
