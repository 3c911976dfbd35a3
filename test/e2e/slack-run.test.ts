import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/bot.js';
import {
  finalMessages,
  postInteraction,
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET as SIGNING,
  startHttpBotStack,
  type HttpBotStack,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';
import { sample, scrape } from '../helpers/metrics.js';

describe('the bot over HTTP with a real gearmand, worker and store', () => {
  let stack: HttpBotStack;
  let bot: RunningBot;
  let base: string;
  let api: HttpBotStack['api'];
  let trigger = 0;
  const respondUrl = `${RESPONSE_ORIGIN}/respond`;
  /** True once a response_url body contains `s`. */
  const answered = (s: string) => stack.responses.some((r) => JSON.stringify(r.body).includes(s));

  beforeAll(async () => {
    stack = await startHttpBotStack({
      // The demo's diagnostics plus `seq`, to produce output longer than a message.
      policy: {
        yaml: `version: 1\ncommands:\n  - rule: diagnostics\n    grep: true\n    allow: [uptime, hostname, "seq <int:1..100000>"]\n`,
      },
      workerHost: 'server1',
      rateLimitFirst: 1,
    });
    ({ bot, base, api } = stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const command = (text: string, extra: Record<string, string> = {}) => ({
    command: '/run',
    text,
    channel_id: 'C1',
    user_id: 'U1',
    user_name: 'alice',
    response_url: respondUrl,
    trigger_id: `trig-${++trigger}`,
    ...extra,
  });

  it('acks a signed /run at once and the output reaches the channel despite a 429', async () => {
    const r = await postSlashCommand(base, SIGNING, command('server1 uptime'));
    expect(r.status).toBe(200);
    // At once: acked before the output could reach the channel (its first post gets a 429 and waits 1 s).
    expect(api.calls.filter((c) => c.method === 'chat.postMessage' && c.reply?.ok)).toEqual([]);
    // The final state goes out with the post itself when the job ended before the post's turn came, else as an update.
    await until(() =>
      api.calls.some(
        (c) =>
          (c.method === 'chat.update' || (c.method === 'chat.postMessage' && c.reply?.ok)) &&
          c.body.blocks?.includes('load average') &&
          c.body.blocks.includes('exit 0'),
      ),
    );
    const posts = api.calls.filter((c) => c.method === 'chat.postMessage');
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(900);
    // The audit row is written once the outcome is known, around the last update.
    await until(async () =>
      (await bot.ctx.store!.audit.recent(10)).some(
        (a) =>
          a.command === 'run' &&
          a.text === 'server1 uptime' &&
          a.status === 'ok' &&
          a.exitCode === 0 &&
          a.host === 'server1',
      ),
    );
  });

  it('rejects a bad signature or a stale timestamp with 401 and runs nothing', async () => {
    const before = (await bot.ctx.store!.audit.recent(100)).length;
    expect((await postSlashCommand(base, SIGNING, command('server1 hostname'), { badSignature: true })).status).toBe(
      401,
    );
    expect(
      (await postSlashCommand(base, SIGNING, command('server1 hostname'), { ts: Math.floor(Date.now() / 1000) - 600 }))
        .status,
    ).toBe(401);
    // A signed request after them is audited; had either refused one run, its row would be there by then too.
    const marker = command('server1 hostname');
    expect((await postSlashCommand(base, SIGNING, marker)).status).toBe(200);
    await until(async () => (await bot.ctx.store!.audit.recent(100)).some((a) => a.requestId === marker.trigger_id));
    const rows = await bot.ctx.store!.audit.recent(100);
    expect(rows.length).toBe(before + 1);
    expect(rows[0]?.requestId).toBe(marker.trigger_id);
  });

  it('does not run a retried request twice', async () => {
    const fields = command('server1 hostname');
    const first = await postSlashCommand(base, SIGNING, fields);
    const retry = await postSlashCommand(base, SIGNING, fields, {
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect([first.status, retry.status]).toEqual([200, 200]);
    await until(async () => (await bot.ctx.store!.audit.recent(100)).some((a) => a.requestId === fields.trigger_id));
    // A second run would have been audited by the time a command sent after it is.
    const marker = command('server1 hostname');
    expect((await postSlashCommand(base, SIGNING, marker)).status).toBe(200);
    await until(async () => (await bot.ctx.store!.audit.recent(100)).some((a) => a.requestId === marker.trigger_id));
    const rows = (await bot.ctx.store!.audit.recent(100)).filter((a) => a.requestId === fields.trigger_id);
    expect(rows).toHaveLength(1);
  });

  it('answers a denial ephemerally with the reason, and audits it', async () => {
    const fields = command('server1 cat /etc/shadow');
    expect((await postSlashCommand(base, SIGNING, fields)).status).toBe(200);
    await until(() => answered('`cat` is not in any rule'));
    await until(async () => (await bot.ctx.store!.audit.recent(100)).some((a) => a.requestId === fields.trigger_id));
    const rows = (await bot.ctx.store!.audit.recent(100)).filter((a) => a.requestId === fields.trigger_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'deny', status: 'denied' });
  });

  it('uploads long output as a file in the message thread, with a preview in the message', async () => {
    const fields = command('server1 seq 5000');
    expect((await postSlashCommand(base, SIGNING, fields)).status).toBe(200);
    await until(() => api.calls.some((c) => c.method === 'files.completeUploadExternal'));
    const url = api.calls.find((c) => c.method === 'files.getUploadURLExternal');
    expect(Number(url?.body.length)).toBe(Array.from({ length: 5000 }, (_, i) => `${i + 1}\n`).join('').length);
    const complete = api.calls.find((c) => c.method === 'files.completeUploadExternal')!;
    expect(complete.body.channel_id).toBe('C1');
    expect(complete.body.thread_ts).toMatch(/^\d+\.\d+$/);
    expect(
      api.calls.some(
        (c) =>
          (c.method === 'chat.update' || c.method === 'chat.postMessage') &&
          c.body.blocks?.includes('earlier characters in the attached file') &&
          c.body.blocks.includes('5000'),
      ),
    ).toBe(true);
  });

  it('reports back every one of 20 commands in one channel without exceeding its pace', async () => {
    const triggers: string[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, () => {
        const f = command('server1 hostname', { channel_id: 'C7' });
        triggers.push(f.trigger_id);
        return postSlashCommand(base, SIGNING, f);
      }),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    await until(
      async () =>
        (await bot.ctx.store!.audit.recent(200)).filter(
          (a) => triggers.includes(a.requestId ?? '') && a.status === 'ok',
        ).length === 20,
      30_000,
    );
    await until(() => finalMessages(api.calls, 'C7').size === 20, 30_000);
    const posts = api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'C7').map((c) => c.at);
    // One message per command: a queued one's note is updated, never followed by a second message.
    expect(posts).toHaveLength(20);
    // The limiter spaces the calls' starts 100 ms apart (the fast preset); arrival times here jitter with the
    // machine's load, so the pace is judged over the whole run and over any one second, not gap by gap.
    expect(posts.at(-1)! - posts[0]!).toBeGreaterThanOrEqual(0.9 * 100 * (posts.length - 1));
    for (const t of posts) expect(posts.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(12);
  });

  it('routes a button press to its handler, answers with the reason and audits it', async () => {
    const r = await postInteraction(base, SIGNING, {
      type: 'block_actions',
      team: { id: 'T1' },
      user: { id: 'U9', name: 'bob' },
      channel: { id: 'CALERTS' },
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'CALERTS' },
      message: { ts: '1700000000.000100' },
      response_url: respondUrl,
      trigger_id: 'btn-1',
      actions: [
        { type: 'button', action_id: 'incident.ack', value: '999999', action_ts: '1700000001.000200', block_id: 'b' },
      ],
    });
    expect(r.status).toBe(200);
    await until(() => answered('incident 999999 does not exist'));
    await until(async () =>
      (await bot.ctx.store!.audit.recent(200)).some(
        (a) => a.command === 'incident.ack' && a.userId === 'U9' && a.status === 'failed',
      ),
    );
  });

  it('never calls usergroups.* when the policy names no user groups', () => {
    expect(api.calls.length).toBeGreaterThan(0);
    expect(api.calls.filter((c) => c.method.startsWith('usergroups.'))).toEqual([]);
  });

  it('serves Prometheus metrics on the same port, and they move with a /run', async () => {
    const before = await scrape(`${base}/metrics`);
    expect(before).toContain('# TYPE gearops_jobs_submitted_total counter');
    const job = { capability: 'run', host: 'server1' };
    const r = await postSlashCommand(base, SIGNING, command('server1 hostname'));
    expect(r.status).toBe(200);
    let after = '';
    await until(async () => {
      after = await scrape(`${base}/metrics`);
      return (
        sample(after, 'gearops_commands_total', { command: 'run', decision: 'ok' }) >
        sample(before, 'gearops_commands_total', { command: 'run', decision: 'ok' })
      );
    });
    expect(sample(after, 'gearops_jobs_submitted_total', job)).toBe(
      sample(before, 'gearops_jobs_submitted_total', job) + 1,
    );
    const done = { ...job, outcome: 'completed' };
    expect(sample(after, 'gearops_jobs_finished_total', done)).toBe(
      sample(before, 'gearops_jobs_finished_total', done) + 1,
    );
    expect(
      sample(after, 'gearops_job_duration_seconds_count', { capability: 'run', outcome: 'completed' }),
    ).toBeGreaterThan(0);
    const posts = { method: 'chat.postMessage', outcome: 'ok' };
    expect(sample(after, 'gearops_slack_api_calls_total', posts)).toBeGreaterThan(
      sample(before, 'gearops_slack_api_calls_total', posts),
    );
    // The stack answers the first chat.postMessage with 429 (the first test's).
    expect(sample(after, 'gearops_slack_api_ratelimited_total', { method: 'chat.postMessage' })).toBe(1);
    expect(sample(after, 'gearops_gearmand_connection_up', { role: 'client' })).toBe(1);
    expect(after).toMatch(/^gearops_info\{version="[^"]+",role="bot"\} 1$/m);
    // No label carries the command line.
    expect(after).not.toContain('hostname');
  });

  it('reports health', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await r.json()).toMatchObject({ ok: true, version: pkg.version, gearman: true, store: true });
  });
});
