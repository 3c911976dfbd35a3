/**
 * The attack corpus: inputs an attacker controls, through the code that handles them, against what must hold.
 * Each hole found gets its cases here, in a describe block of its own.
 */
import { describe, expect, it } from 'vitest';
import { createPoolCommand } from '../../../commands/pool.js';
import { createReplicaCommand } from '../../../commands/replica.js';
import { createRunCommand, type RunValue } from '../../../commands/run.js';
import { renderSlack } from '../../../src/chat/slack/render.js';
import { createHostLimiter } from '../../../src/core/host-limiter.js';
import { createCommandRouter } from '../../../src/core/router.js';
import type { ChatMessage } from '../../../src/core/message.js';
import type { ChatSink, Reply } from '../../../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule } from '../../../src/core/ports/commands.js';
import type { Dispatcher, JobResult } from '../../../src/core/ports/dispatcher.js';
import type { ReplicationProbe } from '../../../src/core/ports/replication.js';
import type {
  ClusterRecord,
  ClusterStore,
  Incident,
  PoolChange,
  PoolNode,
  PoolStore,
} from '../../../src/core/ports/store.js';
import { createSilentLogger } from '../../../src/log.js';
import { alertMessage } from '../../../src/monitor/alert-message.js';
import { createFakePolicy } from '../fakes/ports.js';

/** Text that would ping, broadcast, link a channel or hide a link if it reached Slack unescaped. */
const PINGS = [
  '<@U0123ATTACK>',
  '<@W0123ATTACK|boss>',
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<!subteam^S0123|oncall>',
  '<#C0123ATTACK>',
  '<https://evil.example/login|Re-authenticate Slack>',
  '<mailto:ceo@example.com|mail>',
  // A forged mention token: the key it lacks is what makes the bot's own mentions live.
  '\uE000AAAAAAAAAAAA@U0123ATTACK\uE001',
];
const REQUESTER = 'UREQ';

