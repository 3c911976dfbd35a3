/**
 * Alert threads end to end: a real three-node MariaDB cluster installed by
 * the project's own sandboxes, the bot in HTTP mode against an intercepted
 * Web API, faults made on the real servers, and buttons pressed as Slack
 * posts them (signed interactivity payloads).
 */
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/bot.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createSilentLogger } from '../../src/log.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { interceptSlackApi, postInteraction, type ApiCall } from './slack-harness.js';
import { freePortRange } from '../helpers/gearmand.js';
import { pollCycles, until } from '../helpers/wait.js';

const SIGNING = 'slack-signing-secret-for-monitor-tests';
const API = 'http://slack-monitor.test';
// The master's port (its replicas: the next two), free on this run.
let BASE_PORT = 0;

describe('alert threads through Slack over HTTP, on a real cluster', () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let bot: RunningBot | undefined;
  let api: ReturnType<typeof interceptSlackApi>;
  const respondUrl = 'http://hooks-monitor.test/respond';
  const node = (port: number) => ({ address: '127.0.0.1', port });

  const startTheBot = async () =>
    startBot(
      {
        ...f.env,
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_SIGNING_SECRET: SIGNING,
        PORT: '0',
        SLACK_API_URL: `${API}/api/`,
        GEAROPS_LOG_LEVEL: 'silent',
        GEAROPS_MONITOR_INTERVAL_MS: '1000',
        SLACK_RESPONSE_ORIGINS: new URL(respondUrl).origin,
      },
      { dispatchPreset: 'fast', slackLimits: 'fast' },
    );
  /** Parent alert messages: chat.postMessage to the alert channel, not in a thread. */
  const alertsFor = (who: string) =>
    api.calls.filter(
      (c) =>
        c.method === 'chat.postMessage' &&
        c.body.channel === 'CALERTS' &&
        !c.body.thread_ts &&
        (c.body.text ?? '').includes(who),
    );
  const threadOf = (ts: string) => api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === ts);
  /** The ts the intercepted API gave a recorded chat.postMessage (the harness numbers them in call order). */
  const tsOf = (call: ApiCall) => String(call.reply?.ts ?? '');

  beforeAll(async () => {
    f = await startFleet();
    BASE_PORT = await freePortRange(3);
    const r = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${BASE_PORT}`);
    expect(r.outcome.status, r.text).toBe('ok');
    probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
    await probe.exec(node(BASE_PORT), 'CREATE DATABASE app');
    await probe.exec(node(BASE_PORT), 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    api = interceptSlackApi(API);
    nock('http://hooks-monitor.test').persist().post('/respond').reply(200, 'ok');
    bot = await startTheBot();
  });

  afterAll(async () => {
    await bot?.stop();
    await probe?.close();
    await f?.stop();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('posts one alert for a broken replica, threads what follows, and resolves it in the same thread', async () => {
    await until(
      async () =>
        (
          await probe.exec(
            node(BASE_PORT + 1),
            'SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "app"',
          )
        ).rows[0]?.[0] === '1',
    );
    await probe.exec(node(BASE_PORT + 1), 'INSERT INTO app.t VALUES (1)');
    let cycles = 0;
    const off = bot!.ctx.monitor!.onCycle(() => cycles++);
    await probe.exec(node(BASE_PORT), 'INSERT INTO app.t VALUES (1)');
    await until(() => alertsFor(`server2:${BASE_PORT + 1}`).length > 0);
    off();
    const parent = alertsFor(`server2:${BASE_PORT + 1}`)[0]!;
    // Detection speed is measured in `npm run bench` (detect_latency_ms); here: the cycle under way when it broke,
    // or one of the next two, sees it.
    expect(cycles, 'cycles from the break to the alert').toBeLessThanOrEqual(3);
    expect(parent.body.text).toMatch(/SQL thread stopped/);
    expect(parent.body.text).toMatch(/1062/);
    expect(parent.body.blocks).toMatch(/incident\.restart/);
    expect(parent.body.blocks).toMatch(/incident\.skip/);
    // The fault persists over several polls: still one alert.
    await pollCycles(bot!.ctx.monitor!, 2);
    expect(alertsFor(`server2:${BASE_PORT + 1}`)).toHaveLength(1);
    // Fix it on the server; the monitor sees it and answers in the parent's thread.
    await probe.skipOneEvent(node(BASE_PORT + 1));
    const ts = tsOf(parent);
    await until(() =>
      threadOf(ts).some((c) => /Resolved: SQL thread stopped on server2:\d+ cleared after/.test(c.body.text ?? '')),
    );
    await until(() =>
      api.calls.some(
        (c) =>
          c.method === 'chat.update' &&
          c.body.ts === ts &&
          /RESOLVED/i.test(`${c.body.text ?? ''}${c.body.blocks ?? ''}`),
      ),
    );
  });

  it('keeps one thread across a bot restart, and the Restart button (a signed button press) brings replication back', async () => {
    await probe.stopReplication(node(BASE_PORT + 2), 'io');
    await until(() => alertsFor(`server3:${BASE_PORT + 2}`).length > 0);
    const parent = alertsFor(`server3:${BASE_PORT + 2}`)[0]!;
    const ts = tsOf(parent);
    expect(parent.body.text).toMatch(/IO thread stopped/);

    // Restart the bot in the middle of the incident.
    await bot!.stop();
    bot = undefined;
    bot = await startTheBot();
    await pollCycles(bot.ctx.monitor!, 3);
    expect(alertsFor(`server3:${BASE_PORT + 2}`)).toHaveLength(1);

    const incident = (await bot.ctx.store!.incidents.listOpen()).find((i) => i.port === BASE_PORT + 2)!;
    expect(incident.alertTs).toBe(ts);
    const press = await postInteraction(`http://127.0.0.1:${bot.port}`, SIGNING, {
      type: 'block_actions',
      team: { id: 'T1' },
      user: { id: 'UDBA', name: 'dba' },
      channel: { id: 'CALERTS' },
      container: { type: 'message', message_ts: ts, channel_id: 'CALERTS' },
      message: { ts },
      response_url: respondUrl,
      trigger_id: 'restart-1',
      actions: [
        {
          type: 'button',
          action_id: 'incident.restart',
          value: String(incident.id),
          action_ts: `${Date.now() / 1000}`,
          block_id: 'actions',
        },
      ],
    });
    expect(press.status).toBe(200);
    await until(() => threadOf(ts).some((c) => /<@UDBA> pressed \*Restart replication\*/.test(c.body.text ?? '')));
    await until(() => threadOf(ts).some((c) => /Resolved: IO thread stopped on server3:\d+/.test(c.body.text ?? '')));
    expect((await probe.status(node(BASE_PORT + 2))).ioRunning).toBe('Yes');
    const audit = await bot.ctx.store!.audit.recent(50);
    expect(audit.some((a) => a.command === 'incident.restart' && a.userId === 'UDBA' && a.status === 'ok')).toBe(true);
    // Every reply of both incidents went into a thread of an alert, none to the channel top level.
    expect(
      api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'CALERTS' && !c.body.thread_ts),
    ).toHaveLength(2);
  });
});
