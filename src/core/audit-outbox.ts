/**
 * The audit trail survives a store outage: a row that cannot be written is
 * kept, in order, and written once the store answers again, with the time it
 * happened. Commands never wait for it and never fail for it (on-call work
 * goes on while the "common" database is down); every row is in the log at
 * once either way, and what is still unwritten at shutdown is logged in full.
 */
import type { Logger } from '../log.js';
import type { AuditEntry, AuditStore } from './ports/store.js';

/** Options of the outbox. */
export interface AuditOutboxOptions {
  /** First retry after this long; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Rows kept at most while the store is down; beyond it the oldest go (each logged in full). */
  maxRows?: number;
  now?: () => number;
}

/** An AuditStore that never loses a row to a passing outage. */
export interface AuditOutbox extends AuditStore {
  /** Rows waiting for the store. */
  pending(): number;
  /** Tries once more to write what waits; logs what is still left. */
  close(): Promise<void>;
}

/**
 * Wraps `store` with a retry queue. Over 80 lines as a factory: its methods share the retry queue and its timer; each is short.
 */
export function createAuditOutbox(store: AuditStore, logger: Logger, opts: AuditOutboxOptions = {}): AuditOutbox {
  const retryMs = opts.retryMs ?? 1000;
  const maxRetryMs = opts.maxRetryMs ?? 30_000;
  const maxRows = opts.maxRows ?? 10_000;
  const now = opts.now ?? Date.now;
  const queue: Array<{ entry: AuditEntry; at: number }> = [];
  let timer: NodeJS.Timeout | null = null;
  let delay = retryMs;
  let flushing: Promise<void> | null = null;
  let closed = false;

  const write = (q: { entry: AuditEntry; at: number }) =>
    store.record({ ...q.entry, ageMs: Math.max(0, now() - q.at) });

  async function flush(): Promise<void> {
    while (queue.length) {
      try {
        await write(queue[0]!);
      } catch (err) {
        schedule();
        logger.warn(
          { event: 'audit_waiting', pending: queue.length, err: (err as Error).message, retryInMs: delay },
          'store unavailable: audit rows wait',
        );
        return;
      }
      queue.shift();
      delay = retryMs;
      if (!queue.length) logger.info({ event: 'audit_caught_up' }, 'audit rows written after the store came back');
    }
  }

  function schedule(): void {
    if (timer || closed) return;
    const wait = delay;
    delay = Math.min(delay * 2, maxRetryMs);
    timer = setTimeout(() => {
      timer = null;
      flushing ??= flush().finally(() => (flushing = null));
    }, wait);
    timer.unref();
  }

  function enqueue(entry: AuditEntry, at: number): void {
    queue.push({ entry, at });
    while (queue.length > maxRows)
      logger.error(
        { event: 'audit_dropped', entry: queue.shift()!.entry },
        'audit outbox full: the oldest row is only in this log',
      );
    schedule();
  }

  return {
    async record(entry) {
      const at = now();
      // Keep order: while rows wait, new ones queue behind them.
      if (queue.length) return enqueue(entry, at);
      try {
        await store.record(entry);
      } catch (err) {
        logger.warn(
          { event: 'audit_deferred', err: (err as Error).message },
          'audit row could not be written now; it waits for the store',
        );
        enqueue(entry, at);
      }
    },
    recent: (limit) => store.recent(limit),
    pending: () => queue.length,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await flushing;
      if (queue.length) await flush();
      for (const q of queue)
        logger.error(
          { event: 'audit_unwritten', entry: q.entry, at: new Date(q.at).toISOString() },
          'audit row not written before shutdown (the store did not answer)',
        );
    },
  };
}
