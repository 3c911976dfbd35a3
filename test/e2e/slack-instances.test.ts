/**
 * Two bot instances on one store, as an HA deployment runs them: A in this process, B a `gearops bot` process of
 * its own. Slack may send a command's retry, a replay, or the press of a confirmation button to the other
 * instance than the one that took the command (a balancer in HTTP mode; Socket Mode spreads events over every
 * open connection). What one took, the other does not run again; a confirmation asked by one is answered by a
 * press reaching the other, once; a press by anyone else is refused with the reason; the per-user rate limit
 * counts commands on both.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBotProcess, startFakeSlack, type BotProcess, type FakeSlack } from './bot-process.js';
import {
  postInteraction,
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET,
  startHttpBotStack,
  type HttpBotStack,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';

const USER = 'UOPS1';
/** Commands per minute per user, on both instances (the rate test's user stays within it until its last). */
const RATE = 4;

describe('two bot instances on one store (one of them a process of its own)', () => {
  let a: HttpBotStack;
  let b: BotProcess;
  let slackB: FakeSlack;

  beforeAll(async () => {
    a = await startHttpBotStack({
      policy: 'policies/demo.yml',
      env: { GEAROPS_POOL_CHANNEL: 'CPOOL', GEAROPS_USER_RATE: String(RATE) },
    });
    slackB = await startFakeSlack();
    b = await startBotProcess({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      PORT: '0',
      SLACK_API_URL: `${slackB.origin}/api/`,
      SLACK_RESPONSE_ORIGINS: `${slackB.origin},${RESPONSE_ORIGIN}`,
      GEAROPS_GEARMAN: a.gearmand.address,
      GEAROPS_JOB_SECRET: randomBytes(16).toString('hex'),
      GEAROPS_MYSQL_URL: a.db.url,
      GEAROPS_POLICY: 'policies/demo.yml',
      GEAROPS_POOL_CHANNEL: 'CPOOL',
      GEAROPS_USER_RATE: String(RATE),
    });
  }, 120_000);

  afterAll(async () => {
    await b?.kill();
    await slackB?.close();
    await a?.stop();
  });

  const audited = async (trigger: string) =>
    (await a.bot.ctx.store!.audit.recent(1000)).filter((r) => r.requestId === trigger);
  const fields = (text: string, trigger: string, user = USER, origin = RESPONSE_ORIGIN) => ({
    command: '/pool',
    text,
    channel_id: 'COPS',
    user_id: user,
    user_name: user.toLowerCase(),
    response_url: `${origin}/respond/${trigger}`,
    trigger_id: trigger,
  });
  /** B logged that it did not run a request because one instance had taken it (a retry or replay). */
  const bIgnored = (n: number) => b.events().filter((e) => e.event === 'slack_retry_ignored').length >= n;

  it("runs a command once when Slack's retry of it reaches the other instance", async () => {
    const ignored = b.events().filter((e) => e.event === 'slack_retry_ignored').length;
    expect((await postSlashCommand(a.base, SIGNING_SECRET, fields('add db1:3306 READ first', 'inst-1'))).status).toBe(
      200,
    );
    await until(async () => (await audited('inst-1')).length > 0);
    const retry = await postSlashCommand(b.base, SIGNING_SECRET, fields('add db1:3306 READ first', 'inst-1'), {
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(retry.status).toBe(200);
    await until(() => bIgnored(ignored + 1));
    expect((await audited('inst-1')).map((r) => r.status)).toEqual(['ok']);
    expect((await a.bot.ctx.store!.pool.list()).map((n) => `${n.host}:${n.port}`)).toEqual(['db1:3306']);
  });

  it('does not run a signed request twice when the same bytes are replayed to the other instance', async () => {
    const ignored = b.events().filter((e) => e.event === 'slack_retry_ignored').length;
    const ts = Math.floor(Date.now() / 1000);
    const f = fields('set db1:3306 READ,WRITE promoted', 'inst-replay');
    expect((await postSlashCommand(a.base, SIGNING_SECRET, f, { ts })).status).toBe(200);
    await until(async () => (await audited('inst-replay')).length > 0);
    // Exactly the request A took: same body, same timestamp, same signature.
    expect((await postSlashCommand(b.base, SIGNING_SECRET, f, { ts })).status).toBe(200);
    await until(() => bIgnored(ignored + 1));
    expect((await audited('inst-replay')).map((r) => r.status)).toEqual(['ok']);
    expect((await a.bot.ctx.store!.pool.history(100)).filter((h) => h.reason === 'promoted')).toHaveLength(1);
  });

  it('takes a confirmation asked by A and pressed on B once; a press by anyone else is refused with the reason', async () => {
    expect((await postSlashCommand(a.base, SIGNING_SECRET, fields('del db1:3306 retired', 'inst-2'))).status).toBe(200);
    const asked = () => a.responses.find((x) => x.path === '/respond/inst-2')?.body;
    await until(() => asked() !== undefined);
    const raw = asked()!.blocks;
    const blocks = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
      type: string;
      elements?: { action_id: string; value: string }[];
    }[];
    const id = blocks
      .find((x) => x.type === 'actions')!
      .elements!.find((e) => e.action_id === 'gearops.confirm.yes')!.value;
    const press = (user: string, n: number) =>
      postInteraction(b.base, SIGNING_SECRET, {
        type: 'block_actions',
        team: { id: 'T1' },
        user: { id: user, name: user.toLowerCase() },
        channel: { id: 'COPS' },
        container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'COPS', is_ephemeral: true },
        response_url: `${slackB.origin}/respond/inst-press-${n}`,
        trigger_id: `inst-press-${n}`,
        actions: [
          { type: 'button', action_id: 'gearops.confirm.yes', value: id, action_ts: `1700000002.${n}`, block_id: 'b' },
        ],
      });
    const answerTo = (n: number) => slackB.responses.find((x) => x.path === `/respond/inst-press-${n}`)?.body;

    // Someone else's press, on B: refused with the reason, and the question still waits.
    expect((await press('UOTHER', 1)).status).toBe(200);
    await until(() => answerTo(1) !== undefined);
    expect(answerTo(1)).toMatchObject({
      text: `Only <@${USER}> can answer this question; your press changed nothing.`,
      replace_original: false,
    });
    expect(await a.bot.ctx.store!.pool.get('db1', 3306)).not.toBeNull();

    // The asker's press on B: A performs the delete, and B tells the presser.
    expect((await press(USER, 2)).status).toBe(200);
    await until(() => answerTo(2) !== undefined);
    expect(answerTo(2)).toMatchObject({ text: 'Confirmed.', replace_original: true });
    await until(async () => (await audited('inst-2')).length > 0);
    expect((await audited('inst-2')).map((r) => r.status)).toEqual(['ok']);
    expect(await a.bot.ctx.store!.pool.get('db1', 3306)).toBeNull();

    // Pressed again (on B, and on A): it was answered; nothing more happens.
    expect((await press(USER, 3)).status).toBe(200);
    await until(() => answerTo(3) !== undefined);
    expect(answerTo(3)).toMatchObject({ text: 'This question was already answered; your press changed nothing.' });
    const history = (await a.bot.ctx.store!.pool.history(100)).filter((h) => h.reason === 'retired');
    expect(history).toHaveLength(1);
  });

  it("counts one user's commands on both instances against one rate limit", async () => {
    const user = 'URATE1';
    const run = async (base: string, trigger: string, origin: string) => {
      expect((await postSlashCommand(base, SIGNING_SECRET, fields('list', trigger, user, origin))).status).toBe(200);
      await until(async () => (await audited(trigger)).length > 0);
      return (await audited(trigger))[0]!;
    };
    for (let i = 0; i < RATE - 1; i++) expect((await run(a.base, `rate-a-${i}`, RESPONSE_ORIGIN)).status).toBe('ok');
    expect((await run(b.base, 'rate-b-0', slackB.origin)).status).toBe('ok');
    // The limit's worth was run (on A and B together): B refuses the next one, and says when to try again.
    const refused = await run(b.base, 'rate-b-1', slackB.origin);
    expect(refused).toMatchObject({ status: 'refused' });
    expect(refused.summary).toMatch(/^rate limited/);
    await until(() => slackB.responses.some((r) => r.path === '/respond/rate-b-1'));
    expect(String(slackB.responses.find((r) => r.path === '/respond/rate-b-1')!.body.text)).toMatch(
      new RegExp(`^Slow down: you can run ${RATE} commands per 60 s\\. Try again in \\d+ s; nothing was run\\.$`),
    );
  });
});
