/**
 * /pool through Slack over HTTP: signed slash commands and button presses
 * reach the bot, changes land in the real `nodes` table and its history, and
 * every change is announced once in GEAROPS_POOL_CHANNEL (intercepted
 * chat.postMessage). The policy is the shipped policies/default.yml with the
 * dba role filled in, as an operator would: DBAs change the pool, everyone
 * may list it.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRow } from '../../src/core/ports/store.js';
import {
  postInteraction,
  postSlashCommand,
  RESPONSE_ORIGIN,
  SIGNING_SECRET,
  startHttpBotStack,
  type ApiCall,
  type HttpBotStack,
} from './slack-harness.js';
import { until } from '../helpers/wait.js';

const POOL_CHANNEL = 'CPOOL';
const OPS_CHANNEL = 'COPS';
const DBA = 'UDBA1';
const DBA2 = 'UDBA2';
/** Ten DBAs for the concurrent adds. */
const CROWD = Array.from({ length: 10 }, (_, i) => `UOPS${i}`);
/** Not in the dba role. */
const GUEST = 'UGUEST';

/** One /pool command as the test sees it once the bot has finished with it. */
interface Done {
  trigger: string;
  audit: AuditRow;
  /** What the bot posted to this command's response_url. */
  replies: Record<string, unknown>[];
  /** The text of those replies (text plus every section's text). */
  replyText: string;
}

/** The text a Slack message body carries: its `text` and the text of its blocks. */
function textOf(body: Record<string, unknown>): string {
  const blocks =
    typeof body.blocks === 'string'
      ? (JSON.parse(body.blocks) as unknown[])
      : ((body.blocks as unknown[] | undefined) ?? []);
  const texts: string[] = [String(body.text ?? '')];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'text' && typeof x === 'string') texts.push(x);
        else walk(x);
      }
    }
  };
  walk(blocks);
  return texts.join('\n');
}

/** The Server/Before/After/By/Why fields of an announcement. */
function fieldsOf(call: ApiCall): Record<string, string> {
  const blocks = JSON.parse(call.body.blocks ?? '[]') as { fields?: { text: string }[] }[];
  const fields = blocks.flatMap((b) => b.fields ?? []).map((f) => /^\*(.+?)\*\n([\s\S]*)$/.exec(f.text));
  return Object.fromEntries(fields.filter((m) => m !== null).map((m) => [m[1], m[2]]));
}

/** The shipped policy with its (empty) dba role filled in, as an operator does. */
function withDbas(shipped: string, users: string[]): string {
  const filled = shipped.replace(/(\n {2}dba:\n {4}users: )\[\]/, `$1[${users.join(', ')}]`);
  if (filled === shipped) throw new Error('policies/default.yml no longer has an empty dba role to fill in');
  return filled;
}

