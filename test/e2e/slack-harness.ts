/** Helpers to drive the bot as Slack would: signed form posts, and an intercepted Web API. */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { startBot, type RunningBot } from '../../src/bot.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { startMariadb } from '../helpers/mariadb.js';

/** Slack's v0 request signature. */
export function signSlackRequest(
  secret: string,
  body: string,
  ts = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const sig = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return {
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': sig,
    'content-type': 'application/x-www-form-urlencoded',
  };
}

/** The form body of a slash command, with the fields Slack sends. */
export function slashCommandBody(fields: Record<string, string>): string {
  return new URLSearchParams({
    token: 'legacy',
    team_id: 'T1',
    team_domain: 'ops',
    channel_name: 'ops',
    api_app_id: 'A1',
    is_enterprise_install: 'false',
    ...fields,
  }).toString();
}

/** POSTs a slash command with the fields Slack sends. */
export async function postSlashCommand(
  baseUrl: string,
  secret: string,
  fields: Record<string, string>,
  opts: { ts?: number; headers?: Record<string, string>; badSignature?: boolean } = {},
): Promise<{ status: number; ms: number; body: string }> {
  const body = slashCommandBody(fields);
  const headers = signSlackRequest(secret, body, opts.ts);
  if (opts.badSignature) headers['x-slack-signature'] = `v0=${'0'.repeat(64)}`;
  const t = Date.now();
  const r = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: { ...headers, ...opts.headers }, body });
  return { status: r.status, ms: Date.now() - t, body: await r.text() };
}

/** POSTs an interactivity payload (a button press) as Slack does: form field `payload` with JSON. */
export async function postInteraction(
  baseUrl: string,
  secret: string,
  payload: Record<string, unknown>,
): Promise<{ status: number }> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const r = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: signSlackRequest(secret, body), body });
  await r.text();
  return { status: r.status };
}

/** One intercepted Web API call. */
export interface ApiCall {
  method: string;
  body: Record<string, string>;
  at: number;
  /** What the intercepted API answered (e.g. the ts of a posted message). */
  reply?: Record<string, unknown>;
}

/**
 * A failure the fake Web API answers with instead of `ok`: a Slack error (`{ error: 'not_in_channel' }`), an HTTP
 * status (`{ status: 500 }`), or `'drop'`: the connection is reset before any answer.
 */
export type SlackFault = { error: string } | { status: number } | 'drop';

/** Decides, call by call, whether the fake Web API fails this one (undefined: it answers as Slack would). */
export type FaultPicker = (call: { method: string; body: Record<string, string> }) => SlackFault | undefined;

/**
 * The answer of a faulty call, or a thrown error that nock turns into a dropped connection. A Slack error is a
 * 200 with ok:false from the Web API, and a 404 from a response_url or an upload URL (which have no ok field).
 */
function faultReply(fault: SlackFault, plain = false): [number, Record<string, unknown>] {
  if (fault === 'drop') throw Object.assign(new Error('socket hang up (test fault)'), { code: 'ECONNRESET' });
  if ('status' in fault) return [fault.status, { ok: false, error: `http_${fault.status}` }];
  return [plain ? 404 : 200, { ok: false, error: fault.error }];
}

/** What usergroups.users.list answers for one group: its members, or a Slack error such as missing_scope. */
export type GroupAnswer = string[] | { error: string };

/**
 * Intercepts the Web API at `origin` + /api/: records every call, answers ok; `rateLimitFirst` answers that many
 * chat.postMessage calls with 429 first; `socketUrl` is what apps.connections.open hands out; `groupMembers` answers
 * usergroups.users.list by group id (read at each call, so a test may change it; a group not listed gets
 * no_such_subteam, as from Slack); `faults` (read at each call) fails chosen calls, the file upload's POST
 * included (method `upload`).
 */