/** Every live mention, broadcast, channel link or link in what Slack would receive. */
function liveMarkup(msgs: ChatMessage[]): string[] {
  return msgs.flatMap((m) => JSON.stringify(renderSlack(m)).match(/<[@!#][^>]*>|<(https?|mailto):[^>]*>/g) ?? []);
}

/** A Reply and a ChatSink that keep every message as the command built it (before any rendering). */
function capture() {
  const msgs: ChatMessage[] = [];
  const sink: ChatSink = {
    post: async (channel, m) => (msgs.push(m), { channel, ts: `1.${msgs.length}` }),
    update: async (_r, m) => void msgs.push(m),
    upload: async () => undefined,
  };
  const reply: Reply = {
    channel: 'COPS',
    ephemeral: async (m) => void msgs.push(m),
    post: (m) => sink.post('COPS', m),
    update: sink.update,
    upload: sink.upload,
    confirm: async (q) => (msgs.push(q), true),
  };
  return { msgs, sink, reply };
}

const inv = (command: string, text: string, reply: Reply): CommandInvocation => ({
  command,
  text,
  principal: { userId: REQUESTER, channelId: 'COPS', roles: [] },
  reply,
  source: 'slack',
  requestId: 'r1',
});

/** Runs `text` through `mod` and the router (which words refusals) and returns the markup Slack would make live. */
async function live(mod: (c: ReturnType<typeof capture>) => CommandModule, command: string, text: string) {
  const c = capture();
  const router = createCommandRouter({
    commands: [mod(c)],
    policy: createFakePolicy({}),
    logger: createSilentLogger(),
  });
  await router.dispatch(inv(command, text, c.reply));
  return { markup: liveMarkup(c.msgs), msgs: c.msgs };
}

/** The only live markup allowed: the bot's own mention of who ran the command, and its pool channel link. */
const intended = (markup: string[]) => markup.filter((x) => x !== `<@${REQUESTER}>` && x !== '<#CPOOL>');

function memoryPool(): PoolStore {
  const rows = new Map<string, PoolNode>();
  const change = (n: PoolNode, actor: string, reason: string): PoolChange => ({
    host: n.host,
    port: n.port,
    before: null,
    after: n.type,
    actor,
    reason,
  });
  return {
    list: async () => [...rows.values()],
    get: async (h, p) => rows.get(`${h}:${p}`) ?? null,
    add: async (n, actor, reason) => (rows.set(`${n.host}:${n.port}`, n), change(n, actor, reason)),
    set: async (h, p, type, actor, reason) => change({ host: h, port: p, sock: '', type }, actor, reason),
    del: async (h, p, actor, reason) => ({
      ...change({ host: h, port: p, sock: '', type: [] }, actor, reason),
      after: null,
    }),
    history: async () => [],
  };
}

describe('attack corpus: text from servers and users cannot ping anyone (mentions, broadcasts, links)', () => {
  const cluster: ClusterRecord = {
    name: 'c1',
    version: '10.11.6',
    credentials: 'sandbox',
    createdBy: REQUESTER,
    state: 'ready',
    nodes: [
      { host: 'server1', address: '10.0.0.1', port: 24000, role: 'master', serverId: 1, sandbox: 'c1' },
      { host: 'server2', address: '10.0.0.2', port: 24001, role: 'replica', serverId: 2, sandbox: 'c1' },
    ],
  } as ClusterRecord;
  const clusters: ClusterStore = {
    create: async () => undefined,
    get: async (n) => (n === 'c1' ? cluster : null),
    list: async () => [cluster],
    remove: async () => true,
    markReady: async () => true,
    markRemoving: async () => true,
  };
  const replica = (probe: Partial<ReplicationProbe>) => (c: ReturnType<typeof capture>) =>
    createReplicaCommand({
      dispatcher: {} as Dispatcher,
      policy: {
        ...createFakePolicy({ allowActions: ['replica.sql', 'replica.status', 'replica.list'] }),
        checkSql: () => ({ allow: true, rule: 'read-only-sql', reason: 'allowed by rule read-only-sql' }),
      },
      clusters,
      probe: probe as ReplicationProbe,
      chat: c.sink,
      logger: createSilentLogger(),
    });

  for (const p of PINGS) {
    it(`/replica sql: in MySQL error text, result values, column names and the echoed statement: ${JSON.stringify(p)}`, async () => {
      const r = await live(
        replica({
          exec: async (node) => {
            if (node.port === 24001) throw new Error(`ERROR 1064 (42000): near '${p}' at line 1`);
            return { columns: [p, 'v'], rows: [[p, `x ${p} y`]] };
          },
        }),
        'replica',
        `sql c1 SELECT '${p}' AS \`${p}\`, \`db\`.\`t\` FROM t WHERE c = '\`\`\`'`,
      );
      expect(r.msgs.length).toBeGreaterThan(0);
      expect(intended(r.markup)).toEqual([]);
    });

    it(`/replica status and sql: in a cluster name: ${JSON.stringify(p)}`, async () => {
      for (const text of [`status ${p}`, `sql ${p} SELECT 1`, `remove ${p}`, `install ${p} master=server1`]) {
        const r = await live(replica({}), 'replica', text);
        expect(r.msgs.length, text).toBeGreaterThan(0);
        expect(intended(r.markup), text).toEqual([]);
      }
    });

    it(`/pool: in a reason and in a refused host name: ${JSON.stringify(p)}`, async () => {
      const pool = (c: ReturnType<typeof capture>) =>
        createPoolCommand({
          policy: createFakePolicy({ allowActions: ['pool.list', 'pool.add', 'pool.set', 'pool.offline', 'pool.del'] }),
          pool: memoryPool(),
          chat: c.sink,
          poolChannel: 'CPOOL',
          logger: createSilentLogger(),
        });
      for (const text of [`add db1:3306 READ ${p}`, `add db2:3306 reason=${p}`, `add ${p}:3306 READ`, `del ${p}`]) {
        const r = await live(pool, 'pool', text);
        expect(r.msgs.length, text).toBeGreaterThan(0);
        expect(intended(r.markup), text).toEqual([]);
      }
    });

    it(`/run: in command output, in an error, and in a refused host name: ${JSON.stringify(p)}`, async () => {
      const value: RunValue = {
        exitCode: 1,
        signal: null,
        timedOut: false,
        truncated: false,
        outputBytes: 10,
        output: `line ${p}\n${p}\n`,
        durationMs: 5,
        rule: 'fake',
      };
      const dispatcher: Dispatcher = {
        submit: async <V>() =>
          ({
            host: 'server1',
            capability: 'run',
            handle: 'H:1',
            ok: true,
            value,
            error: null,
            durationMs: 5,
          }) as JobResult<V>,
        hosts: async () => [{ host: 'server1', capabilities: ['run'], servers: ['127.0.0.1:4730'] }],
        ping: async () => true,
        reachable: async (host) => {
          if (host !== 'server1') throw new Error(`no worker for run@${host} ${p}`);
        },
        close: async () => undefined,
      };
      const run = () =>
        createRunCommand({
          dispatcher,
          policy: createFakePolicy({ allowRun: { uptime: [['uptime']] } }),
          limiter: createHostLimiter({ maxConcurrent: 2 }),
          logger: createSilentLogger(),
          updateEveryMs: 0,
        });
      for (const text of ['server1 uptime', `${p} uptime`, `server1 ${p}`]) {
        const r = await live(run, 'run', text);
        expect(r.msgs.length, text).toBeGreaterThan(0);
        expect(intended(r.markup), text).toEqual([]);
      }
    });

    it(`alerts: in the server's error text and in host and cluster names: ${JSON.stringify(p)}`, () => {
      const incident = {
        id: 1,
        cluster: `c1${p}`,
        host: `server1${p}`,
        port: 24001,
        kind: 'io_thread',
        errno: 2003,
        error: `Can't connect to '${p}'`,
        lag: null,
        state: 'open',
        openedAt: new Date(0),
        acknowledgedBy: REQUESTER,
      } as unknown as Incident;
      const markup = liveMarkup([alertMessage(incident, { role: 'replica', pool: true })]);
      expect(intended(markup)).toEqual([]);
    });
  }

  it("keeps the bot's own mentions live: who ran a statement, who acknowledged an alert", async () => {
    const r = await live(
      replica({ exec: async () => ({ columns: ['a'], rows: [['1']] }) }),
      'replica',
      'sql c1 SELECT 1',
    );
    expect(r.markup).toContain(`<@${REQUESTER}>`);
    const incident = {
      id: 1,
      cluster: 'c1',
      host: 'server1',
      port: 24001,
      kind: 'io_thread',
      errno: 2003,
      error: 'x',
      lag: null,
      state: 'open',
      openedAt: new Date(0),
      acknowledgedBy: 'UACK',
    } as unknown as Incident;
    expect(liveMarkup([alertMessage(incident, { role: 'replica', pool: true })])).toContain('<@UACK>');
  });

  it('shows an echoed statement with backticks in a code block that they cannot close or break', async () => {
    const statement = 'SELECT `a`, "```" FROM `t` -- <@U0123ATTACK>';
    const r = await live(
      replica({ exec: async () => ({ columns: ['a'], rows: [['1']] }) }),
      'replica',
      `sql c1 ${statement}`,
    );
    const blocks = r.msgs.flatMap((m) => renderSlack(m).blocks) as Array<{ text?: { text: string } }>;
    const echo = blocks.map((b) => b.text?.text ?? '').find((t) => t.includes('SELECT'));
    expect(echo).toBeDefined();
    expect(echo!.startsWith('```') && echo!.endsWith('```')).toBe(true);
    expect(echo!.slice(3, -3)).not.toContain('```');
    expect(echo).toContain('SELECT `a`');
  });
});
