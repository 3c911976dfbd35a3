import { describe, expect, it } from 'vitest';
import { createLiveMessage } from '../../../src/core/live-message.js';
import { textMessage } from '../../../src/core/message.js';
import { createSilentLogger } from '../../../src/log.js';
import type { PostOptions, Reply } from '../../../src/core/ports/chat.js';
import { createRecordingReply } from '../fakes/ports.js';

/** A reply whose posts wait until `release()`, as a post waits its turn in a busy channel; reads `latest` then. */
function slowReply() {
  const rec = createRecordingReply();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const reply: Reply = {
    ...rec.reply,
    async post(msg, o?: PostOptions) {
      await gate;
      return rec.reply.post(msg, o);
    },
  };
  return { rec, reply, release };
}

describe('live message', () => {
  it('posts once, with the state current when the post leaves: a finished command needs no update', async () => {
    const { rec, reply, release } = slowReply();
    const live = createLiveMessage({ reply, logger: createSilentLogger() });
    live.show(textMessage('queued'));
    live.show(textMessage('starting…'));
    const done = live.finish(textMessage('exit 0'));
    release();
    expect(await done).toEqual({ channel: 'C1', ts: '100.1' });
    expect(rec.posts.map((p) => p.text)).toEqual(['exit 0']);
    expect(rec.updates).toEqual([]);
  });

  it('updates the one message it posted, never posting a second', async () => {
    const rec = createRecordingReply();
    const live = createLiveMessage({ reply: rec.reply, logger: createSilentLogger() });
    live.show(textMessage('queued: server1 is busy'));
    await new Promise((r) => setImmediate(r));
    live.show(textMessage('starting…'));
    const ref = await live.finish(textMessage('exit 0'));
    expect(rec.posts.map((p) => p.text)).toEqual(['queued: server1 is busy']);
    expect(rec.updates.at(-1)).toEqual({ ref, text: 'exit 0' });
  });

  it('reports a failed post once, and never throws at the caller', async () => {
    const failures: string[] = [];
    const rec = createRecordingReply();
    const reply: Reply = {
      ...rec.reply,
      post: async () => {
        throw new Error('Slack chat.postMessage failed: not_in_channel');
      },
    };
    const live = createLiveMessage({
      reply,
      logger: createSilentLogger(),
      onFailure: (err, stage) => failures.push(`${stage}: ${err.message}`),
    });
    live.show(textMessage('starting…'));
    live.show(textMessage('running'));
    expect(await live.finish(textMessage('exit 0'))).toBeNull();
    expect(failures).toEqual(['post: Slack chat.postMessage failed: not_in_channel']);
  });

  it('reports a failed final update once, and finish() says the channel does not have it', async () => {
    const failures: string[] = [];
    const rec = createRecordingReply();
    const reply: Reply = {
      ...rec.reply,
      update: async () => {
        throw new Error('Slack chat.update failed: HTTP 500');
      },
    };
    const live = createLiveMessage({ reply, logger: createSilentLogger(), onFailure: (e) => failures.push(e.message) });
    live.show(textMessage('starting…'));
    await new Promise((r) => setImmediate(r));
    live.show(textMessage('running'));
    expect(await live.finish(textMessage('exit 0'))).toBeNull();
    expect(failures).toEqual(['Slack chat.update failed: HTTP 500']);
  });
});