export function interceptSlackApi(
  origin: string,
  opts: {
    rateLimitFirst?: number;
    socketUrl?: string;
    groupMembers?: Record<string, GroupAnswer>;
    faults?: { pick?: FaultPicker };
  } = {},
) {
  const calls: ApiCall[] = [];
  let ts = 1000;
  let limited = opts.rateLimitFirst ?? 0;
  nock(origin)
    .persist()
    .post(/\/api\/.*/)
    .reply(async function (uri, raw) {
      const method = uri.replace(/^\/api\//, '');
      const body =
        typeof raw === 'string' ? Object.fromEntries(new URLSearchParams(raw)) : (raw as Record<string, string>);
      calls.push({ method, body, at: Date.now() });
      const fault = opts.faults?.pick?.({ method, body });
      if (fault) {
        calls[calls.length - 1]!.reply = { fault };
        return faultReply(fault);
      }
      if (method === 'chat.postMessage' && limited > 0) {
        limited--;
        return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' }];
      }
      if (method === 'files.getUploadURLExternal')
        return [200, { ok: true, upload_url: `${origin}/upload/F${calls.length}`, file_id: `F${calls.length}` }];
      if (method === 'files.completeUploadExternal')
        return [200, { ok: true, files: [{ id: 'F1', title: body.files }] }];
      if (method === 'apps.connections.open')
        return [
          200,
          opts.socketUrl ? { ok: true, url: opts.socketUrl } : { ok: false, error: 'not_allowed_token_type' },
        ];
      if (method === 'usergroups.users.list') {
        const answer = opts.groupMembers?.[body.usergroup ?? ''] ?? { error: 'no_such_subteam' };
        return [200, Array.isArray(answer) ? { ok: true, users: answer } : { ok: false, error: answer.error }];
      }
      if (method === 'auth.test')
        return [200, { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', url: 'https://ops.slack.com/' }];
      if (method === 'chat.postMessage') {
        const reply = { ok: true, channel: body.channel, ts: `${++ts}.000100` };
        calls[calls.length - 1]!.reply = reply;
        return [200, reply];
      }
      return [200, { ok: true, channel: body.channel, ts: body.ts }];
    });
  nock(origin)
    .persist()
    .post(/\/upload\/.*/)
    .reply(async function (uri, raw) {
      const body = { path: uri, bytes: String(typeof raw === 'string' ? raw.length : JSON.stringify(raw).length) };
      calls.push({ method: 'upload', body, at: Date.now() });
      const fault = opts.faults?.pick?.({ method: 'upload', body });
      if (fault) return faultReply(fault, true);
      return [200, 'OK'];
    });
  return { calls };
}

/** The messages of `channel` whose latest content (their post, or their last update) includes `final`, by ts. */
export function finalMessages(calls: ApiCall[], channel: string, final = 'exit 0'): Map<string, string> {
  const latest = new Map<string, string>();
  for (const c of calls) {
    if (c.body.channel !== channel) continue;
    if (c.method === 'chat.postMessage' && c.reply?.ts) latest.set(String(c.reply.ts), c.body.blocks ?? '');
    if (c.method === 'chat.update') latest.set(c.body.ts!, c.body.blocks ?? '');
  }
  return new Map([...latest].filter(([, b]) => b.includes(final)));
}

/** The Slack signing secret the stack's bot checks requests against. */
export const SIGNING_SECRET = 'slack-signing-secret-for-tests';
/** The origin whose /api/ stands for Slack's Web API. */
export const SLACK_API_ORIGIN = 'http://slack.test';
/** The origin whose /respond… paths stand for response_url. */
export const RESPONSE_ORIGIN = 'http://hooks.test';

/** One body the bot posted to a response_url (an ephemeral answer, or a button's "Confirmed."). */
export interface ResponseCall {
  /** The path under RESPONSE_ORIGIN, e.g. /respond/trig-3. */
  path: string;
  body: Record<string, unknown>;
}

/** A bot in HTTP mode on a real gearmand and MariaDB, with Slack's side intercepted. */
export interface HttpBotStack {
  gearmand: GearmandHandle;
  db: MariadbProcess;
  worker: WorkerProcess | null;
  bot: RunningBot;
  /** http://127.0.0.1:<port> of the bot. */
  base: string;
  api: ReturnType<typeof interceptSlackApi>;
  /** Every post to a response_url under RESPONSE_ORIGIN, in order. */
  responses: ResponseCall[];
  /** A temp dir for the test's own files; removed by stop(). */
  dir: string;
  /** The environment the bot was started with (to start another bot process on the same servers). */
  env: NodeJS.ProcessEnv;
  /** Stops the bot, worker and servers and lifts the interception. */
  stop(): Promise<void>;
}

/**
 * Starts gearmand and MariaDB, optionally a worker for `workerHost`, and the bot over HTTP with
 * SLACK_API_URL on an intercepted origin; the network is closed except to loopback.
 * `policy` is a policy file's path, or `{ yaml }` to write into the stack's temp dir; bot and worker both use it.
 */
export async function startHttpBotStack(opts: {
  policy: string | { yaml: string };
  workerHost?: string;
  /** More flags for that worker (e.g. --concurrency). */
  workerArgs?: string[];
  env?: Record<string, string>;
  rateLimitFirst?: number;
  /** Fails chosen Web API and response_url calls (method `respond`, body.path); read at each call. */
  faults?: { pick?: FaultPicker };
}): Promise<HttpBotStack> {
  const secret = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'gearops-e2e-'));
  const policy = typeof opts.policy === 'string' ? opts.policy : join(dir, 'policy.yml');
  if (typeof opts.policy !== 'string') writeFileSync(policy, opts.policy.yaml);
  const responses: ResponseCall[] = [];
  let gearmand: GearmandHandle | undefined;
  let db: MariadbProcess | undefined;
  let worker: WorkerProcess | null = null;
  let bot: RunningBot | undefined;
  const stop = async () => {
    await bot?.stop();
    await worker?.stop();
    await Promise.all([gearmand?.stop(), db?.stop()]);
    nock.cleanAll();
    nock.enableNetConnect();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Settled one by one, so that stop() still finds whichever started when the other failed.
    const [g, m] = await Promise.allSettled([startGearmand(), startMariadb()]);
    gearmand = g.status === 'fulfilled' ? g.value : undefined;
    db = m.status === 'fulfilled' ? m.value : undefined;
    if (g.status === 'rejected') throw g.reason;
    if (m.status === 'rejected') throw m.reason;
    const [gm, mdb] = [g.value, m.value];
    if (opts.workerHost)
      worker = await startWorkerProcess({
        host: opts.workerHost,
        gearman: gm.address,
        secret,
        policy,
        extraArgs: opts.workerArgs,
      });
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    const api = interceptSlackApi(SLACK_API_ORIGIN, { rateLimitFirst: opts.rateLimitFirst, faults: opts.faults });
    nock(RESPONSE_ORIGIN)
      .persist()
      .post(/^\/respond/)
      .reply(async (path, body) => {
        const fault = opts.faults?.pick?.({ method: 'respond', body: { path } });
        if (fault) return faultReply(fault, true);
        responses.push({ path, body: (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown> });
        return [200, 'ok'];
      });
    const env: NodeJS.ProcessEnv = {
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      PORT: '0',
      SLACK_API_URL: `${SLACK_API_ORIGIN}/api/`,
      GEAROPS_GEARMAN: gm.address,
      GEAROPS_JOB_SECRET: secret,
      GEAROPS_MYSQL_URL: mdb.url,
      GEAROPS_POLICY: policy,
      GEAROPS_LOG_LEVEL: 'silent',
      GEAROPS_USER_RATE: '1000',
      SLACK_RESPONSE_ORIGINS: RESPONSE_ORIGIN,
      ...opts.env,
    };
    bot = await startBot(env, { dispatchPreset: 'fast', slackLimits: 'fast' });
    return { gearmand: gm, db: mdb, worker, bot, base: `http://127.0.0.1:${bot.port}`, api, responses, dir, env, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
