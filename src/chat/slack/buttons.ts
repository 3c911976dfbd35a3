/**
 * Buttons in: a confirmation press is settled by the confirmation desk and answered where the question was (a
 * refused press is told why, the question stays); any other button is taken once and dispatched to the router
 * after the ack, with the message and thread it was pressed in.
 */
import { randomUUID } from 'node:crypto';
import type { App } from '@slack/bolt';
import { textMessage } from '../../core/message.js';
import type { MessageRef } from '../../core/ports/chat.js';
import { renderSlack } from './render.js';
import type { ConfirmationDesk } from './confirmations.js';
import { signed } from './request-gate.js';
import type { InboundParts } from './slash-commands.js';
import type { SlackClient } from './bolt-app.js';
import type { SlackScheduler } from './sink.js';

/** What buttons need beyond what commands do: confirmations, and the Web API for answers without response_url. */
export interface ButtonParts extends InboundParts {
  confirms: ConfirmationDesk;
  client: SlackClient;
  sched: SlackScheduler;
}

/** Handles every button of `app`. */
export function onButtons(app: App, parts: ButtonParts): void {
  const { gate, directory, log, confirms, client, sched } = parts;
  app.action(/.*/, async ({ ack, body, action, respond: boltRespond, context }) => {
    await ack();
    const respond = gate.respondVia((body as { response_url?: unknown }).response_url, boltRespond);
    const b = body as {
      user: { id: string; name?: string };
      channel?: { id: string };
      message?: { ts: string; thread_ts?: string };
      container?: { message_ts?: string; channel_id?: string };
    };
    const a = action as { action_id: string; value?: string; action_ts?: string };
    const channel = b.channel?.id ?? b.container?.channel_id ?? '';
    if (a.action_id === 'gearops.confirm.yes' || a.action_id === 'gearops.confirm.no') {
      if (!(await gate.firstEverywhere([signed(context)]))) return;
      const yes = a.action_id === 'gearops.confirm.yes';
      const r = await confirms.press(a.value ?? '', b.user.id, yes);
      if (!r.taken)
        log.info({ event: 'slack_confirm_refused', user: b.user.id, reason: r.text }, 'confirmation press refused');
      // A press that counted replaces the question; a refused one is told why, the question stays.
      const answer = { response_type: 'ephemeral', replace_original: r.taken, ...renderSlack(textMessage(r.text)) };
      await (respond ? respond(answer as never) : Promise.reject(new Error('no response_url'))).catch(() =>
        sched
          .paced(channel, 'chat.postEphemeral', () =>
            client.chat.postEphemeral({ channel, user: b.user.id, ...renderSlack(textMessage(r.text)) } as never),
          )
          .catch((err: Error) =>
            log.warn({ err: err.message }, 'the answer to a confirmation press was not delivered'),
          ),
      );
      return;
    }
    const actionKey = `action/${b.user.id}/${a.action_id}/${a.action_ts ?? ''}/${b.message?.ts ?? ''}`;
    if (!(await gate.firstEverywhere([actionKey, signed(context)]))) return;
    const ref: MessageRef = { channel, ts: b.message?.ts ?? b.container?.message_ts ?? '' };
    setImmediate(() => {
      void directory
        .groupsOf(b.user.id)
        .then((groups) =>
          parts.router.dispatchAction({
            actionId: a.action_id,
            value: a.value ?? '',
            principal: { userId: b.user.id, userName: b.user.name, channelId: channel, groups, roles: [] },
            message: ref,
            threadTs: b.message?.thread_ts ?? ref.ts,
            reply: parts.replyFor(
              channel,
              b.user.id,
              respond && ((m: Record<string, unknown>) => respond(m as never)),
              b.message?.thread_ts ?? ref.ts,
            ),
            source: 'slack',
            requestId: randomUUID(),
          }),
        )
        .catch((err) => log.error({ err }, 'button failed'));
    });
  });
}
