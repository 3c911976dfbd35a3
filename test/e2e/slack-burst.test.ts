import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
 * 50 signed commands at once in one channel: every one is acked, and then gets exactly one final message in the
 * channel or one private answer (here: the per-user rate limit, with when to try again), never nothing.
 */
describe('a burst of 50 commands in one channel', () => {
  let stack: HttpBotStack;

  beforeAll(async () => {
    stack = await startHttpBotStack({
      policy: { yaml: 'version: 1\ncommands:\n  - rule: diagnostics\n    allow: [hostname]\n' },
      workerHost: 'server1',
      env: { GEAROPS_USER_RATE: '20' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('accounts for every request: one final message or one private answer each', async () => {
    // Five users send 6 each; a sixth sends 20 more than its rate allows (20 a minute): 50 in all.
    const users = [...Array.from({ length: 30 }, (_, i) => `U${i % 5}`), ...Array.from({ length: 20 }, () => 'UX')];
    const sends = users.map((user, i) => ({
      command: '/run',
      text: 'server1 hostname',
      channel_id: 'CB',
      user_id: user,
      user_name: user.toLowerCase(),
      response_url: `${RESPONSE_ORIGIN}/respond/b${i}`,
      trigger_id: `b${i}`,
    }));
    // UX has used most of its budget already: 14 of its 20 this minute (sent one by one, before the burst).
    for (let i = 0; i < 14; i++) {
      const f = { ...sends[30]!, trigger_id: `pre${i}`, response_url: `${RESPONSE_ORIGIN}/respond/pre${i}` };
      expect((await postSlashCommand(stack.base, SIGNING, f)).status).toBe(200);
    }
    await until(async () => (await stack.bot.ctx.store!.audit.recent(500)).length >= 14, 30_000);
    const acks = await Promise.all(sends.map((f) => postSlashCommand(stack.base, SIGNING, f)));
    expect(acks.map((a) => a.status)).toEqual(sends.map(() => 200));
    const rows = async () =>
      (await stack.bot.ctx.store!.audit.recent(1000)).filter((a) => /^b\d+$/.test(a.requestId ?? ''));
    await until(async () => (await rows()).length === 50, 60_000);
    const byTrigger = new Map((await rows()).map((r) => [r.requestId!, r]));
    expect(byTrigger.size).toBe(50);
    const ran = sends.filter((f) => byTrigger.get(f.trigger_id)!.status === 'ok');
    const refused = sends.filter((f) => byTrigger.get(f.trigger_id)!.status === 'refused');
    expect(ran.length + refused.length).toBe(50);
    // UX had 6 left of its 20: 14 of its burst are refused, everyone else's run.
    expect(refused.map((f) => f.user_id)).toEqual(Array.from({ length: 14 }, () => 'UX'));
    // Each refused request: one private answer saying when to try again; none for the ones that ran.
    const answers = (f: (typeof sends)[number]) => stack.responses.filter((r) => r.path === `/respond/${f.trigger_id}`);
    for (const f of refused) {
      expect(answers(f)).toHaveLength(1);
      expect(JSON.stringify(answers(f)[0]!.body)).toMatch(/Try again in \d+ s; nothing was run/);
    }
    for (const f of ran) expect(answers(f)).toEqual([]);
    // Each request that ran: one message in the channel, ending in its final state.
    await until(() => finalMessages(stack.api.calls, 'CB').size === ran.length + 14, 60_000);
    const posts = stack.api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'CB');
    expect(posts).toHaveLength(ran.length + 14);
  });
});
