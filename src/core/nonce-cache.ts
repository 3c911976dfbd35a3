/**
 * Replay protection on the worker: the job nonces seen inside the freshness window, each bound to the job-server
 * hand-out it came with, optionally kept across restarts.
 */
import { DEFAULT_MAX_AGE_MS } from './envelope.js';

/** Where a NonceCache keeps what it saw across restarts (the worker's state file); none: memory only. */
export interface NonceStore {
  /** Entries saved earlier and not expired yet. */
  load(now: number): Array<{ id: string; expires: number; binding: string }>;
  append(entry: { id: string; expires: number; binding: string }): void;
  /** Replaces everything saved with these entries (the live ones), so the file does not grow for ever. */
  rewrite(entries: Array<{ id: string; expires: number; binding: string }>): void;
}

/**
 * Remembers job nonces long enough to refuse a replay inside the freshness window. Each is bound to the
 * job-server hand-out it came with (`server|instance|handle`, the instance naming one run of gearmand, since a
 * restarted gearmand numbers handles from 1 again): gearmand handing the same job out again — to another
 * connection after one dropped, or to this worker restarted after a crash — has the same handle, and is not
 * a replay; anyone sending a captured job again gets a new handle, and is. With a store, what was seen
 * outlives a restart, so a worker that just came back refuses a replay too.
 */
export class NonceCache {
  private readonly seen = new Map<string, { expires: number; binding: string }>();
  private appended = 0;
  constructor(
    private readonly ttlMs: number = 2 * DEFAULT_MAX_AGE_MS,
    private readonly max = 100_000,
    private readonly store?: NonceStore,
  ) {
    for (const e of store?.load(Date.now()) ?? []) this.seen.set(e.id, { expires: e.expires, binding: e.binding });
  }

  /**
   * Records `id` as handed out by `binding`. 'new' the first time; 'again' for the same hand-out seen before
   * (gearmand re-handing the job); 'replay' for the same id from anywhere else (or with no binding).
   */
  check(id: string, binding = '', now = Date.now()): 'new' | 'again' | 'replay' {
    this.prune(now);
    const prior = this.seen.get(id);
    if (prior) return binding !== '' && prior.binding === binding ? 'again' : 'replay';
    if (this.seen.size >= this.max) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    const entry = { expires: now + this.ttlMs, binding };
    this.seen.set(id, entry);
    if (this.store) {
      this.store.append({ id, ...entry });
      // Now and then the saved record is cut back to the live entries.
      if (++this.appended > Math.max(1000, 2 * this.seen.size)) {
        this.appended = 0;
        this.store.rewrite([...this.seen].map(([i, e]) => ({ id: i, ...e })));
      }
    }
    return 'new';
  }

  /** Records `id`; returns false when it was already seen (whatever its hand-out). */
  remember(id: string, now = Date.now()): boolean {
    return this.check(id, '', now) === 'new';
  }

  private prunedAt = -Infinity;

  /** Drops expired entries: a whole sweep, at most once a second (entries loaded from a store need not be in expiry order). */
  private prune(now: number): void {
    if (now - this.prunedAt < 1000 && this.seen.size < this.max) return;
    this.prunedAt = now;
    for (const [id, e] of this.seen) if (e.expires <= now) this.seen.delete(id);
  }
}
