/** Ack latency over HTTP: 100 concurrent signed slash commands against the Bolt receiver (Web API intercepted). */
import nock from 'nock';
import { createSilentLogger } from '../src/log.js';
import { createSlackBot } from '../src/chat/slack/app.js';
import type { CommandRouter } from '../src/core/ports/commands.js';
import { postSlashCommand } from '../test/e2e/slack-harness.js';
import { quantile, round } from './stats.js';

/** Sends `n` concurrent commands; reports p50/p99 of the HTTP answer time. */
export async function benchSlackAck(opts: { n?: number } = {}): Promise<{ ack_latency_p50_ms: number; ack_latency_p99_ms: number }> {
  const n = opts.n ?? 100;
  const secret = 'bench-signing-secret';
  nock('http://slack.bench').persist().post(/\/api\/.*/).reply(200, { ok: true, user_id: 'UBOT', team_id: 'T1', ts: '1.1', channel: 'C1' });
  nock('http://hooks.bench').persist().post(/.*/).reply(200, 'ok');
  // The router does real work after the ack (a short async job), as commands do.
  const router: CommandRouter = {
    commands: () => [],
    dispatch: async (inv) => {
      await new Promise((r) => setTimeout(r, 20));
      await inv.reply.ephemeral({ text: 'done' });
      return { status: 'ok' };
    },
    dispatchAction: async () => ({ status: 'ok' }),
  };
  const bot = createSlackBot({ botToken: 'xoxb-bench', signingSecret: secret, port: 0, apiUrl: 'http://slack.bench/api/', router, logger: createSilentLogger(), limits: 'fast' });
  const { port } = await bot.start();
  try {
    const base = `http://127.0.0.1:${port}`;
    await postSlashCommand(base, secret, { command: '/run', text: 'warm', channel_id: 'C1', user_id: 'U1', user_name: 'u', response_url: 'http://hooks.bench/r', trigger_id: 'warm' });
    const results = await Promise.all(Array.from({ length: n }, (_, i) => postSlashCommand(base, secret, { command: '/run', text: 'server1 uptime', channel_id: `C${i % 10}`, user_id: `U${i}`, user_name: 'u', response_url: 'http://hooks.bench/r', trigger_id: `t${i}` })));
    if (results.some((r) => r.status !== 200)) throw new Error('some commands were not acked with 200');
    const ms = results.map((r) => r.ms);
    return { ack_latency_p50_ms: round(quantile(ms, 0.5), 1), ack_latency_p99_ms: round(quantile(ms, 0.99), 1) };
  } finally {
    await bot.stop();
    nock.cleanAll();
  }
}
