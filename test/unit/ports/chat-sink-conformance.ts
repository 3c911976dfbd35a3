/**
 * The ChatSink port's contract, as one suite every implementation runs (bullmq's adapter conformance tests are the
 * model): the real adapters and the fakes other tests use, so a fake cannot drift from what the transports do.
 */
import { describe, expect, it } from 'vitest';
import { textMessage } from '../../../src/core/message.js';
import type { ChatSink, MessageRef } from '../../../src/core/ports/chat.js';

/** An implementation under test, and how its output is read back (what a person would see for a message). */
export interface ChatSinkHarness {
  sink: ChatSink;
  /** The message `ref` as shown now: its latest text, and the thread it is in. */
  shown(ref: MessageRef): { text: string; threadTs?: string } | undefined;
}

/** Runs the contract against `make()` (a fresh implementation per test). */
export function chatSinkConformance(name: string, make: () => ChatSinkHarness): void {
  describe(`ChatSink contract: ${name}`, () => {
    it('posts to the channel asked, and each post gets a ref of its own', async () => {
      const h = make();
      const a = await h.sink.post('CALERTS', textMessage('first'));
      const b = await h.sink.post('CALERTS', textMessage('second'));
      expect(a.channel).toBe('CALERTS');
      expect(a.ts).not.toBe('');
      expect(b.ts).not.toBe(a.ts);
      expect(h.shown(a)?.text).toContain('first');
      expect(h.shown(b)?.text).toContain('second');
    });

    it('posts the message as `latest` gives it when the post leaves, not as it was queued', async () => {
      const h = make();
      const ref = await h.sink.post('C1', textMessage('queued state'), { latest: () => textMessage('final state') });
      expect(h.shown(ref)?.text).toContain('final state');
      expect(h.shown(ref)?.text).not.toContain('queued state');
    });

    it('posts into the thread it is given', async () => {
      const h = make();
      const parent = await h.sink.post('CALERTS', textMessage('the alert'));
      const reply = await h.sink.post('CALERTS', textMessage('what followed'), { threadTs: parent.ts });
      expect(h.shown(reply)).toMatchObject({ threadTs: parent.ts });
      expect(h.shown(parent)?.threadTs).toBeUndefined();
    });

    it("replaces a message's content on update: the latest wins", async () => {
      const h = make();
      const ref = await h.sink.post('C1', textMessage('opened'));
      await h.sink.update(ref, textMessage('grew'));
      await h.sink.update(ref, textMessage('RESOLVED'));
      expect(h.shown(ref)?.text).toContain('RESOLVED');
    });

    it("attaches a file to a posted message's thread without failing", async () => {
      const h = make();
      const ref = await h.sink.post('C1', textMessage('with a file'));
      await expect(h.sink.upload(ref, { filename: 'out.txt', content: 'a\nb\n' })).resolves.toBeUndefined();
    });
  });
}
