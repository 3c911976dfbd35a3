/** Helpers to drive the bot as Slack would: signed form posts, and an intercepted Web API. */
import { createHmac } from 'node:crypto';
import nock from 'nock';

/** Slack's v0 request signature. */
export function signSlackRequest(secret: string, body: string, ts = Math.floor(Date.now() / 1000)): Record<string, string> {
  const sig = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': sig, 'content-type': 'application/x-www-form-urlencoded' };
}

/** POSTs a slash command with the fields Slack sends. */
export async function postSlashCommand(baseUrl: string, secret: string, fields: Record<string, string>, opts: { ts?: number; headers?: Record<string, string>; badSignature?: boolean } = {}): Promise<{ status: number; ms: number; body: string }> {
  const body = new URLSearchParams({ token: 'legacy', team_id: 'T1', team_domain: 'ops', channel_name: 'ops', api_app_id: 'A1', is_enterprise_install: 'false', ...fields }).toString();
  const headers = signSlackRequest(secret, body, opts.ts);
  if (opts.badSignature) headers['x-slack-signature'] = `v0=${'0'.repeat(64)}`;
  const t = Date.now();
  const r = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: { ...headers, ...opts.headers }, body });
  return { status: r.status, ms: Date.now() - t, body: await r.text() };
}

/** POSTs an interactivity payload (a button press) as Slack does: form field `payload` with JSON. */
export async function postInteraction(baseUrl: string, secret: string, payload: Record<string, unknown>): Promise<{ status: number }> {
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
}

/** What usergroups.users.list answers for one group: its members, or a Slack error such as missing_scope. */
export type GroupAnswer = string[] | { error: string };

/**
 * Intercepts the Web API at `origin` + /api/: records every call, answers ok; `rateLimitFirst` answers that many
 * chat.postMessage calls with 429 first; `groupMembers` answers usergroups.users.list by group id (read at each
 * call, so a test may change it; a group not listed gets no_such_subteam, as from Slack).
 */
export function interceptSlackApi(origin: string, opts: { rateLimitFirst?: number; groupMembers?: Record<string, GroupAnswer> } = {}) {
  const calls: ApiCall[] = [];
  let ts = 1000;
  let limited = opts.rateLimitFirst ?? 0;
  nock(origin)
    .persist()
    .post(/\/api\/.*/)
    .reply(function (uri, raw) {
      const method = uri.replace(/^\/api\//, '');
      const body = typeof raw === 'string' ? Object.fromEntries(new URLSearchParams(raw)) : (raw as Record<string, string>);
      calls.push({ method, body, at: Date.now() });
      if (method === 'chat.postMessage' && limited > 0) {
        limited--;
        return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' }];
      }
      if (method === 'files.getUploadURLExternal') return [200, { ok: true, upload_url: `${origin}/upload/F${calls.length}`, file_id: `F${calls.length}` }];
      if (method === 'files.completeUploadExternal') return [200, { ok: true, files: [{ id: 'F1', title: body.files }] }];
      if (method === 'usergroups.users.list') {
        const answer = opts.groupMembers?.[body.usergroup ?? ''] ?? { error: 'no_such_subteam' };
        return [200, Array.isArray(answer) ? { ok: true, users: answer } : { ok: false, error: answer.error }];
      }
      if (method === 'auth.test') return [200, { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', url: 'https://ops.slack.com/' }];
      if (method === 'chat.postMessage') return [200, { ok: true, channel: body.channel, ts: `${++ts}.000100` }];
      return [200, { ok: true, channel: body.channel, ts: body.ts }];
    });
  nock(origin)
    .persist()
    .post(/\/upload\/.*/)
    .reply(function (uri, raw) {
      calls.push({ method: 'upload', body: { path: uri, bytes: String(typeof raw === 'string' ? raw.length : JSON.stringify(raw).length) }, at: Date.now() });
      return [200, 'OK'];
    });
  return { calls };
}
