/**
 * Rate-bounded logging of refused frames. A flood of oversized or garbled frames must not become a flood of
 * log lines: the first refusal of an interval is logged at once, the rest are counted, and the next line
 * (at most one per interval) carries the counts since the previous one.
 */
import type { Logger } from '../log.js';

/** One refused frame. */
export interface Refusal {
  server: string;
  reason: string;
  /** The size the frame's header announced, when that was the reason. */
  size?: number;
}

/** Counts refusals and logs one summary line per interval. */
export interface RefusalLog {
  refused(r: Refusal): void;
  /** Logs what was counted since the last line, if anything (on close). */
  flush(): void;
}

/** Creates a refusal log; `now` is injectable so tests can step the interval. */
export function createRefusalLog(opts: { logger: Logger; intervalMs?: number; now?: () => number }): RefusalLog {
  const intervalMs = opts.intervalMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let lastLineAt = -Infinity;
  let count = 0;
  let byReason: Record<string, number> = {};
  let servers = new Set<string>();
  let largest = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const line = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (count === 0) return;
    lastLineAt = now();
    opts.logger.warn(
      {
        event: 'frame_refused',
        count,
        byReason,
        servers: [...servers],
        ...(largest > 0 ? { largestBytes: largest } : {}),
        intervalMs,
      },
      `refused ${count} frame(s) from the job server and closed the connection`,
    );
    count = 0;
    byReason = {};
    servers = new Set();
    largest = 0;
  };

  return {
    refused(r) {
      count++;
      byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
      servers.add(r.server);
      largest = Math.max(largest, r.size ?? 0);
      if (now() - lastLineAt >= intervalMs) line();
      // The counts of a flood that stops are not lost: they go out at the end of the interval.
      else if (!timer) timer = setTimeout(line, Math.max(0, lastLineAt + intervalMs - now())).unref();
    },
    flush: line,
  };
}
