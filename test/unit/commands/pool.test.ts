import { describe, expect, it } from 'vitest';
import {
  createPoolCommand,
  isPoolHost,
  looksLikeType,
  parseServerArg,
  parseSock,
  parseTypes,
} from '../../../commands/pool.js';
import { createSilentLogger } from '../../../src/log.js';
import { renderText, type ChatMessage } from '../../../src/core/message.js';
import type { ChatSink } from '../../../src/core/ports/chat.js';
import type { Principal } from '../../../src/core/ports/commands.js';
import type { Decision, PolicyAction, PolicyPrincipal } from '../../../src/core/ports/policy.js';
import type { PoolNode, PoolStore } from '../../../src/core/ports/store.js';
import { createFakePolicy, createRecordingReply, routed } from '../fakes/ports.js';
import { createMemoryPool } from '../fakes/memory-store.js';

/**
 * The in-memory PoolStore (test/unit/fakes/memory-store.ts, held to the store's contract) counting every call, so
 * "changes nothing" is checkable. `history` is every change, oldest first.
 */
function createFakePoolStore(initial: PoolNode[] = []) {
  const mem = createMemoryPool(initial);
  const calls: string[] = [];
  const counted = <K extends keyof PoolStore>(k: K) =>
    ((...a: unknown[]) => (calls.push(k), (mem[k] as (...x: unknown[]) => unknown)(...a))) as PoolStore[K];
  const store: PoolStore = {
    moveWrite: counted('moveWrite'),
    list: counted('list'),
    get: counted('get'),
    add: counted('add'),
    set: counted('set'),
    del: counted('del'),
    history: (limit) => mem.history(limit),
  };
  const writes = () => calls.filter((c) => c === 'add' || c === 'set' || c === 'del').length;
  return { store, rows: mem.rows, calls, history: mem.changes, writes };
}

function createRecordingSink() {
  const posts: Array<{ channel: string; text: string }> = [];
  const sink: ChatSink = {
    async post(channel: string, msg: ChatMessage) {
      posts.push({ channel, text: renderText(msg) });
      return { channel, ts: `200.${posts.length}` };
    },
    async update() {},
    async upload() {},
  };
  return { sink, posts };
}

const ALL: PolicyAction[] = ['pool.list', 'pool.add', 'pool.set', 'pool.offline', 'pool.del'];
const principal: Principal = { userId: 'U123', userName: 'ana', channelId: 'COPS', groups: ['S9'], roles: ['dba'] };

function setup(
  opts: {
    nodes?: PoolNode[];
    allow?: PolicyAction[];
    confirm?: boolean;
    channel?: string;
    poolChannel?: string | null;
    resolveSock?: (h: string, p: number) => string;
  } = {},
) {
  const pool = createFakePoolStore(opts.nodes);
  const sink = createRecordingSink();
  const base = createFakePolicy({ allowActions: opts.allow ?? ALL });
  const checks: Array<{ action: PolicyAction; host?: string; principal: PolicyPrincipal }> = [];
  const policy = {
    ...base,
    checkAction(req: { action: PolicyAction; host?: string; principal: PolicyPrincipal }): Decision {
      checks.push(req);
      return base.checkAction(req);
    },
  };
  const cmd = createPoolCommand({
    policy,
    pool: pool.store,
    chat: sink.sink,
    poolChannel: opts.poolChannel === null ? undefined : (opts.poolChannel ?? 'CPOOL'),
    logger: createSilentLogger(),
    resolveSock: opts.resolveSock,
  });
  const run = async (text: string, source: 'slack' | 'console' = 'slack') => {
    const rec = createRecordingReply(opts.channel ?? 'COPS', { confirm: opts.confirm ?? true });
    const out = await routed(cmd, policy).handle({
      command: 'pool',
      text,
      principal,
      reply: rec.reply,
      source,
      requestId: 'r1',
    });
    return { out, rec };
  };
  return { cmd, pool, sink, checks, run };
}

const db3 = (type: PoolNode['type'] = ['READ']): PoolNode => ({ host: 'db3', port: 3306, sock: '/tmp/db3.sock', type });

