/**
 * SIGTERM with work running and queued: the bot process stops taking commands (a new one is answered
 * "restarting"), gives the running ones its grace period, hands over what is left (its users are told), and
 * exits with 0, instead of waiting for every queued job.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTARTING_ANSWER } from '../../src/core/drain.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { startMariadb } from '../helpers/mariadb.js';
import { startBotProcess, startFakeSlack, type BotProcess, type FakeSlack } from './bot-process.js';
import { postSlashCommand } from './slack-harness.js';
import { until } from '../helpers/wait.js';

const SIGNING = 'slack-signing-secret-shutdown';
const POLICY = `version: 1
settings:
  timeout_s: 300
  max_output_bytes: 65536
commands:
  - rule: slow-work
    hosts: ["*"]
    who: everyone
    allow:
      - sleep <int:1..600>
`;

describe('bot process shutdown (SIGTERM) with work running and queued', () => {
  let gearmand: GearmandHandle;
  let db: MariadbProcess;
  let worker: WorkerProcess;
  let slack: FakeSlack;
  let bot: BotProcess;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gearops-shutdown-'));
    const policy = join(dir, 'policy.yml');
    writeFileSync(policy, POLICY);
    const secret = randomBytes(32).toString('hex');
    [gearmand, db, slack] = await Promise.all([startGearmand(), startMariadb(), startFakeSlack()]);
    worker = await startWorkerProcess({ host: 'server1', gearman: gearmand.address, secret, policy });
    bot = await startBotProcess({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SIGNING,
      PORT: '0',
      SLACK_API_URL: `${slack.origin}/api/`,
      SLACK_RESPONSE_ORIGINS: slack.origin,
      GEAROPS_GEARMAN: gearmand.address,
      GEAROPS_JOB_SECRET: secret,
      GEAROPS_MYSQL_URL: db.url,
      GEAROPS_POLICY: policy,
      GEAROPS_HOST_CONCURRENCY: '1',
      GEAROPS_USER_RATE: '1000',
      GEAROPS_SHUTDOWN_GRACE_S: '3',
    });
  }, 120_000);

  afterAll(async () => {
    await bot?.kill();
    await worker?.stop();
    await Promise.all([gearmand?.stop(), db?.stop(), slack?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const command = (text: string, trigger: string) =>
    postSlashCommand(bot.base, SIGNING, {
      command: '/run',
      text,
      channel_id: 'COPS',
      user_id: 'UOPS',
      user_name: 'ops',
      response_url: `${slack.origin}/respond/${trigger}`,
      trigger_id: trigger,
    });
  const answers = (trigger: string) =>
    slack.responses.filter((r) => r.path === `/respond/${trigger}`).map((r) => String(r.body.text ?? ''));

  it('answers new commands "restarting" and exits 0 within its grace period, without waiting for the queue', async () => {
    // One sleep runs on server1 (one slot), two wait in line behind it.
    for (const t of ['slow-1', 'slow-2', 'slow-3']) expect((await command('server1 sleep 120', t)).status).toBe(200);
    await until(
      () =>
        slack.calls.filter(
          (c) => c.method === 'chat.postMessage' && /queued: server1 is busy/.test(JSON.stringify(c.body)),
        ).length >= 2,
      // The bot is a process of its own at Slack's real pace; on a loaded machine its first posts can take long.
      90_000,
      {
        label: 'two "queued: server1 is busy" posts',
        explain: () =>
          `Slack calls: ${slack.calls.map((c) => `${c.method} ${JSON.stringify(c.body).slice(0, 120)}`).join('\n')}\n` +
          `bot output: ${bot.output().slice(-3000)}`,
      },
    );

    bot.child.kill('SIGTERM');
    await until(() => bot.events().some((e) => e.event === 'bot_stopping'));
    expect((await command('server1 sleep 1', 'after-sigterm')).status).toBe(200);
    await until(() => answers('after-sigterm').length > 0);
    expect(answers('after-sigterm')).toEqual([RESTARTING_ANSWER]);

    const exit = await bot.exited;
    expect(exit, bot.output().slice(-2000)).toEqual({ code: 0, signal: null });
    const stopped = bot.events().find((e) => e.event === 'bot_stopped');
    expect(stopped).toMatchObject({ clean: false, handedOver: 3, closeTimedOut: false });
    const conn = await mysql.createConnection(db.url);
    try {
      // What was still running or queued is journaled as handed over: the next bot process finishes it.
      const [left] = await conn.query(
        "SELECT request_id AS r FROM commands WHERE instance LIKE 'handed-over:%' AND state <> 'done' ORDER BY r",
      );
      expect(left).toEqual([{ r: 'slow-1' }, { r: 'slow-2' }, { r: 'slow-3' }]);
      // The refusal is in the audit trail.
      const [rows] = await conn.query('SELECT status, summary FROM audit WHERE request_id = ?', ['after-sigterm']);
      expect(rows).toEqual([{ status: 'refused', summary: 'not run: the bot was restarting' }]);
    } finally {
      await conn.end();
    }
  }, 150_000);
});
