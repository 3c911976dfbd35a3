/** The ChatSink contract against the console adapter and the recording sink the integration tests use. */
import { createConsoleChat } from '../../../src/chat/console/console-chat.js';
import type { ChatSink } from '../../../src/core/ports/chat.js';
import { createRecordingSink } from '../../helpers/fleet.js';
import { chatSinkConformance, type ChatSinkHarness } from './chat-sink-conformance.js';

// The console: what it printed for each call is what the person sees for that message.
chatSinkConformance('console adapter', (): ChatSinkHarness => {
  let last = '';
  const { sink: real } = createConsoleChat({ out: (s) => (last = s) });
  const shown = new Map<string, { text: string; threadTs?: string }>();
  const strip = (s: string) => s.replace(/^\[#[^\]]*\] /gm, '');
  const sink: ChatSink = {
    async post(channel, msg, o) {
      const ref = await real.post(channel, msg, o);
      const thread = /^\[#\S+ thread (\S+)\]/.exec(last)?.[1];
      shown.set(ref.ts, { text: strip(last), ...(thread ? { threadTs: thread } : {}) });
      return ref;
    },
    async update(ref, msg) {
      await real.update(ref, msg);
      const before = shown.get(ref.ts);
      shown.set(ref.ts, { ...before, text: strip(last) });
    },
    upload: (ref, file) => real.upload(ref, file),
  };
  return { sink, shown: (ref) => shown.get(ref.ts) };
});

// The fake: integration tests read alerts and pool announcements from it.
chatSinkConformance('recording sink (test/helpers/fleet.ts)', (): ChatSinkHarness => {
  const sink = createRecordingSink();
  return {
    sink,
    shown(ref) {
      const post = sink.posts.find((p) => p.ref.ts === ref.ts);
      if (!post) return undefined;
      const updated = sink.updates.filter((u) => u.ref.ts === ref.ts).at(-1);
      return { text: updated?.text ?? post.text, ...(post.threadTs ? { threadTs: post.threadTs } : {}) };
    },
  };
});
