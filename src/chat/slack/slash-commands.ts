/**
 * Slash commands in: each is acked at once, taken once (a retry of an accepted command never runs it again), and
 * dispatched to the router after the ack with the user's groups looked up, so Slack gets its answer within 3 s
 * whatever the job does.
 */
import { randomUUID } from 'node:crypto';
import type { App } from '@slack/bolt';
import type { Logger } from '../../log.js';
import type { CommandRouter, Principal } from '../../core/ports/commands.js';
import type { GroupDirectory } from './groups.js';
import { signed, type RequestGate } from './request-gate.js';
import type { Reply } from '../../core/ports/chat.js';
import type { Respond } from './sink.js';

/** What the command and button handlers share. */
export interface InboundParts {
  router: CommandRouter;
  gate: RequestGate;
  directory: GroupDirectory;
  log: Logger;
  replyFor(channel: string, user: string, respond: Respond | undefined, threadTs?: string): Reply;
}

/** Routes every slash command of `app` to the router. */
export function onSlashCommands(app: App, parts: InboundParts): void {
  const { gate, directory, log } = parts;
  app.command(/.*/, async ({ command, ack, respond, context, body }) => {
    await ack();
    const key = `${body.team_id ?? ''}/${command.channel_id}/${command.user_id}/${command.trigger_id}`;
    if (!(await gate.firstEverywhere([key, signed(context)]))) {
      log.info(
        { event: 'slack_retry_ignored', retryNum: context.retryNum, command: command.command },
        'retry of an accepted command: not run again',
      );
      return;
    }
    // Run after the ack: Slack gets its answer within its 3 s whatever the job (or a group lookup) does.
    setImmediate(() => {
      void directory
        .groupsOf(command.user_id)
        .then((groups) => {
          const principal: Principal = {
            userId: command.user_id,
            userName: command.user_name,
            channelId: command.channel_id,
            groups,
            roles: [],
          };
          return parts.router.dispatch({
            command: command.command.replace(/^\//, ''),
            text: command.text ?? '',
            principal,
            reply: parts.replyFor(
              command.channel_id,
              command.user_id,
              gate.respondVia(command.response_url, (m: Record<string, unknown>) => respond(m as never)),
            ),
            source: 'slack',
            requestId: command.trigger_id || randomUUID(),
          });
        })
        .catch((err) => log.error({ err }, 'command failed'));
    });
  });
}
