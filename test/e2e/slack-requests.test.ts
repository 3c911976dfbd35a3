/**
 * What the bot accepts of Slack's HTTP requests: only fresh ones (a signed request dated ahead, to be replayed
 * later, is refused like a stale one), and answers only to response_urls on Slack's hosts (a body naming another
 * URL gets its answer through the Web API instead).
 */
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET,
  startHttpBotStack,
  type HttpBotStack,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';

const USER = 'UREQ1';
const ROGUE = 'http://rogue-hooks.test';

describe('Slack requests over HTTP: fresh ones only, answers only to Slack', () => {
  let stack: HttpBotStack;
  const rogue: string[] = [];

  beforeAll(async () => {
    stack = await startHttpBotStack({ policy: 'policies/demo.yml' });
    nock(ROGUE)
      .persist()
      .post(/.*/)
      .reply(200, (path) => (rogue.push(path), 'ok'));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const audited = async (trigger: string) =>
    (await stack.bot.ctx.store!.audit.recent(1000)).filter((r) => r.requestId === trigger);
  const fields = (trigger: string, origin = RESPONSE_ORIGIN) => ({
    command: '/pool',
    text: 'list',
    channel_id: 'COPS',
    user_id: USER,
    user_name: 'req1',
    response_url: `${origin}/respond/${trigger}`,
    trigger_id: trigger,
  });

  it('refuses a correctly signed request dated more than 5 minutes ahead (or behind) with 401, and runs nothing', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const [trigger, ts] of [
      ['ahead-10min', now + 600],
      ['ahead-6min', now + 360],
      ['behind-6min', now - 360],
    ] as const) {
      const r = await postSlashCommand(stack.base, SIGNING_SECRET, fields(trigger), { ts });
      expect(r.status, trigger).toBe(401);
    }
    // Within the window either way: taken. Once these have run, the refused ones would have too.
    for (const [trigger, ts] of [
      ['ahead-4min', now + 240],
      ['behind-4min', now - 240],
    ] as const)
      expect((await postSlashCommand(stack.base, SIGNING_SECRET, fields(trigger), { ts })).status).toBe(200);
    await until(async () => (await audited('ahead-4min')).length > 0 && (await audited('behind-4min')).length > 0);
    for (const t of ['ahead-10min', 'ahead-6min', 'behind-6min']) expect(await audited(t), t).toEqual([]);
    expect(stack.responses.map((r) => r.path)).not.toContain('/respond/ahead-10min');
  });

  it('does not post to a response_url outside the allowed origins: the answer goes through chat.postEphemeral', async () => {
    const r = await postSlashCommand(stack.base, SIGNING_SECRET, fields('rogue-url', ROGUE));
    expect(r.status).toBe(200);
    await until(() =>
      stack.api.calls.some(
        (c) => c.method === 'chat.postEphemeral' && c.body.user === USER && c.body.channel === 'COPS',
      ),
    );
    await until(async () => (await audited('rogue-url')).length > 0);
    expect((await audited('rogue-url')).map((a) => a.status)).toEqual(['ok']);
    expect(rogue).toEqual([]);
  });
});
