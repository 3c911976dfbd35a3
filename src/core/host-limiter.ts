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
  const load = (host: string) => {
    const counts = group.key(host).counts();
    return { running: counts.RUNNING + counts.EXECUTING, queued: counts.QUEUED + counts.RECEIVED };
  };
  return {
    load,
    schedule(host, fn, onQueued) {
      const limiter = group.key(host);
      const { running, queued } = load(host);
      if (running >= opts.maxConcurrent && onQueued) onQueued(queued + 1);
      return limiter.schedule(fn);
    },
  };
}
