/**
 * Ack latency over HTTP: 100 concurrent signed slash commands against the
 * Bolt receiver (Web API intercepted), sent by a separate process as Slack's
 * are. The baseline, measured in the same run with the same sender, is a bare
 * node:http server that reads each body and answers 200: what this machine
 * takes for the same load with no bot at all.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import nock from 'nock';
import { createSilentLogger } from '../src/log.js';
import { createSlackBot } from '../src/chat/slack/app.js';
import type { CommandRouter } from '../src/core/ports/commands.js';
import { median, quantile, round } from './stats.js';

const LOAD = fileURLToPath(new URL('./ack-load.ts', import.meta.url));

/** Runs the load generator against `base`; resolves with the answer times. */
function load(base: string, secret: string, n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LOAD, base, secret, String(n)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as number[])
        : reject(new Error(`ack load generator exited ${code}: ${err.trim().split('\n').pop()}`)),
    );
  });
}

/** A bare HTTP server: the floor for the same load on this machine. */
async function startBaseline(): Promise<{ base: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Rounds of `n` concurrent commands against the bot and the baseline, alternating; medians over the rounds. */
export async function benchSlackAck(opts: { n?: number; rounds?: number } = {}): Promise<Record<string, number>> {
  const n = opts.n ?? 100;
  const rounds = opts.rounds ?? 5;
  const secret = 'bench-signing-secret';
  nock('http://slack.bench')
    .persist()
    .post(/\/api\/.*/)
    .reply(200, { ok: true, user_id: 'UBOT', team_id: 'T1', ts: '1.1', channel: 'C1' });
  nock('http://hooks.bench').persist().post(/.*/).reply(200, 'ok');
  // The router does real work after the ack (a short async job and a reply), as commands do.
  const router: CommandRouter = {
    commands: () => [],
    dispatch: async (inv) => {
      await new Promise((r) => setTimeout(r, 20));
      await inv.reply.ephemeral({ text: 'done' });
      return { status: 'ok' };
    },
    dispatchAction: async () => ({ status: 'ok' }),
  };
  const bot = createSlackBot({
    botToken: 'xoxb-bench',
    signingSecret: secret,
    port: 0,
    apiUrl: 'http://slack.bench/api/',
    router,
    logger: createSilentLogger(),
    limits: 'fast',
    responseOrigins: ['http://hooks.bench'],
  });
  const { port } = await bot.start();
  const baseline = await startBaseline();
  const p50: number[] = [];
  const p99: number[] = [];
  const b99: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const ms = await load(`http://127.0.0.1:${port}`, secret, n);
      p50.push(quantile(ms, 0.5));
      p99.push(quantile(ms, 0.99));
      b99.push(quantile(await load(baseline.base, secret, n), 0.99));
    }
  } finally {
    await bot.stop();
    await baseline.close();
    nock.cleanAll();
  }
  return {
    ack_latency_p50_ms: round(median(p50), 1),
    ack_latency_p99_ms: round(median(p99), 1),
    ack_baseline_p99_ms: round(median(b99), 1),
    ack_p99_vs_baseline_ratio: round(median(p99) / Math.max(1, median(b99)), 2),
  };
}
