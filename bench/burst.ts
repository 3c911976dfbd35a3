/**
 * A burst in one channel: 100 signed `/run server1 hostname` at once, over HTTP into the Slack transport, one
 * real worker process behind gearmand, the Web API intercepted. Measured: how long until each command's message
 * shows its final state (p99), and how many messages and calls it took. Slack allows about one post per second
 * per channel, so the best possible p99 for 100 messages is about 99 paces; the bench runs at a faster fake pace
 * (`paceMs`, default 100 ms) and reports the ratio to that ideal, which holds at any pace.
 */
import nock from 'nock';
import { createSilentLogger } from '../src/log.js';
import { createSlackBot } from '../src/chat/slack/app.js';
import { SLACK_LIMIT_PRESETS } from '../src/chat/slack/limits.js';
import { signSlackRequest, slashCommandBody } from '../test/e2e/slack-harness.js';
import { quantile, round } from './stats.js';
import { startRunRouter } from './run-latency.js';

const ORIGIN = 'http://slack.burst';

/** Runs the burst; figures are named burst_<n>_*. */
export async function benchBurst(opts: { n?: number; paceMs?: number } = {}): Promise<Record<string, number>> {
  const n = opts.n ?? 100;
  const paceMs = opts.paceMs ?? 100;
  const logger = createSilentLogger();
  const signing = 'burst-signing-secret';
  const calls: Array<{ method: string; body: Record<string, string>; at: number; ts?: string }> = [];
  let ts = 1000;
  nock(ORIGIN)
    .persist()
    .post(/\/api\/.*/)
    .reply((uri, raw) => {
      const method = uri.replace(/^\/api\//, '');
      const body = Object.fromEntries(new URLSearchParams(String(raw)));
      const call: (typeof calls)[number] = { method, body, at: performance.now() };
      calls.push(call);
      if (method === 'chat.postMessage') call.ts = `${++ts}.000100`;
      return [200, { ok: true, user_id: 'UBOT', team_id: 'T1', channel: body.channel, ts: call.ts ?? body.ts }];
    });
  nock('http://hooks.burst').persist().post(/.*/).reply(200, 'ok');
  const { router, stop } = await startRunRouter(logger);
  const bot = createSlackBot({
    botToken: 'xoxb-burst',
    signingSecret: signing,
    port: 0,
    apiUrl: `${ORIGIN}/api/`,
    router,
    logger,
    limits: { ...SLACK_LIMIT_PRESETS.default, perChannelMinMs: paceMs },
  });
  try {
    const { port } = await bot.start();
    const sentAt = new Map<string, number>();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const body = slashCommandBody({
          command: '/run',
          text: 'server1 hostname',
          channel_id: 'CBURST',
          user_id: `UB${i}`,
          user_name: 'u',
          response_url: 'http://hooks.burst/r',
          trigger_id: `burst-${i}`,
        });
        sentAt.set(`UB${i}`, performance.now());
        const r = await fetch(`http://127.0.0.1:${port}/slack/events`, {
          method: 'POST',
          headers: signSlackRequest(signing, body),
          body,
        });
        if (r.status !== 200) throw new Error(`a burst command was answered ${r.status}`);
        await r.text();
      }),
    );
    // A message is final when its latest content shows an exit status; its user is in the mention.
    const finalAt = () => {
      const latest = new Map<string, { user: string; body: string; at: number }>();
      for (const c of calls) {
        const key = c.method === 'chat.postMessage' ? c.ts : c.method === 'chat.update' ? c.body.ts : undefined;
        if (!key) continue;
        const user = /<@(UB\d+)>/.exec(c.body.blocks ?? '')?.[1] ?? latest.get(key)?.user ?? '';
        latest.set(key, { user, body: c.body.blocks ?? '', at: c.at });
      }
      return [...latest.values()].filter((m) => /exit \d+/.test(m.body));
    };
    const deadline = performance.now() + n * paceMs * 4 + 60_000;
    while (finalAt().length < n) {
      if (performance.now() > deadline) throw new Error(`only ${finalAt().length} of ${n} messages became final`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const waits = finalAt().map((m) => (m.at - sentAt.get(m.user)!) / 1000);
    const messages = calls.filter((c) => c.method === 'chat.postMessage').length;
    const updates = calls.filter((c) => c.method === 'chat.update').length;
    const ideal = ((n - 1) * paceMs) / 1000;
    return {
      [`burst_${n}_p99_s`]: round(quantile(waits, 0.99), 2),
      [`burst_${n}_messages`]: messages,
      [`burst_${n}_calls`]: messages + updates,
      [`burst_${n}_pace_ms`]: paceMs,
      [`burst_${n}_ideal_p99_s`]: round(ideal, 2),
      [`burst_${n}_p99_vs_ideal_ratio`]: round(quantile(waits, 0.99) / ideal, 2),
    };
  } finally {
    await bot.stop();
    await stop();
    nock.cleanAll();
  }
}
