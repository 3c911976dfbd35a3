/**
 * A ChatSink whose target is attached later: the router needs a sink for
 * announcements before the Slack app (which owns the real one) exists.
 */
import type { ChatSink } from '../core/ports/chat.js';
import { ErrorCode, GearopsError } from '../errors.js';

/** A sink that forwards to whatever `attach()` was given. */
export interface DeferredSink extends ChatSink {
  attach(target: ChatSink): void;
}

/** Creates a sink that fails clearly until a target is attached. */
export function createDeferredSink(): DeferredSink {
  let target: ChatSink | null = null;
  const get = (): ChatSink => {
    if (!target) throw new GearopsError(ErrorCode.Internal, 'chat is not connected yet');
    return target;
  };
  return {
    attach(t) {
      target = t;
    },
    post: (channel, msg, opts) => get().post(channel, msg, opts),
    update: (ref, msg) => get().update(ref, msg),
    upload: (ref, file) => get().upload(ref, file),
  };
}