describe('/pool argument parsing', () => {
  it('accepts host names and IPv4 addresses up to 28 characters with ports 1..65535', () => {
    expect(parseServerArg('db3:3306')).toEqual({ host: 'db3', port: 3306 });
    expect(parseServerArg('10.0.0.7:1')).toEqual({ host: '10.0.0.7', port: 1 });
    expect(parseServerArg('db-3.eu.example.com:65535')).toEqual({ host: 'db-3.eu.example.com', port: 65535 });
    expect(isPoolHost('a'.repeat(28))).toBe(true);
    expect(isPoolHost('a'.repeat(29))).toBe(false);
    expect(isPoolHost('300.1.1.1')).toBe(false);
    expect(isPoolHost('-db3')).toBe(false);
    expect(isPoolHost('db_3')).toBe(false);
  });

  it('parses types case-insensitively, deduplicated and sorted, and rejects anything else', () => {
    expect(parseTypes('write,read')).toEqual(['READ', 'WRITE']);
    expect(parseTypes('Read,READ')).toEqual(['READ']);
    for (const bad of ['READER', 'READ,', '', 'READ;WRITE', 'OFFLINE'])
      expect(() => parseTypes(bad), bad).toThrow(/is not a type/);
  });

  it('accepts only absolute socket paths of at most 64 characters without ..', () => {
    expect(parseSock('/var/run/mysqld/mysqld.sock')).toBe('/var/run/mysqld/mysqld.sock');
    for (const bad of ['../x', 'tmp/x.sock', '/tmp/../etc/passwd', `/${'s'.repeat(64)}`, '/tmp/x;rm', "/tmp/x'"])
      expect(() => parseSock(bad), bad).toThrow(/sock=/);
  });
});

