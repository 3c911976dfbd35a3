/**
 * The bot in Socket Mode (the manifest's default): apps.connections.open on
 * the intercepted Web API, envelopes over a real WebSocket, acks back on it,
 * with a real gearmand, worker and store behind.
 */
import { randomBytes } from 'node:crypto';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/bot.js';
import { freePort } from '../../src/launch/free-port.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { startMariadb } from '../helpers/mariadb.js';
import { until } from '../helpers/wait.js';
import { interceptSlackApi } from './slack-harness.js';
import { startSocketModeServer } from './socket-mode-server.js';

const API = 'http://slack-socket.test';

describe('the bot in Socket Mode', () => {
  let g: GearmandHandle;
  let w: WorkerProcess;
  let db: MariadbProcess;
  let bot: RunningBot;
  let sm: Awaited<ReturnType<typeof startSocketModeServer>>;
  let api: ReturnType<typeof interceptSlackApi>;
  let healthPort: number;
  const responses: string[] = [];
  let n = 0;

  beforeAll(async () => {
    const secret = randomBytes(32).toString('hex');
    [g, db, sm] = await Promise.all([startGearmand(), startMariadb(), startSocketModeServer()]);
    w = await startWorkerProcess({ host: 'server1', gearman: g.address, secret });
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    api = interceptSlackApi(API, { socketUrl: sm.url });
    nock('http://hooks-socket.test')
      .persist()
      .post('/respond')
      .reply(200, (_u, b) => {
        responses.push(JSON.stringify(b));
        return 'ok';
      });
    healthPort = await freePort();
    bot = await startBot(
      {
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_APP_TOKEN: 'xapp-test',
        PORT: String(healthPort),
        SLACK_API_URL: `${API}/api/`,
        GEAROPS_GEARMAN: g.address,
        GEAROPS_JOB_SECRET: secret,
        GEAROPS_MYSQL_URL: db.url,
        GEAROPS_POLICY: 'policies/demo.yml',
        GEAROPS_LOG_LEVEL: 'silent',
        GEAROPS_USER_RATE: '1000',
        SLACK_RESPONSE_ORIGINS: 'http://hooks-socket.test',
      },
      { dispatchPreset: 'fast', slackLimits: 'fast' },
    );
    await sm.connected();
  });

  afterAll(async () => {
    await bot?.stop();
    await sm?.close();
    await w?.stop();
    await Promise.all([g?.stop(), db?.stop()]);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  const slash = (text: string, user = 'U1') => ({
    command: '/run',
    text,
    channel_id: 'C1',
    channel_name: 'ops',
    user_id: user,
    user_name: 'alice',
    team_id: 'T1',
    team_domain: 'ops',
    api_app_id: 'A1',
    response_url: 'http://hooks-socket.test/respond',
    trigger_id: `sock-${++n}`,
    is_enterprise_install: 'false',
  });

  it('opens the socket through apps.connections.open with the app-level token on SLACK_API_URL', () => {
    expect(api.calls.some((c) => c.method === 'apps.connections.open')).toBe(true);
  });

  it('acks a slash command envelope on the socket at once and posts the output to the channel', async () => {
    const { envelopeId } = sm.send('slash_commands', slash('server1 uptime'));
    await until(() => sm.acks.some((a) => a.envelopeId === envelopeId));
    // At once: acked before the output reached the channel.
    const acked = sm.acks.find((a) => a.envelopeId === envelopeId)!.at;
    const final = () =>
      api.calls.find(
        (c) =>
          c.method === 'chat.update' &&
          (c.body.blocks ?? '').includes('load average') &&
          (c.body.blocks ?? '').includes('exit 0'),
      );
    await until(() => final() !== undefined);
    expect(acked).toBeLessThanOrEqual(final()!.at);
    // The audit row is written once the outcome is known, just after the last update.
    await until(async () =>
      (await bot.ctx.store!.audit.recent(10)).some(
        (a) => a.source === 'slack' && a.text === 'server1 uptime' && a.status === 'ok',
      ),
    );
  });

  it('runs a redelivered envelope of the same command only once', async () => {
    const cmd = slash('server1 hostname');
    sm.send('slash_commands', cmd);
    sm.send('slash_commands', cmd, { retry_attempt: 1, retry_reason: 'timeout' });
    await until(async () => (await bot.ctx.store!.audit.recent(20)).some((a) => a.text === 'server1 hostname'));
    // A second run would have been audited by the time a command sent after the redelivery is.
    const uptimes = (await bot.ctx.store!.audit.recent(50)).filter((a) => a.text === 'server1 uptime').length;
    sm.send('slash_commands', slash('server1 uptime'));
    await until(
      async () => (await bot.ctx.store!.audit.recent(50)).filter((a) => a.text === 'server1 uptime').length > uptimes,
    );
    expect((await bot.ctx.store!.audit.recent(20)).filter((a) => a.text === 'server1 hostname')).toHaveLength(1);
  });

  it('answers a denied command ephemerally through response_url, and runs nothing', async () => {
    const before = api.calls.filter((c) => c.method === 'chat.postMessage').length;
    const { envelopeId } = sm.send('slash_commands', slash('server1 rm -rf /'));
    await until(() => sm.acks.some((a) => a.envelopeId === envelopeId));
    await until(() =>
      responses.some((r) => r.includes('ephemeral') && r.includes('Denied: `rm` is not in any rule of ')),
    );
    expect(api.calls.filter((c) => c.method === 'chat.postMessage').length).toBe(before);
  });

  it('routes a button press (interactive envelope) to its handler', async () => {
    const { envelopeId } = sm.send('interactive', {
      type: 'block_actions',
      team: { id: 'T1' },
      user: { id: 'U9', name: 'bob' },
      api_app_id: 'A1',
      channel: { id: 'CALERTS' },
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'CALERTS' },
      message: { ts: '1700000000.000100' },
      response_url: 'http://hooks-socket.test/respond',
      trigger_id: 'sock-btn',
      actions: [
        { type: 'button', action_id: 'incident.ack', value: '424242', action_ts: '1700000001.000200', block_id: 'b' },
      ],
    });
    await until(() => sm.acks.some((a) => a.envelopeId === envelopeId));
    await until(() => responses.some((r) => r.includes('incident 424242 does not exist')));
  });

  it('serves GET /healthz on PORT in Socket Mode too', async () => {
    const r = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ok: true, gearman: true, store: true });
  });
});
