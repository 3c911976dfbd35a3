import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuditOutbox } from '../../../src/core/audit-outbox.js';
import type { AuditEntry, AuditStore } from '../../../src/core/ports/store.js';
import { createSilentLogger } from '../../../src/log.js';

const entry = (text: string): AuditEntry => ({
  source: 'slack',
  userId: 'U1',
  channelId: 'C1',
  command: 'run',
  text,
  decision: 'allow',
  status: 'ok',
});

/** A store that is down while `down` is true. */
function flakyStore() {
  const rows: AuditEntry[] = [];
  const state = { down: false, calls: 0 };
  const store: AuditStore = {
    async record(e) {
      state.calls++;
      if (state.down) throw new Error('connect ECONNREFUSED');
      rows.push(e);
    },
    recent: async () => [],
  };
  return { store, rows, state };
}

describe('audit outbox', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes straight through while the store answers', async () => {
    const { store, rows } = flakyStore();
    const o = createAuditOutbox(store, createSilentLogger());
    await o.record(entry('a'));
    expect(rows.map((r) => r.text)).toEqual(['a']);
    expect(rows[0]!.ageMs).toBeUndefined();
    expect(o.pending()).toBe(0);
  });

  it('keeps rows while the store is down, in order, and writes them with their age once it is back', async () => {
    vi.useFakeTimers();
    let t = 1_000_000;
    const { store, rows, state } = flakyStore();
    const o = createAuditOutbox(store, createSilentLogger(), { retryMs: 100, maxRetryMs: 400, now: () => t });
    state.down = true;
    await o.record(entry('a'));
    t += 50;
    await o.record(entry('b'));
    expect(o.pending()).toBe(2);
    // Retries back off: 100, 200, 400, 400 ms.
    const before = state.calls;
    await vi.advanceTimersByTimeAsync(100);
    await vi.advanceTimersByTimeAsync(200);
    expect(state.calls - before).toBe(2);
    state.down = false;
    t += 5000;
    // While rows wait, a new one queues behind them (order is kept).
    await o.record(entry('c'));
    expect(rows).toEqual([]);
    await vi.advanceTimersByTimeAsync(400);
    expect(rows.map((r) => r.text)).toEqual(['a', 'b', 'c']);
    expect(rows[0]!.ageMs).toBe(5050);
    expect(rows[1]!.ageMs).toBe(5000);
    expect(rows[2]!.ageMs).toBe(0);
    expect(o.pending()).toBe(0);
    await o.close();
  });

  it('drops the oldest row beyond maxRows (logged in full), and logs what is still unwritten at close', async () => {
    const { store, rows, state } = flakyStore();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createSilentLogger();
    const spy = vi
      .spyOn(logger, 'error')
      .mockImplementation(((o: Record<string, unknown>) => void lines.push(o)) as never);
    const o = createAuditOutbox(store, logger, { retryMs: 60_000, maxRows: 2 });
    state.down = true;
    for (const x of ['a', 'b', 'c']) await o.record(entry(x));
    expect(o.pending()).toBe(2);
    expect(lines.filter((l) => l.event === 'audit_dropped').map((l) => (l.entry as AuditEntry).text)).toEqual(['a']);
    await o.close();
    expect(lines.filter((l) => l.event === 'audit_unwritten').map((l) => (l.entry as AuditEntry).text)).toEqual([
      'b',
      'c',
    ]);
    expect(rows).toEqual([]);
    spy.mockRestore();
  });

  it('writes what waits at close when the store is back by then', async () => {
    const { store, rows, state } = flakyStore();
    const o = createAuditOutbox(store, createSilentLogger(), { retryMs: 60_000 });
    state.down = true;
    await o.record(entry('a'));
    state.down = false;
    await o.close();
    expect(rows.map((r) => r.text)).toEqual(['a']);
  });
});
