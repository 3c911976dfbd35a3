import { describe, expect, it } from 'vitest';
import { createConfirmationDesk } from '../../../src/chat/slack/confirmations.js';
import { showMentions } from '../../../src/core/message.js';
import { createSilentLogger } from '../../../src/log.js';
import { createMemoryInteractions } from '../fakes/ports.js';

const logger = createSilentLogger();
/** Two instances' desks on one store. */
function twoInstances(store = createMemoryInteractions()) {
  return {
    store,
    a: createConfirmationDesk({ shared: store, logger, pollMs: 10 }),
    b: createConfirmationDesk({ shared: store, logger, pollMs: 10, takeWaitMs: 2_000 }),
  };
}

describe('confirmations across instances', () => {
  it('takes a press that reaches the other instance, once', async () => {
    const { a, b } = twoInstances();
    const q = await a.ask('UASK', 60_000);
    expect(await b.press(q.id, 'UASK', true)).toEqual({ text: 'Confirmed.', taken: true });
    expect(await q.answer).toBe(true);
    expect(await b.press(q.id, 'UASK', true)).toMatchObject({ taken: false, text: /already answered/ });
    expect(await a.press(q.id, 'UASK', false)).toMatchObject({ taken: false, text: /already answered/ });
  });

  it("refuses someone else's press on either instance, with whom the question is for", async () => {
    const { a, b } = twoInstances();
    const q = await a.ask('UASK', 60_000);
    for (const desk of [a, b]) {
      const r = await desk.press(q.id, 'UOTHER', true);
      expect(r.taken).toBe(false);
      expect(showMentions(r.text)).toBe('Only <@UASK> can answer this question; your press changed nothing.');
    }
    // The asker still can.
    expect(await a.press(q.id, 'UASK', false)).toEqual({ text: 'Cancelled.', taken: true });
    expect(await q.answer).toBe(false);
  });

  it('refuses a press after the question expired, and the asker reads "no"', async () => {
    let t = 1_000_000;
    const { a, b } = twoInstances(createMemoryInteractions({ now: () => t }));
    const q = await a.ask('UASK', 50);
    expect(await q.answer).toBe(false);
    t += 100;
    expect(await b.press(q.id, 'UASK', true)).toMatchObject({ taken: false, text: /expired before your answer/ });
  });

  it('refuses a stale press that no instance knows (asked before a restart without a store)', async () => {
    const alone = createConfirmationDesk({ logger });
    expect(await alone.press('no-such-id', 'UASK', true)).toMatchObject({ taken: false, text: /no longer open/ });
  });

  it('says so when the press was recorded but the asking instance never takes it (it stopped)', async () => {
    const store = createMemoryInteractions();
    const b = createConfirmationDesk({ shared: store, logger, pollMs: 10, takeWaitMs: 100 });
    await store.openConfirmation('q-of-a-gone-instance', 'UASK', 60_000);
    expect(await b.press('q-of-a-gone-instance', 'UASK', true)).toMatchObject({
      taken: false,
      text: /recorded, but the bot instance that asked has not taken it/,
    });
  });

  it('decides alone when the store does not answer', async () => {
    const store = createMemoryInteractions();
    const a = createConfirmationDesk({ shared: store, logger, pollMs: 10 });
    store.failing = true;
    const q = await a.ask('UASK', 60_000);
    expect(await a.press(q.id, 'UOTHER', true)).toMatchObject({ taken: false });
    expect(await a.press(q.id, 'UASK', true)).toEqual({ text: 'Confirmed.', taken: true });
    expect(await q.answer).toBe(true);
  });
});