describe('/pool command', () => {
  it('lists the pool as a table with offline servers shown as offline', async () => {
    const t = setup({ nodes: [db3(['READ', 'WRITE']), { host: 'db4', port: 3307, sock: '', type: [] }] });
    const { out, rec } = await t.run('list');
    expect(out.status).toBe('ok');
    const table = rec.ephemerals[0] ?? '';
    expect(table).toMatch(/server\s+sock\s+type/);
    expect(table).toMatch(/db3:3306\s+\/tmp\/db3\.sock\s+READ,WRITE/);
    expect(table).toMatch(/db4:3307\s+-\s+offline/);
    expect(t.checks[0]).toEqual({
      action: 'pool.list',
      host: undefined,
      principal: { userId: 'U123', channelId: 'COPS', groups: ['S9'], roles: ['dba'] },
    });
  });

  it('adds a server with type, sock and reason: one announcement in the pool channel, a visible confirmation for the requester', async () => {
    const t = setup();
    const { out, rec } = await t.run('add db3:3306 read sock=/tmp/db3.sock back from maintenance');
    expect(out.status).toBe('ok');
    expect(t.pool.rows.get('db3:3306')).toEqual({ host: 'db3', port: 3306, sock: '/tmp/db3.sock', type: ['READ'] });
    expect(t.pool.history[0]).toMatchObject({
      actor: 'U123',
      reason: 'back from maintenance',
      before: null,
      after: ['READ'],
    });
    expect(t.sink.posts).toHaveLength(1);
    expect(t.sink.posts[0]!.channel).toBe('CPOOL');
    expect(t.sink.posts[0]!.text).toMatch(/db3:3306 not in pool → READ by <@U123> — back from maintenance/);
    expect(rec.posts).toHaveLength(1);
    expect(rec.posts[0]!.text).toMatch(/db3:3306 not in pool → READ by <@U123>/);
    expect(t.checks.map((c) => [c.action, c.host])).toEqual([['pool.add', 'db3']]);
  });

  it('adds a server without a type offline (as pool_add does), sock before type, default reason and resolved sock', async () => {
    const t = setup({ resolveSock: (h, p) => `/sandboxes/${h}-${p}/mysqld.sock` });
    expect((await t.run('add db5:3306')).out.status).toBe('ok');
    expect(t.pool.rows.get('db5:3306')).toEqual({
      host: 'db5',
      port: 3306,
      sock: '/sandboxes/db5-3306/mysqld.sock',
      type: [],
    });
    expect(t.sink.posts[0]!.text).toMatch(/db5:3306 not in pool → offline by <@U123> — \(no reason given\)/);
    expect((await t.run('add db6:3306 sock=/s/db6.sock WRITE')).out.status).toBe('ok');
    expect(t.pool.rows.get('db6:3306')).toMatchObject({ sock: '/s/db6.sock', type: ['WRITE'] });
  });

  it('answers "already in the pool" with the current type and changes nothing', async () => {
    const t = setup({ nodes: [db3(['READ'])] });
    const { out, rec } = await t.run('add db3:3306 WRITE');
    expect(out.status).toBe('refused');
    expect(rec.ephemerals[0]).toMatch(/db3:3306 is already in the pool as READ; nothing was changed/);
    expect(t.pool.rows.get('db3:3306')?.type).toEqual(['READ']);
    expect(t.sink.posts).toHaveLength(0);
    expect(rec.posts).toHaveLength(0);
  });

  it('sets types and takes a server offline, announcing before → after', async () => {
    const t = setup({ nodes: [db3(['READ'])] });
    expect((await t.run('set db3:3306 write,read promoted')).out.status).toBe('ok');
    expect(t.pool.rows.get('db3:3306')?.type).toEqual(['READ', 'WRITE']);
    expect((await t.run('offline db3:3306 disk full')).out.status).toBe('ok');
    expect(t.pool.rows.get('db3:3306')?.type).toEqual([]);
    expect(t.sink.posts.map((p) => p.text.split('\n')[0])).toEqual([
      'Pool: db3:3306 READ → READ,WRITE by <@U123> — promoted',
      'Pool: db3:3306 READ,WRITE → offline by <@U123> — disk full',
    ]);
    expect(t.checks.map((c) => c.action)).toEqual(['pool.set', 'pool.offline']);
  });

  it('says "already" and announces nothing when a set would not change the type', async () => {
    const t = setup({ nodes: [db3([])] });
    const { out, rec } = await t.run('offline db3:3306');
    expect(out.status).toBe('ok');
    expect(rec.ephemerals[0]).toMatch(/already offline; nothing was changed/);
    expect(t.sink.posts).toHaveLength(0);
    expect(t.pool.history).toHaveLength(0);
  });

  it('answers set/offline/del of an unknown server with "not in the pool" and the usage', async () => {
    const t = setup();
    for (const text of ['set db9:3306 READ', 'offline db9:3306', 'del db9:3306']) {
      const { out, rec } = await t.run(text);
      expect(out.status, text).toBe('refused');
      expect(rec.ephemerals[0], text).toMatch(/db9:3306 is not in the pool; nothing was changed[\s\S]*Usage:/);
    }
    expect(t.sink.posts).toHaveLength(0);
    expect(t.pool.history).toHaveLength(0);
  });

  it('deletes only after a yes; a no changes nothing', async () => {
    const no = setup({ nodes: [db3(['READ'])], confirm: false });
    const refused = await no.run('del db3:3306 decommissioned');
    expect(refused.out.status).toBe('refused');
    expect(refused.rec.confirms[0]).toMatch(/Delete db3:3306 \(READ\) from the pool\? Reason: decommissioned/);
    expect(refused.rec.ephemerals[0]).toMatch(/Not deleted/);
    expect(no.pool.rows.has('db3:3306')).toBe(true);
    expect(no.pool.calls).not.toContain('del');
    expect(no.sink.posts).toHaveLength(0);

    const yes = setup({ nodes: [db3(['READ'])], confirm: true });
    expect((await yes.run('del db3:3306 decommissioned')).out.status).toBe('ok');
    expect(yes.pool.rows.has('db3:3306')).toBe(false);
    expect(yes.sink.posts[0]!.text).toMatch(/db3:3306 READ → not in pool by <@U123> — decommissioned/);
  });

  it('takes --yes as the answer in the console only, and keeps it out of the reason', async () => {
    const console = setup({ nodes: [db3(['READ'])], confirm: false });
    const c = await console.run('del db3:3306 --yes retired', 'console');
    expect(c.out.status).toBe('ok');
    expect(c.rec.confirms).toHaveLength(0);
    expect(console.pool.history[0]?.reason).toBe('retired');

    const slack = setup({ nodes: [db3(['READ'])], confirm: false });
    const s = await slack.run('del db3:3306 --yes retired', 'slack');
    expect(s.out.status).toBe('refused');
    expect(s.rec.confirms).toHaveLength(1);
    expect(slack.pool.rows.has('db3:3306')).toBe(true);
  });

  const badInputs = [
    'add db3',
    'add db3:0',
    'add db3:99999',
    'add db3:3306 READER',
    'add db3:3306 READ sock=../x',
    'add db3:3306 sock=/tmp/../x',
    `add ${'h'.repeat(40)}:3306`,
    "add db3'; DROP TABLE nodes;--:3306",
    "add db3';DROP:3306",
    'add :3306',
    'add db3:33a6',
    'add 999.1.1.1:3306',
    'set db3:3306',
    'set db3:3306 READER',
    'set db3:3306 read,wirte',
    'offline db3',
    'del db3:-1',
    'del',
  ];
  it.each(badInputs)('answers `%s` with the usage, status refused, and no store call', async (text) => {
    const t = setup({ nodes: [db3(['READ'])] });
    const { out, rec } = await t.run(text);
    expect(out.status).toBe('refused');
    expect(rec.ephemerals).toHaveLength(1);
    expect(rec.ephemerals[0]).toMatch(/Usage:\n\/pool list/);
    expect(rec.posts).toHaveLength(0);
    expect(t.pool.calls).toEqual([]);
    expect(t.sink.posts).toHaveLength(0);
    expect(t.checks).toHaveLength(0);
  });

  it('denies a subcommand the policy does not allow, with the reason, and touches nothing', async () => {
    const t = setup({ nodes: [db3(['READ'])], allow: ['pool.list'] });
    for (const [text, action] of [
      ['add db4:3306 READ', 'pool.add'],
      ['set db3:3306 WRITE', 'pool.set'],
      ['offline db3:3306', 'pool.offline'],
      ['del db3:3306', 'pool.del'],
    ] as const) {
      const { out, rec } = await t.run(text);
      expect(out.status, text).toBe('denied');
      expect(rec.ephemerals[0], text).toBe(`Denied: no rule allows ${action}`);
      expect(rec.confirms, text).toHaveLength(0);
    }
    expect(t.pool.writes()).toBe(0);
    expect(t.pool.calls).not.toContain('get');
    expect(t.sink.posts).toHaveLength(0);
    const denied = setup({ allow: [] });
    expect((await denied.run('list')).out.status).toBe('denied');
    expect(denied.pool.calls).toEqual([]);
  });

  it('help shows the usage and what the policy lets this user do', async () => {
    const t = setup({ allow: ['pool.list', 'pool.offline'] });
    const { out, rec } = await t.run('help');
    expect(out.status).toBe('ok');
    const text = rec.ephemerals[0] ?? '';
    expect(text).toMatch(/Usage:\n\/pool list/);
    expect(text).toMatch(/✓ list: allowed by rule fake/);
    expect(text).toMatch(/✓ offline: allowed by rule fake/);
    expect(text).toMatch(/✗ add: no rule allows pool\.add/);
    expect(text).toMatch(/✗ del: no rule allows pool\.del/);
    expect(t.checks.map((c) => c.action).sort()).toEqual([...ALL].sort());
    const unknown = await t.run('drop db3:3306');
    expect(unknown.out.status).toBe('refused');
    expect(unknown.rec.ephemerals[0]).toMatch(/Unknown subcommand `drop`/);
  });

  it('posts one message when typed in the pool channel itself, and only the confirmation when no pool channel is set', async () => {
    const inPool = setup({ channel: 'CPOOL' });
    const a = await inPool.run('add db3:3306 READ');
    expect(inPool.sink.posts).toHaveLength(1);
    expect(a.rec.posts).toHaveLength(0);

    const none = setup({ poolChannel: null });
    const b = await none.run('add db3:3306 READ');
    expect(b.out.status).toBe('ok');
    expect(none.sink.posts).toHaveLength(0);
    expect(b.rec.posts).toHaveLength(1);
  });

  it('still confirms a committed change when the announcement fails', async () => {
    const t = setup();
    t.sink.sink.post = async () => {
      throw new Error('channel_not_found');
    };
    const { out, rec } = await t.run('add db3:3306 READ');
    expect(out.status).toBe('ok');
    expect(t.pool.rows.has('db3:3306')).toBe(true);
    expect(rec.ephemerals[0]).toMatch(/announcing it in <#CPOOL> failed: channel_not_found/);
    expect(rec.posts).toHaveLength(1);
  });
});

describe('/pool types are keywords: a mistyped type is refused, not taken as a reason', () => {
  const typos = [
    'add 10.0.0.6:3306 DELETE',
    'add 10.0.0.6:3306 REDA',
    'add 10.0.0.6:3306 WRTIE',
    'add 10.0.0.6:3306 RAED maintenance',
    'add 10.0.0.6:3306 raed',
    'add 10.0.0.6:3306 wrte',
    'add 10.0.0.6:3306 sock=/tmp/x.sock RW',
    'add 10.0.0.6:3306 offline',
    'add 10.0.0.6:3306 READ WRITE',
    'set db3:3306 DELETE',
    'set db3:3306 RAED',
    'set db3:3306 READ WRITE',
    'set db3:3306 reason=promoted',
    'offline db3:3306 READ',
    'offline db3:3306 WRTIE disk full',
    'offline db3:3306 noen',
  ];
  it.each(typos)('refuses `%s`, names the valid types, and changes nothing', async (text) => {
    const t = setup({ nodes: [db3(['READ'])] });
    const { out, rec } = await t.run(text);
    expect(out.status).toBe('refused');
    expect(rec.ephemerals).toHaveLength(1);
    const answer = rec.ephemerals[0]!;
    if (text.startsWith('offline')) expect(answer).toMatch(/it takes no type/);
    else expect(answer).toMatch(/use READ, WRITE, READ,WRITE or none/);
    expect(answer).toMatch(/Usage:\n\/pool list/);
    expect(t.pool.calls).toEqual([]);
    expect(t.checks).toHaveLength(0);
    expect(t.sink.posts).toHaveLength(0);
  });

  it('takes none as offline, and a reason after -- or reason= whatever its first word', async () => {
    const t = setup({ nodes: [db3(['READ'])] });
    expect((await t.run('add 10.0.0.6:3306 none -- DELETE after the migration')).out.status).toBe('ok');
    expect(t.pool.rows.get('10.0.0.6:3306')?.type).toEqual([]);
    expect((await t.run('set db3:3306 NONE reason=RAID rebuild')).out.status).toBe('ok');
    expect(t.pool.rows.get('db3:3306')?.type).toEqual([]);
    expect((await t.run('set db3:3306 read,write -- READ WRITE again')).out.status).toBe('ok');
    expect((await t.run('offline db3:3306 none -- OFFLINE for the night')).out.status).toBe('ok');
    expect(t.pool.history.map((h) => h.reason)).toEqual([
      'DELETE after the migration',
      'RAID rebuild',
      'READ WRITE again',
      'OFFLINE for the night',
    ]);
  });

  it('keeps the free-form reason when its first word cannot be a type', async () => {
    const t = setup({ nodes: [db3(['READ'])] });
    expect((await t.run('add 10.0.0.6:3306 READ dead replica replaced')).out.status).toBe('ok');
    expect((await t.run('offline db3:3306 node down, ticket DBA-12')).out.status).toBe('ok');
    expect((await t.run('del 10.0.0.6:3306 DELETE as planned')).out.status).toBe('ok');
    expect(t.pool.history.map((h) => h.reason)).toEqual([
      'dead replica replaced',
      'node down, ticket DBA-12',
      'DELETE as planned',
    ]);
  });

  it('tells a type-like word from a reason word', () => {
    for (const w of [
      'DELETE',
      'REDA',
      'WRTIE',
      'RAED',
      'raed',
      'READER',
      'Writes',
      'rw',
      'RO',
      'offline',
      'read,',
      'a,b',
    ])
      expect(looksLikeType(w), w).toBe(true);
    for (const w of ['READ', 'write', 'READ,WRITE', 'none', 'dead', 'node', 'real', 'back', 'maintenance', 'DBA-12'])
      expect(looksLikeType(w), w).toBe(false);
  });
});