describe('/pool through Slack over HTTP, on a real MariaDB', () => {
  let stack: HttpBotStack;
  let raw: mysql.Connection;
  let trigger = 0;

  beforeAll(async () => {
    stack = await startHttpBotStack({
      policy: { yaml: withDbas(readFileSync('policies/default.yml', 'utf8'), [DBA, DBA2, ...CROWD]) },
      env: { GEAROPS_POOL_CHANNEL: POOL_CHANNEL },
    });
    raw = await mysql.createConnection(stack.db.url);
  });

  afterAll(async () => {
    await raw?.end();
    await stack?.stop();
  });

  const rows = async (sql: string, params: unknown[] = []) => (await raw.query<mysql.RowDataPacket[]>(sql, params))[0];
  const nodes = async () =>
    (await rows('SELECT host, port, sock, type FROM nodes ORDER BY host, port')).map((r) => ({ ...r }));
  const historyCount = async () => Number((await rows('SELECT COUNT(*) AS n FROM pool_history'))[0]?.n);
  const announcements = () =>
    stack.api.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === POOL_CHANNEL);
  /** The command's audit row, once the bot has written it (the last thing it does for a command). */
  async function audited(requestId: string): Promise<AuditRow> {
    let row: AuditRow | undefined;
    await until(
      async () =>
        (row = (await stack.bot.ctx.store!.audit.recent(1000)).find((a) => a.requestId === requestId)) !== undefined,
      20_000,
    );
    return row!;
  }

  /** What a refused command must leave as it was: the table, the history and the pool channel. */
  const snapshot = async () => ({
    nodes: await nodes(),
    history: await historyCount(),
    announced: announcements().length,
  });
  const expectUnchanged = async (before: Awaited<ReturnType<typeof snapshot>>) =>
    expect(await snapshot()).toEqual(before);

  /** Posts a signed `/pool <text>`, answered at /respond/<trigger>; resolves with the trigger once Slack's request is acked. */
  async function send(
    text: string,
    user: string,
    channel = OPS_CHANNEL,
    responseUrl = (t: string) => `${RESPONSE_ORIGIN}/respond/${t}`,
  ): Promise<string> {
    const t = `pool-${++trigger}`;
    const r = await postSlashCommand(stack.base, SIGNING_SECRET, {
      command: '/pool',
      text,
      channel_id: channel,
      user_id: user,
      user_name: user.toLowerCase(),
      response_url: responseUrl(t),
      trigger_id: t,
    });
    expect(r.status).toBe(200);
    return t;
  }

  /** Posts a signed `/pool <text>` and waits until the bot has audited it (the command has finished, announcements included). */
  async function pool(text: string, user = DBA, channel = OPS_CHANNEL): Promise<Done> {
    const t = await send(text, user, channel);
    const audit = await audited(t);
    const replies = stack.responses.filter((x) => x.path === `/respond/${t}`).map((x) => x.body);
    return { trigger: t, audit, replies, replyText: replies.map(textOf).join('\n') };
  }

  /**
   * Posts a signed `/pool del …` and resolves once its confirmation question has arrived, with the confirm id and the
   * command's trigger: at the response_url, or (`expiredResponseUrl`) through chat.postEphemeral when that URL fails.
   */
  async function askDelete(
    text: string,
    user = DBA,
    expiredResponseUrl = false,
  ): Promise<{ trigger: string; confirmId: string; question: string }> {
    const from = stack.api.calls.length;
    const t = await send(
      text,
      user,
      OPS_CHANNEL,
      expiredResponseUrl ? (x) => `${RESPONSE_ORIGIN}/expired/${x}` : undefined,
    );
    const asked = (): Record<string, unknown> | undefined =>
      expiredResponseUrl
        ? stack.api.calls
            .slice(from)
            .find((c) => c.method === 'chat.postEphemeral' && c.body.user === user && c.body.channel === OPS_CHANNEL)
            ?.body
        : stack.responses.find((x) => x.path === `/respond/${t}`)?.body;
    await until(() => asked() !== undefined);
    const question = asked()!;
    if (!expiredResponseUrl) expect(question.response_type).toBe('ephemeral');
    const blocks = (typeof question.blocks === 'string' ? JSON.parse(question.blocks) : question.blocks) as {
      type: string;
      elements?: { action_id: string; value: string; text: { text: string } }[];
    }[];
    const actions = blocks.find((b) => b.type === 'actions');
    expect(actions?.elements?.map((e) => [e.action_id, e.text.text])).toEqual([
      ['gearops.confirm.yes', 'Delete'],
      ['gearops.confirm.no', 'Cancel'],
    ]);
    const ids = new Set(actions!.elements!.map((e) => e.value));
    expect(ids.size).toBe(1);
    return { trigger: t, confirmId: [...ids][0]!, question: textOf(question) };
  }

  /** Presses a confirm button as `user`; its answer goes to /respond/press-<n>. */
  let press = 0;
  async function pressButton(
    actionId: 'gearops.confirm.yes' | 'gearops.confirm.no',
    confirmId: string,
    user: string,
  ): Promise<string> {
    const url = `/respond/press-${++press}`;
    const r = await postInteraction(stack.base, SIGNING_SECRET, {
      type: 'block_actions',
      team: { id: 'T1' },
      user: { id: user, name: user.toLowerCase() },
      channel: { id: OPS_CHANNEL },
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: OPS_CHANNEL, is_ephemeral: true },
      response_url: `${RESPONSE_ORIGIN}${url}`,
      trigger_id: `press-${press}`,
      actions: [
        { type: 'button', action_id: actionId, value: confirmId, action_ts: `1700000001.${press}`, block_id: 'b' },
      ],
    });
    expect(r.status).toBe(200);
    return url;
  }

  it('adds a server offline and one with types; each lands in nodes and is announced once in the pool channel with before → after, who and why', async () => {
    const before = announcements().length;
    const offline = await pool('add db1:3306 new replica, warming up');
    expect(offline.audit).toMatchObject({
      command: 'pool',
      status: 'ok',
      decision: 'allow',
      userId: DBA,
      source: 'slack',
    });
    const typed = await pool('add db2:3307 READ,WRITE sock=/var/run/mysqld/db2.sock new primary', DBA2);
    expect(typed.audit.status).toBe('ok');

    expect(await nodes()).toEqual([
      { host: 'db1', port: 3306, sock: '', type: '' },
      { host: 'db2', port: 3307, sock: '/var/run/mysqld/db2.sock', type: 'READ,WRITE' },
    ]);
    const posted = announcements().slice(before);
    expect(posted).toHaveLength(2);
    expect(fieldsOf(posted[0]!)).toEqual({
      Server: 'db1:3306',
      Before: 'not in pool',
      After: 'offline',
      By: `<@${DBA}>`,
      Why: 'new replica, warming up',
    });
    expect(fieldsOf(posted[1]!)).toEqual({
      Server: 'db2:3307',
      Before: 'not in pool',
      After: 'READ,WRITE',
      By: `<@${DBA2}>`,
      Why: 'new primary',
    });
    // The plain text (notifications, clients without blocks) mentions the user too, not a literal "<@…>".
    expect(posted[1]!.body.text).toBe('Pool: db2:3307 not in pool → READ,WRITE by <@UDBA2> — new primary');
    // The channel where it was typed hears of it too (a plain message, not an ephemeral).
    expect(
      stack.api.calls.some(
        (c) =>
          c.method === 'chat.postMessage' &&
          c.body.channel === OPS_CHANNEL &&
          textOf(c.body).includes('db1:3306 not in pool → offline'),
      ),
    ).toBe(true);

    const h = (await stack.bot.ctx.store!.pool.history(10))
      .filter((x) => x.host === 'db1' || x.host === 'db2')
      .reverse();
    expect(h.map((x) => [x.host, x.before, x.after, x.actor, x.reason])).toEqual([
      ['db1', null, [], DBA, 'new replica, warming up'],
      ['db2', null, ['READ', 'WRITE'], DBA2, 'new primary'],
    ]);
  });

  it('answers a duplicate add ephemerally with "already in the pool" and changes and announces nothing', async () => {
    const before = await snapshot();
    const dup = await pool('add db2:3307 READ again', DBA2);
    expect(dup.audit.status).toBe('refused');
    expect(dup.replies.every((r) => r.response_type === 'ephemeral')).toBe(true);
    expect(dup.replyText).toContain('db2:3307 is already in the pool as READ,WRITE; nothing was changed');
    await expectUnchanged(before);
  });

  it('answers bad input (bad port, bad type, SQL-looking host or socket) with usage and changes nothing', async () => {
    const before = await snapshot();
    const bad = [
      'add db3:0',
      'add db3:99999',
      'add db3:3306 READER',
      'add db3:3306 READ,WIRTE',
      "add db3');DROP TABLE nodes;--:3306",
      "add x'OR'1'='1:3306",
      'add db3:3306 sock=../../etc/passwd',
      'set db1:3306 SUPER',
      'set db1:3306',
      'offline nohost',
      'del :3306',
    ];
    for (const text of bad) {
      const d = await pool(text);
      expect(d.audit.status, text).toBe('refused');
      expect(
        d.replies.map((r) => r.response_type),
        text,
      ).toEqual(['ephemeral']);
      expect(d.replyText, text).toContain('Usage:\n/pool list');
    }
    await expectUnchanged(before);
    expect(
      (
        await rows(
          "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'nodes'",
        )
      )[0]?.n,
    ).toBe(1);
  });

  it('announces set and offline, says so when nothing changes, and posts only once when typed in the pool channel', async () => {
    const before = announcements().length;
    expect((await pool('set db1:3306 READ warmed up')).audit.status).toBe('ok');
    expect((await rows('SELECT type FROM nodes WHERE host = ? AND port = ?', ['db1', 3306]))[0]?.type).toBe('READ');
    const same = await pool('set db1:3306 read');
    expect(same.replyText).toContain('db1:3306 is already READ; nothing was changed.');
    expect((await pool('offline db2:3307 disk full', DBA2, POOL_CHANNEL)).audit.status).toBe('ok');
    expect((await rows('SELECT type FROM nodes WHERE host = ? AND port = ?', ['db2', 3307]))[0]?.type).toBe('');

    const posted = announcements().slice(before);
    expect(posted.map(fieldsOf)).toEqual([
      { Server: 'db1:3306', Before: 'offline', After: 'READ', By: `<@${DBA}>`, Why: 'warmed up' },
      { Server: 'db2:3307', Before: 'READ,WRITE', After: 'offline', By: `<@${DBA2}>`, Why: 'disk full' },
    ]);
    const h = (await stack.bot.ctx.store!.pool.history(2)).reverse();
    expect(h.map((x) => [x.host, x.before, x.after, x.actor, x.reason])).toEqual([
      ['db1', [], ['READ'], DBA, 'warmed up'],
      ['db2', ['READ', 'WRITE'], [], DBA2, 'disk full'],
    ]);
  });

  it('lists the pool ephemerally, to anyone', async () => {
    const l = await pool('list', GUEST);
    expect(l.audit.status).toBe('ok');
    expect(l.replies.map((r) => r.response_type)).toEqual(['ephemeral']);
    expect(l.replyText).toMatch(/db1:3306\s+-\s+READ/);
    expect(l.replyText).toMatch(/db2:3307\s+\/var\/run\/mysqld\/db2\.sock\s+offline/);
  });

  it('denies a change to a user outside the dba role, with the reason, and changes nothing', async () => {
    const before = await snapshot();
    for (const text of ['add guest1:3306 READ', 'offline db1:3306', 'del db1:3306']) {
      const d = await pool(text, GUEST);
      expect(d.audit, text).toMatchObject({ decision: 'deny', status: 'denied' });
      expect(
        d.replies.map((r) => r.response_type),
        text,
      ).toEqual(['ephemeral']);
      expect(d.replyText, text).toMatch(/^Denied: /);
      expect(JSON.stringify(d.replies), text).not.toContain('gearops.confirm');
      expect(d.replyText, text).toContain('dba-changes');
    }
    await expectUnchanged(before);
  });

  it('asks to confirm a del with buttons; a press by another user and Cancel change nothing', async () => {
    const before = await snapshot();
    const ask = await askDelete('del db1:3306 retiring');
    expect(ask.question).toContain('Delete db1:3306 (READ) from the pool? Reason: retiring');
    // Another DBA presses "Delete" on someone else's question: refused with the reason; the question still waits.
    const intruder = await pressButton('gearops.confirm.yes', ask.confirmId, DBA2);
    const refusal = () => stack.responses.filter((r) => r.path === intruder);
    await until(() => refusal().length > 0);
    expect(refusal().map((r) => [r.body.text, r.body.replace_original])).toEqual([
      [`Only <@${DBA}> can answer this question; your press changed nothing.`, false],
    ]);
    const owner = await pressButton('gearops.confirm.no', ask.confirmId, DBA);
    expect(await audited(ask.trigger)).toMatchObject({
      status: 'refused',
      summary: 'delete not confirmed',
      userId: DBA,
    });
    expect(stack.responses.filter((r) => r.path === owner).map((r) => r.body.text)).toEqual(['Cancelled.']);
    expect(
      stack.responses
        .filter((r) => r.path === `/respond/${ask.trigger}`)
        .map((r) => textOf(r.body))
        .join('\n'),
    ).toContain('Not deleted: db1:3306 stays in the pool as READ.');
    await expectUnchanged(before);
  });

  it('deletes on the asker pressing "Delete", once, and announces it', async () => {
    const before = announcements().length;
    const ask = await askDelete('del db1:3306 retired');
    const yes = await pressButton('gearops.confirm.yes', ask.confirmId, DBA);
    expect(await audited(ask.trigger)).toMatchObject({ status: 'ok', userId: DBA });
    expect(stack.responses.filter((r) => r.path === yes).map((r) => r.body.text)).toEqual(['Confirmed.']);
    expect(await rows('SELECT * FROM nodes WHERE host = ? AND port = ?', ['db1', 3306])).toEqual([]);
    const posted = announcements().slice(before);
    expect(posted.map(fieldsOf)).toEqual([
      { Server: 'db1:3306', Before: 'READ', After: 'not in pool', By: `<@${DBA}>`, Why: 'retired' },
    ]);
    expect((await stack.bot.ctx.store!.pool.history(1))[0]).toMatchObject({
      host: 'db1',
      port: 3306,
      before: ['READ'],
      after: null,
      actor: DBA,
      reason: 'retired',
    });

    // A second press of the same button is told it counts for nothing: no second delete, no second announcement.
    const again = await pressButton('gearops.confirm.yes', ask.confirmId, DBA);
    await until(() => stack.responses.some((r) => r.path === again));
    expect(stack.responses.filter((r) => r.path === again).map((r) => r.body.text)).toEqual([
      'This question was already answered; your press changed nothing.',
    ]);
    const del = await pool('del db1:3306 retired');
    expect(del.replyText).toContain('db1:3306 is not in the pool; nothing was changed.');
    expect(announcements().length).toBe(before + 1);
  });

  it('lands ten concurrent signed adds from ten users: ten rows, ten history rows, ten announcements', async () => {
    const before = announcements().length;
    const history = await historyCount();
    const done = await Promise.all(CROWD.map((user, i) => pool(`add web${i}:3306 READ scale-out ${i}`, user)));
    expect(done.map((d) => d.audit.status)).toEqual(Array(10).fill('ok'));
    const web = await rows("SELECT host, port, type FROM nodes WHERE host LIKE 'web%' ORDER BY host");
    expect(web.map((r) => [r.host, r.port, r.type])).toEqual(CROWD.map((_, i) => [`web${i}`, 3306, 'READ']));
    expect(await historyCount()).toBe(history + 10);
    const h = (await stack.bot.ctx.store!.pool.history(10)).filter((x) => x.host.startsWith('web'));
    expect(h.map((x) => `${x.host}/${x.actor}/${x.reason}`).sort()).toEqual(
      CROWD.map((u, i) => `web${i}/${u}/scale-out ${i}`).sort(),
    );
    const posted = announcements().slice(before).map(fieldsOf);
    expect(posted).toHaveLength(10);
    expect(posted.map((f) => `${f.Server} ${f.Before}→${f.After} ${f.By}`).sort()).toEqual(
      CROWD.map((u, i) => `web${i}:3306 not in pool→READ <@${u}>`).sort(),
    );
  });

  it('falls back to chat.postEphemeral for the question when the response_url has expired, and the button there still deletes', async () => {
    // Slack's response_url lives 30 minutes; after that it answers 404.
    nock(RESPONSE_ORIGIN)
      .persist()
      .post(/^\/expired\//)
      .reply(404, 'expired_url');
    expect((await pool('add db9:3306 WRITE stand-by')).audit.status).toBe('ok');
    const before = announcements().length;
    const ask = await askDelete('del db9:3306 gone for good', DBA, true);
    expect(ask.question).toContain('Delete db9:3306 (WRITE) from the pool? Reason: gone for good');
    await pressButton('gearops.confirm.yes', ask.confirmId, DBA);
    expect(await audited(ask.trigger)).toMatchObject({ status: 'ok', userId: DBA });
    expect(await rows('SELECT * FROM nodes WHERE host = ? AND port = ?', ['db9', 3306])).toEqual([]);
    expect(announcements().slice(before).map(fieldsOf)).toEqual([
      { Server: 'db9:3306', Before: 'WRITE', After: 'not in pool', By: `<@${DBA}>`, Why: 'gone for good' },
    ]);
  });
});
