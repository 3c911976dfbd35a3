/**
 * One visible message per command, kept apart from the work it reports on. The first show() posts it; later
 * ones update it. Chat has its own pace (one post per second per channel in Slack), so the work never waits for
 * it: each state replaces the one before, the post goes out with whatever state is current when its turn comes
 * (a command that finished meanwhile is posted once, final), and updates coalesce to the latest. A failed call
 * is reported once, never thrown at the caller.
 */
import type { Logger } from '../log.js';
import type { ChatMessage } from './message.js';
import type { MessageRef, Reply } from './ports/chat.js';

/** A message that follows a command's state. */
export interface LiveMessage {
  /** Makes `msg` the message's state: posted or updated when chat's pace allows; never throws. */
  show(msg: ChatMessage): void;
  /**
   * Shows the final state and resolves once the channel has it: the message's ref, or null when it could not be
   * posted or its final update failed (onFailure has been told why).
   */
  finish(msg: ChatMessage): Promise<MessageRef | null>;
  /** The posted message, once Slack has answered (null before, or when the post failed). */
  ref(): MessageRef | null;
}

/** Options of a live message. */
export interface LiveMessageOptions {
  reply: Reply;
  logger: Logger;
  /** Called at most once, with the first failure that keeps the channel from showing the final state. */
  onFailure?: (err: Error, stage: 'post' | 'update') => void;
  /** Called once the message is posted (e.g. to journal where it is). */
  onPosted?: (ref: MessageRef) => void;
}

/** Creates a live message in the reply's channel (nothing is posted before the first show()). */
export function createLiveMessage(opts: LiveMessageOptions): LiveMessage {
  let current: ChatMessage | null = null;
  // The state the channel has (or will have once the call in flight lands).
  let sent: ChatMessage | null = null;
  let posted: MessageRef | null = null;
  let posting: Promise<MessageRef | null> | null = null;
  let updating: Promise<boolean> = Promise.resolve(true);
  let failed = false;

  const fail = (err: unknown, stage: 'post' | 'update') => {
    opts.logger.warn({ event: 'chat_failed', stage, err: (err as Error).message }, `message ${stage} failed`);
    if (failed) return;
    failed = true;
    opts.onFailure?.(err as Error, stage);
  };

  const sendUpdate = (): Promise<boolean> => {
    const ref = posted;
    const msg = current;
    if (!ref || !msg || msg === sent || failed) return updating;
    sent = msg;
    // Updates to one message coalesce in the transport: only the latest waiting one is sent.
    updating = opts.reply.update(ref, msg).then(
      () => true,
      (err) => {
        fail(err, 'update');
        return false;
      },
    );
    return updating;
  };

  return {
    show(msg) {
      current = msg;
      if (!posting) {
        // A transport that ignores `latest` posts `msg`; one that reads it says what it sent.
        sent = msg;
        posting = opts.reply
          .post(msg, {
            latest: () => {
              sent = current;
              return current!;
            },
          })
          .then(
            (ref) => {
              posted = ref;
              opts.onPosted?.(ref);
              sendUpdate();
              return ref;
            },
            (err) => {
              fail(err, 'post');
              return null;
            },
          );
      } else if (posted) {
        sendUpdate();
      }
    },
    async finish(msg) {
      this.show(msg);
      const ref = await posting;
      if (!ref) return null;
      const ok = await sendUpdate();
      return ok && !failed ? ref : null;
    },
    ref: () => posted,
  };
}
