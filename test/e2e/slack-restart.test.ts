import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/bot.js';
import {
  finalMessages,
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET as SIGNING,
  startHttpBotStack,
  type HttpBotStack,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';

/**
 * Ten running and ten queued commands across a bot stop and a restart: the stopping bot journals them as handed
 * over; the new one follows each job by its id (the worker answers a re-sent id with that run's result) or runs the
 * queued ones, and every message ends in a final state, with all twenty audit rows in the store.
 */
describe('commands in flight across a bot restart', () => {
  let stack: HttpBotStack;
  let second: RunningBot | undefined;

  beforeAll(async () => {
    stack = await startHttpBotStack({
      policy: { yaml: 'version: 1\ncommands:\n  - rule: diagnostics\n    allow: ["sleep <int:1..3>"]\n' },
      workerHost: 'server1',
      // The bot runs ten at once on server1 and queues the rest; the worker takes them all (its default is 4, which
      // made the twenty run four at a time): ten running, and after the restart ten more that follow them by id.
      workerArgs: ['--concurrency', '20'],
      env: { GEAROPS_HOST_CONCURRENCY: '10' },
    });
  });

  afterAll(async () => {
    await second?.stop();
    await stack?.stop();
  });

  it('finishes every message and writes every audit row', async () => {
    const triggers = Array.from({ length: 20 }, (_, i) => `r${i}`);
    // Posted at once: which ten run first does not matter.
    const posted = await Promise.all(
      triggers.map((t) =>
        postSlashCommand(stack.base, SIGNING, {
          command: '/run',
          text: 'server1 sleep 2',
          channel_id: 'CR',
          user_id: 'U1',
          user_name: 'alice',
          response_url: `${RESPONSE_ORIGIN}/respond/${t}`,
          trigger_id: t,
        }),
      ),
    );
    expect(posted.map((p) => p.status)).toEqual(triggers.map(() => 200));
    // All twenty have their message (ten "starting…", ten "queued") before the bot goes.
    await until(
      () => stack.api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'CR').length === 20,
      30_000,
    );
    expect(finalMessages(stack.api.calls, 'CR').size).toBeLessThan(20);
    await stack.bot.stop();
    second = await startBot(stack.env, { dispatchPreset: 'fast', slackLimits: 'fast' });
    await until(() => finalMessages(stack.api.calls, 'CR').size === 20, 60_000);
    await until(async () => {
      const rows = (await second!.ctx.store!.audit.recent(200)).filter((a) => triggers.includes(a.requestId ?? ''));
      return rows.length === 20 && rows.every((r) => r.status === 'ok');
    }, 30_000);
    const final = [...finalMessages(stack.api.calls, 'CR').values()];
    expect(final.filter((b) => b.includes('the bot restarted while this ran')).length).toBeGreaterThan(0);
    expect(stack.api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'CR')).toHaveLength(20);
  });
});
