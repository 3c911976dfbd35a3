import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/bot.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { startMariadb } from '../helpers/mariadb.js';
import { interceptSlackApi, postInteraction, postSlashCommand } from './slack-harness.js';
import { until } from '../helpers/wait.js';

const SIGNING = 'slack-signing-secret-for-tests';
/** The Web API of a workspace where S0DBA has UIN (and UOTHER) but not UOUT. */
const API = 'http://slack-groups.test';
/** The Web API of a workspace where usergroups.users.list fails (the app lacks usergroups:read). */
const API_BROKEN = 'http://slack-groups-broken.test';
const HOOKS = 'http://hooks-groups.test';

// `uptime` and acknowledging an alert are for role dba only, and dba is whoever is in user group S0DBA.
const POLICY = `version: 1
roles:
  dba:
    groups: [S0DBA]
commands:
  - rule: dba-uptime
    who: [role:dba]
    allow: [uptime]
actions:
  - rule: dba-ack
    actions: [incident.ack]
    who: [role:dba]
`;

describe('Slack user groups map to policy roles, end to end', () => {
  let g: GearmandHandle;
  let w: WorkerProcess;
  let db: MariadbProcess;
  let bot: RunningBot;
  let broken: RunningBot;
  let base: string;
  let brokenBase: string;
  let dir: string;
  const api = interceptSlackApi(API, { groupMembers: { S0DBA: ['UIN', 'UOTHER'] } });
  const brokenApi = interceptSlackApi(API_BROKEN, { groupMembers: { S0DBA: { error: 'missing_scope' } } });
  const ephemerals = new Map<string, string[]>();
  let trigger = 0;

  beforeAll(async () => {
    const secret = randomBytes(32).toString('hex');
    dir = mkdtempSync(join(tmpdir(), 'gearops-e2e-groups-'));
    const policy = join(dir, 'policy.yml');
    writeFileSync(policy, POLICY);
    [g, db] = await Promise.all([startGearmand(), startMariadb()]);
    // The worker evaluates the same file: it allows `uptime` only because the signed job carries role dba.
    w = await startWorkerProcess({ host: 'server1', gearman: g.address, secret, policy });
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    nock(HOOKS)
      .persist()
      .post(/\/r\/.*/)
      .reply(200, (uri, body) => {
        const key = uri.replace(/^\/r\//, '');
        ephemerals.set(key, [...(ephemerals.get(key) ?? []), JSON.stringify(body)]);
        return 'ok';
      });
    const env = {
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SIGNING,
      PORT: '0',
      GEAROPS_GEARMAN: g.address,
      GEAROPS_JOB_SECRET: secret,
      GEAROPS_MYSQL_URL: db.url,
      GEAROPS_POLICY: policy,
      GEAROPS_LOG_LEVEL: 'silent',
      GEAROPS_USER_RATE: '1000',
      GEAROPS_GROUPS_TTL_S: '3600',
      SLACK_RESPONSE_ORIGINS: HOOKS,
    };
    bot = await startBot({ ...env, SLACK_API_URL: `${API}/api/` }, { dispatchPreset: 'fast', slackLimits: 'fast' });
    broken = await startBot(
      { ...env, SLACK_API_URL: `${API_BROKEN}/api/` },
      { dispatchPreset: 'fast', slackLimits: 'fast' },
    );
    base = `http://127.0.0.1:${bot.port}`;
    brokenBase = `http://127.0.0.1:${broken.port}`;
  });

  afterAll(async () => {
    await bot?.stop();
    await broken?.stop();
    await w?.stop();
    await Promise.all([g?.stop(), db?.stop()]);
    nock.cleanAll();
    nock.enableNetConnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const command = (user: string, text: string) => {
    const id = `grp-${++trigger}`;
    return {
      command: '/run',
      text,
      channel_id: 'C1',
      user_id: user,
      user_name: user.toLowerCase(),
      response_url: `${HOOKS}/r/${id}`,
      trigger_id: id,
    };
  };
  const button = (user: string, incidentId: number) => {
    const id = `grp-btn-${++trigger}`;
    return {
      payload: {
        type: 'block_actions',
        team: { id: 'T1' },
        user: { id: user, name: user.toLowerCase() },
        channel: { id: 'CALERTS' },
        container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'CALERTS' },
        message: { ts: '1700000000.000100' },
        response_url: `${HOOKS}/r/${id}`,
        trigger_id: id,
        actions: [
          {
            type: 'button',
            action_id: 'incident.ack',
            value: String(incidentId),
            action_ts: `1700000001.${trigger}`,
            block_id: 'b',
          },
        ],
      },
      id,
    };
  };
  const auditOf = async (requestId: string) =>
    (await bot.ctx.store!.audit.recent(500)).filter((a) => a.requestId === requestId);

  it('runs the command of a member of the group: its output reaches the channel', async () => {
    const fields = command('UIN', 'server1 uptime');
    expect((await postSlashCommand(base, SIGNING, fields)).status).toBe(200);
    await until(() =>
      api.calls.some(
        (c) =>
          c.method === 'chat.update' && c.body.blocks?.includes('load average') && c.body.blocks.includes('exit 0'),
      ),
    );
    expect(
      api.calls.some(
        (c) => c.method === 'chat.postMessage' && c.body.channel === 'C1' && c.body.blocks?.includes('<@UIN>'),
      ),
    ).toBe(true);
    const lookups = api.calls.filter((c) => c.method === 'usergroups.users.list');
    expect(lookups.map((c) => c.body.usergroup)).toEqual(['S0DBA']);
    await until(async () => (await auditOf(fields.trigger_id)).length > 0);
    expect((await auditOf(fields.trigger_id))[0]).toMatchObject({
      userId: 'UIN',
      decision: 'allow',
      status: 'ok',
      rule: 'dba-uptime',
      host: 'server1',
      exitCode: 0,
    });
    expect(ephemerals.get(fields.trigger_id) ?? []).toEqual([]);
  });

  it('denies a user outside the group ephemerally, naming the rule, and runs nothing', async () => {
    const fields = command('UOUT', 'server1 uptime');
    expect((await postSlashCommand(base, SIGNING, fields)).status).toBe(200);
    await until(() => (ephemerals.get(fields.trigger_id) ?? []).length > 0);
    expect(ephemerals.get(fields.trigger_id)![0]).toContain('Denied: rule `dba-uptime` is for role:dba');
    await until(async () => (await auditOf(fields.trigger_id)).length > 0);
    expect((await auditOf(fields.trigger_id))[0]).toMatchObject({
      userId: 'UOUT',
      decision: 'deny',
      status: 'denied',
      rule: 'dba-uptime',
      jobHandle: null,
    });
    expect(api.calls.some((c) => c.method.startsWith('chat.') && JSON.stringify(c.body).includes('UOUT'))).toBe(false);
  });

  it('lists in /run help what the group role allows, to members only', async () => {
    const mine = command('UIN', 'help');
    const theirs = command('UOUT', 'help');
    await Promise.all([postSlashCommand(base, SIGNING, mine), postSlashCommand(base, SIGNING, theirs)]);
    await until(
      () => (ephemerals.get(mine.trigger_id) ?? []).length > 0 && (ephemerals.get(theirs.trigger_id) ?? []).length > 0,
    );
    expect(ephemerals.get(mine.trigger_id)![0]).toContain('uptime   (rule dba-uptime, hosts *)');
    expect(ephemerals.get(theirs.trigger_id)![0]).not.toContain('dba-uptime');
    expect(ephemerals.get(theirs.trigger_id)![0]).toContain('the policy allows you no commands');
  });

  it('gives button presses the same group roles: a non-member is denied, a member acknowledges', async () => {
    const { incident } = await bot.ctx.store!.incidents.open({
      cluster: 'c1',
      host: 'server1',
      port: 3306,
      kind: 'sql_stopped',
      errno: 1062,
      error: 'Duplicate entry',
      lag: null,
    });
    const out = button('UOUT', incident.id);
    expect((await postInteraction(base, SIGNING, out.payload)).status).toBe(200);
    await until(() => (ephemerals.get(out.id) ?? []).length > 0);
    expect(ephemerals.get(out.id)![0]).toContain('Denied: rule `dba-ack` allows incident.ack only for role:dba');
    expect((await bot.ctx.store!.incidents.get(incident.id))?.acknowledgedBy).toBeNull();

    const inside = button('UOTHER', incident.id);
    expect((await postInteraction(base, SIGNING, inside.payload)).status).toBe(200);
    await until(async () => (await bot.ctx.store!.incidents.get(incident.id))?.acknowledgedBy === 'UOTHER');
    await until(async () =>
      (await bot.ctx.store!.audit.recent(500)).some(
        (a) => a.command === 'incident.ack' && a.userId === 'UOTHER' && a.status === 'ok' && a.rule === 'dba-ack',
      ),
    );
    // Every command and press so far was answered from one lookup (the TTL is an hour).
    expect(api.calls.filter((c) => c.method === 'usergroups.users.list')).toHaveLength(1);
  });

  it('denies even a member when Slack cannot list the group, and asks Slack again next time', async () => {
    const first = command('UIN', 'server1 uptime');
    expect((await postSlashCommand(brokenBase, SIGNING, first)).status).toBe(200);
    await until(() => (ephemerals.get(first.trigger_id) ?? []).length > 0);
    expect(ephemerals.get(first.trigger_id)![0]).toContain('Denied: rule `dba-uptime` is for role:dba');
    const second = command('UIN', 'server1 uptime');
    expect((await postSlashCommand(brokenBase, SIGNING, second)).status).toBe(200);
    await until(() => (ephemerals.get(second.trigger_id) ?? []).length > 0);
    expect(ephemerals.get(second.trigger_id)![0]).toContain('Denied: rule `dba-uptime`');
    expect(brokenApi.calls.filter((c) => c.method === 'usergroups.users.list').map((c) => c.body.usergroup)).toEqual([
      'S0DBA',
      'S0DBA',
    ]);
    expect(brokenApi.calls.some((c) => c.method === 'chat.postMessage' || c.method === 'chat.update')).toBe(false);
    await until(async () => (await auditOf(second.trigger_id)).length > 0);
    expect((await auditOf(first.trigger_id))[0]).toMatchObject({ userId: 'UIN', decision: 'deny', status: 'denied' });
  });
});
