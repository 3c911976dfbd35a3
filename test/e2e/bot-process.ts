/**
 * The bot as a process of its own (`gearops bot`), as production runs it, with Slack's side played by a real
 * HTTP server on loopback (nock cannot reach into another process): the Web API under /api/ and response_urls
 * under /respond/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Slack's side for a bot process: every Web API call and every response_url post, in order. */
export interface FakeSlack {
  /** http://127.0.0.1:<port>: SLACK_API_URL is origin + /api/, response_urls origin + /respond/… */
  origin: string;
  calls: Array<{ method: string; body: Record<string, string> }>;
  responses: Array<{ path: string; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** Starts the fake Slack on a free loopback port. */
export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: FakeSlack['calls'] = [];
  const responses: FakeSlack['responses'] = [];
  let ts = 5000;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const url = req.url ?? '/';
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.startsWith('/respond/')) {
        responses.push({ path: url, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {} });
        return json(200, { ok: true });
      }
      const method = url.replace(/^\/api\//, '').replace(/\?.*$/, '');
      const body = (req.headers['content-type'] ?? '').includes('json')
        ? (JSON.parse(raw || '{}') as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(raw));
      calls.push({ method, body });
      if (method === 'auth.test') return json(200, { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1' });
      if (method === 'chat.postMessage') return json(200, { ok: true, channel: body.channel, ts: `${++ts}.000100` });
      return json(200, { ok: true, channel: body.channel, ts: body.ts });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    calls,
    responses,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A `gearops bot` process. */
export interface BotProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> of its /slack/events and /healthz. */
  base: string;
  /** Its log lines, parsed (one JSON object each). */
  events(): Array<Record<string, unknown>>;
  /** Resolves when it has exited: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed (for failure messages). */
  output(): string;
  /** SIGKILL when still running (test teardown). */
  kill(): Promise<void>;
}

/** Starts `gearops bot` with `env` (on top of a clean one) and resolves once it logged bot_started. */
export async function startBotProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<BotProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/gearops.js'), 'bot'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', GEAROPS_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const events: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      try {
        events.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const kill = async () => {
    if (gone) return;
    child.kill('SIGKILL');
    await exited;
  };
  try {
    await until(() => {
      if (gone) throw new Error(`gearops bot exited before it started:\n${out.slice(-3000)}`);
      return events.some((e) => e.event === 'bot_started');
    }, timeoutMs);
  } catch (err) {
    await kill();
    throw err;
  }
  const port = Number(events.find((e) => e.event === 'bot_started')!.port);
  return { child, base: `http://127.0.0.1:${port}`, events: () => events, exited, output: () => out, kill };
}
