/** Ports the commands and the monitor use to talk to people; transports implement them. */
import type { ChatFile, ChatMessage } from '../message.js';

/** Where a posted message lives, so it can be updated or threaded. */
export interface MessageRef {
  channel: string;
  ts: string;
}

/**
 * Options of a post. `latest` is read when the call actually leaves (a post may wait its turn in the channel's
 * queue): a message whose state moved on meanwhile is posted as it is then, not as it was when queued.
 */
export interface PostOptions {
  threadTs?: string;
  latest?: () => ChatMessage;
}

/** Posting outside a command's own reply: alert and pool channels. */
export interface ChatSink {
  /** Posts a visible message (optionally in a thread). Never drops it: rate limits are waited out. */
  post(channel: string, msg: ChatMessage, opts?: PostOptions): Promise<MessageRef>;
  /** Replaces a message's content. Updates to one message may be coalesced: the latest wins. */
  update(ref: MessageRef, msg: ChatMessage): Promise<void>;
  /** Attaches a file in `ref`'s thread. */
  upload(ref: MessageRef, file: ChatFile): Promise<void>;
}

/** How a command answers the person who typed it. */
export interface Reply {
  /** The channel the command was typed in. */
  readonly channel: string;
  /** Only the requester sees it (usage errors, denials, help). */
  ephemeral(msg: ChatMessage): Promise<void>;
  /** A visible message in the command's channel. */
  post(msg: ChatMessage, opts?: PostOptions): Promise<MessageRef>;
  update(ref: MessageRef, msg: ChatMessage): Promise<void>;
  upload(ref: MessageRef, file: ChatFile): Promise<void>;
  /**
   * Asks the requester to confirm a destructive step (a button in Slack,
   * `--yes` or a prompt in the console). Resolves false on "no" or time-out.
   */
  confirm(question: ChatMessage, opts?: { yesLabel?: string; timeoutMs?: number }): Promise<boolean>;
}
