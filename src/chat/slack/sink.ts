/**
 * Messages out: the ChatSink over the Web API (every call paced by the scheduler, rendered to Block Kit as it
 * leaves), and the Reply a command gets (ephemeral answers through the request's response_url when it has one,
 * else chat.postEphemeral; confirmations as buttons).
 */
import type { Logger } from '../../log.js';
import type { ChatFile, ChatMessage } from '../../core/message.js';
import type { ChatSink, Reply } from '../../core/ports/chat.js';
import { renderSlack } from './render.js';
import type { createSlackScheduler } from './limits.js';
import type { ConfirmationDesk } from './confirmations.js';
import type { SlackClient } from './bolt-app.js';

/** The scheduler every Web API call goes through. */
export type SlackScheduler = ReturnType<typeof createSlackScheduler>;

/** A request's response_url, as Bolt's respond(). */
export type Respond = (m: Record<string, unknown>) => Promise<unknown>;

/** Creates the sink: post, update and upload, paced per channel and per message. */
export function createSlackSink(client: SlackClient, sched: SlackScheduler): ChatSink {
  return {
    async post(channel, msg, o) {
      const r = await sched.paced(channel, 'chat.postMessage', () =>
        client.chat.postMessage({
          channel,
          // Rendered as the call leaves: a message that changed while waiting its turn goes out as it is now.
          ...renderSlack(o?.latest?.() ?? msg),
          ...(o?.threadTs ? { thread_ts: o.threadTs } : {}),
          unfurl_links: false,
        } as never),
      );
      return { channel: (r as { channel?: string }).channel ?? channel, ts: String((r as { ts?: string }).ts) };
    },
    async update(ref, msg) {
      await sched.update(`${ref.channel}/${ref.ts}`, ref.channel, () =>
        client.chat.update({ channel: ref.channel, ts: ref.ts, ...renderSlack(msg) } as never),
      );
    },
    async upload(ref, file: ChatFile) {
      await sched.paced(ref.channel, 'files.uploadV2', () =>
        client.filesUploadV2({
          channel_id: ref.channel,
          thread_ts: ref.ts,
          filename: file.filename,
          title: file.title ?? file.filename,
          content: typeof file.content === 'string' ? file.content : file.content.toString('utf8'),
          ...(file.comment ? { initial_comment: file.comment } : {}),
        } as never),
      );
    },
  };
}

/** What replies are made with. */
export interface ReplyParts {
  client: SlackClient;
  sched: SlackScheduler;
  sink: ChatSink;
  confirms: ConfirmationDesk;
  log: Logger;
  /** How long a confirmation button waits when the command names no time. */
  confirmTimeoutMs: number;
}

/** The Reply of one request by `user` in `channel` (in `threadTs`'s thread, for a button pressed there). */
export function createReply(
  parts: ReplyParts,
  channel: string,
  user: string,
  respond: Respond | undefined,
  threadTs?: string,
): Reply {
  const { client, sched, sink, confirms, log } = parts;
  return {
    channel,
    async ephemeral(msg) {
      const body = renderSlack(msg);
      if (respond) {
        try {
          await respond({ response_type: 'ephemeral', replace_original: false, ...body });
          return;
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'response_url failed; falling back to chat.postEphemeral');
        }
      }
      await sched.paced(channel, 'chat.postEphemeral', () =>
        client.chat.postEphemeral({ channel, user, ...body } as never),
      );
    },
    post: (msg, o) => sink.post(channel, msg, { ...o, threadTs: o?.threadTs ?? threadTs }),
    update: (ref, msg) => sink.update(ref, msg),
    upload: (ref, file) => sink.upload(ref, file),
    async confirm(question: ChatMessage, o) {
      const { id, answer } = await confirms.ask(user, o?.timeoutMs ?? parts.confirmTimeoutMs);
      await this.ephemeral({
        text: question.text,
        blocks: [
          ...(question.blocks ?? [{ type: 'text', text: question.text }]),
          {
            type: 'buttons',
            buttons: [
              { actionId: 'gearops.confirm.yes', label: o?.yesLabel ?? 'Yes', value: id, style: 'danger' },
              { actionId: 'gearops.confirm.no', label: 'Cancel', value: id },
            ],
          },
        ],
      });
      return answer;
    },
  };
}
