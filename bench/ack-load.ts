/**
 * The load generator of the ack benchmark, run as its own process so that
 * making 100 requests does not share the bot's event loop (Slack's senders
 * are elsewhere too). argv: <base url> <signing secret> <n>; prints the
 * answer times in ms as one JSON array. Uses node:http (lighter than fetch)
 * so that the sender's own cost stays small next to what it measures.
 */
import { request } from 'node:http';
import { signSlackRequest, slashCommandBody } from '../test/e2e/slack-harness.js';

const [base, secret, count] = process.argv.slice(2);
const n = Number(count);
const url = new URL('/slack/events', base);

function post(i: number | 'warm'): Promise<{ status: number; ms: number }> {
  const body = slashCommandBody({
    command: '/run',
    text: 'server1 uptime',
    channel_id: `C${i === 'warm' ? 0 : i % 10}`,
    user_id: `U${i}`,
    user_name: 'u',
    response_url: 'http://hooks.bench/r',
    trigger_id: `t${i}-${process.pid}`,
  });
  const headers = { ...signSlackRequest(secret!, body), 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

await post('warm');
const results = await Promise.all(Array.from({ length: n }, (_, i) => post(i)));
if (results.some((r) => r.status !== 200)) {
  process.stderr.write(
    `not every command was acked with 200: ${[...new Set(results.map((r) => r.status))].join(', ')}\n`,
  );
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(results.map((r) => r.ms))}\n`);
