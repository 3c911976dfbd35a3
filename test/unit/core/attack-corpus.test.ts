/**
 * The attack corpus: every hole found, as a case that must stay closed. Each block names the issue item it
 * comes from; add new cases to the block of their item, or a block of their own.
 */
import { mkdtempSync, rmSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import { createRunCommand, type RunValue } from '../../../commands/run.js';
import { renderSlack } from '../../../src/chat/slack/render.js';
import { createHostLimiter } from '../../../src/core/host-limiter.js';
import { NonceCache, signEvent, verifyEvent } from '../../../src/core/payload.js';
import type { Dispatcher, JobResult } from '../../../src/core/ports/dispatcher.js';
import { openFrom, sealFor } from '../../../src/core/sealed.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { inertText } from '../../../src/gearman/dispatcher.js';
import { FrameRefusedError, Packet, PacketDecoder } from '../../../src/gearman/protocol.js';
import { createSilentLogger } from '../../../src/log.js';
import { createServerInstances } from '../../../src/worker/nonce-file.js';
import { createFakePolicy, createRecordingReply, fakeCluster, memoryMoveWrite, routed } from '../fakes/ports.js';
import { execFileSync } from 'node:child_process';
import { createReplicaCommand } from '../../../commands/replica/index.js';
import { parsePolicy, loadPolicyFile } from '../../../src/core/policy/index.js';
import type { PolicyAction } from '../../../src/core/ports/policy.js';
import type { ReplicationProbe, NodeAddress } from '../../../src/core/ports/replication.js';
import type {
  ClusterRecord,
  ClusterStore,
  PoolStore,
  Incident,
  PoolChange,
  PoolNode,
} from '../../../src/core/ports/store.js';
import { createLineRedactor, redactSecrets } from '../../../src/core/redact.js';
import { createRunCapability } from '../../../src/worker/capabilities/run.js';
import { requireAction, workerPrincipal, type CapabilityContext } from '../../../src/worker/capability.js';
import { createPoolCommand } from '../../../commands/pool.js';
import { checkReadOnlyStatement, tokenizeSql } from '../../../src/core/sql-guard.js';
import { createCommandRouter } from '../../../src/core/router.js';
import type { ChatMessage } from '../../../src/core/message.js';
import type { ChatSink, Reply } from '../../../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule } from '../../../src/core/ports/commands.js';
import { alertMessage } from '../../../src/monitor/alert-message.js';

const SECRET = 'attack-corpus-secret-0123456789';

describe('issue 11 item 7: a rogue worker learns nothing, and its text is not trusted', () => {
  const event = signEvent(SECRET, 'job-1', 'r1', 0, { type: 'output', stream: 'stdout', text: 'pw=hunter2' });

  it('a sealed answer shows nothing of its plaintext and opens only with the secret, for its own job', () => {
    const sealed = sealFor(SECRET, 'job-1', event);
    expect(sealed.toString('latin1')).not.toContain('hunter2');
    expect(openFrom(SECRET, 'job-1', sealed)).toBe(event);
    expect(() => openFrom(SECRET, 'job-2', sealed)).toThrow(/does not open/);
    expect(() => openFrom('another-secret-0123456789', 'job-1', sealed)).toThrow(/does not open/);
    // Two seals of the same text differ (random IV): a relay cannot tell repeated output apart.
    expect(sealFor(SECRET, 'job-1', event).equals(sealed)).toBe(false);
  });

  it('a sealed answer altered in any byte, cut, or sent in the clear is refused', () => {
    const sealed = sealFor(SECRET, 'job-1', event);
    for (let i = 0; i < sealed.length; i += 7) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 0x01;
      expect(() => openFrom(SECRET, 'job-1', bad), `byte ${i}`).toThrow(/refused/);
    }
    expect(() => openFrom(SECRET, 'job-1', sealed.subarray(0, 20))).toThrow(/not sealed by gearops/);
    expect(() => openFrom(SECRET, 'job-1', Buffer.from(event))).toThrow(/refused/);
  });

  it("an event signed for another host or capability is refused in this job's stream", () => {
    const to = { host: 'server1', capability: 'run' };
    const out = { type: 'output', stream: 'stdout', text: 'x' } as const;
    const right = signEvent(SECRET, 'job-1', 'r1', 0, out, to);
    expect(verifyEvent(SECRET, right, 'job-1', { to }).event).toEqual(out);
    const otherHost = signEvent(SECRET, 'job-1', 'r1', 0, out, { ...to, host: 'server2' });
    expect(() => verifyEvent(SECRET, otherHost, 'job-1', { to })).toThrow(/not an event of this job/);
    const otherCap = signEvent(SECRET, 'job-1', 'r1', 0, out, { ...to, capability: 'sandbox.install' });
    expect(() => verifyEvent(SECRET, otherCap, 'job-1', { to })).toThrow(/not an event of this job/);
    expect(() => verifyEvent(SECRET, event, 'job-1', { to })).toThrow(/not an event of this job/);
  });

  const hostile = [
    '<@U0ADMIN> please re-run as root',
    '<!channel> <!here> <!everyone>',
    '<#C0GENERAL|general>',
    '<https://evil.example/login|Slack login>',
    '`code` ```block``` &lt;@U0ADMIN&gt;',
    'a\u0000b\nc\rd\u001be[31m',
  ];

  it('unsigned worker text is made inert: no mention, ping, channel link, link or code span survives', () => {
    for (const t of hostile) {
      const inert = inertText(t);
      expect(inert, t).not.toMatch(/[<>`&\u0000-\u001f]/);
      const slack = JSON.stringify(renderSlack({ text: inert, blocks: [{ type: 'context', text: inert }] }));
      expect(slack, t).not.toMatch(/<[@!#]|<https?:/);
    }
    expect(inertText('x'.repeat(1000))).toHaveLength(301);
  });

  it('/run labels an unverified answer as such, not as the job failing, and no mention reaches the chat', async () => {
    const text = inertText(hostile.join(' '));
    const dispatcher: Dispatcher = {
      async submit() {
        throw new GearopsError(
          ErrorCode.UnverifiedAnswer,
          `unverified answer from a process claiming to be server1: “${text}”`,
        );
      },
      hosts: async () => [],
      ping: async () => true,
      reachable: async () => undefined,
      close: async () => undefined,
    };
    const cmd = createRunCommand({
      dispatcher,
      policy: createFakePolicy({ allowRun: { uptime: [['uptime']] } }),
      limiter: createHostLimiter({ maxConcurrent: 1 }),
      logger: createSilentLogger(),
      updateEveryMs: 0,
    });
    const rec = createRecordingReply();
    const out = await cmd.handle({
      command: 'run',
      text: 'server1 uptime',
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: 'r',
    });
    expect(out.status).toBe('failed');
    const last = rec.updates.at(-1)?.text ?? '';
    expect(last).toContain('unverified answer from a process claiming to be server1');
    expect(last).not.toMatch(/failed: /);
    // The one mention is the bot's own, of the requester.
    expect(last.replace(/^<@U1> ran/, '')).not.toMatch(/<[@!#]|<https?:/);
  });
});

describe('issue 11 item 8: frames and floods are bounded', () => {
  /** A response header announcing `size` body bytes. */
  const header = (type: number, size: number) => {
    const h = Buffer.alloc(12);
    h.write('\0RES', 0, 'latin1');
    h.writeUInt32BE(type, 4);
    h.writeUInt32BE(size, 8);
    return h;
  };

  it('an unsigned 128 MB job is refused from its header, with its handle for the worker to fail it by', () => {
    const d = new PacketDecoder(8 * 1024 * 1024);
    const start = Buffer.concat([
      header(Packet.JOB_ASSIGN, 128 * 1024 * 1024),
      Buffer.from('H:gm:7\0run@server1\0AAAA'),
    ]);
    let err: unknown;
    try {
      d.push(start);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameRefusedError);
    const refused = err as FrameRefusedError;
    expect(refused.reason).toBe('oversized');
    expect(refused.packet?.type).toBe(Packet.JOB_ASSIGN);
    expect(refused.packet?.prefix.subarray(0, refused.packet.prefix.indexOf(0)).toString()).toBe('H:gm:7');
  });

  it('the largest announced size (4 GB) is refused, not waited for', () => {
    expect(() => new PacketDecoder().push(header(Packet.WORK_COMPLETE, 0xffffffff))).toThrow(/over the/);
  });

  it('a request packet or plain text sent where responses are expected is refused', () => {
    const req = header(Packet.SUBMIT_JOB, 0);
    req.write('\0REQ', 0, 'latin1');
    expect(() => new PacketDecoder().push(req)).toThrow(/bad packet magic/);
    expect(() => new PacketDecoder().push(Buffer.from('status\n.\nxxxxx'))).toThrow(/bad packet magic/);
  });
});

describe('issue 11 item 9: replays stay refused across gearmand and worker restarts', () => {
  it('the same handle from a restarted gearmand is a replay; from the same gearmand after a worker crash, it is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gearops-corpus-'));
    try {
      let pid = 4242;
      let t = 1_000;
      const book = () => createServerInstances({ dir, getpid: async () => pid, now: () => t });
      const nonces = new NonceCache(120_000);
      const server = '127.0.0.1:4730';
      const first = await book().identify(server);
      expect(nonces.check('job-1', `${server}|${first}|H:gm:1`, t)).toBe('new');
      // The worker crashes and comes back: same gearmand (same pid), so the same name and the same binding.
      t += 5_000;
      const again = await book().identify(server);
      expect(again).toBe(first);
      expect(nonces.check('job-1', `${server}|${again}|H:gm:1`, t)).toBe('again');
      // gearmand restarts (new pid) and numbers handles from 1 again: the captured job gets H:gm:1 once more.
      pid = 5151;
      t += 5_000;
      const restarted = await book().identify(server);
      expect(restarted).not.toBe(first);
      expect(nonces.check('job-1', `${server}|${restarted}|H:gm:1`, t)).toBe('replay');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a job server whose pid cannot be learned gets a name nothing handed out before can match', async () => {
    const book = createServerInstances({
      getpid: async () => {
        throw new Error('no getpid');
      },
    });
    const a = await book.identify('g:4730');
    const b = await book.identify('g:4730');
    expect(a).toMatch(/^unknown-/);
    expect(a).not.toBe(b);
  });
});

/** What a capability handler gets for a verified job (the daemon's part is not under test here). */
function jobContext<A>(
  capability: string,
  who: { userId: string; roles: string[] },
  args: A,
  emit: (e: { type: string; text?: string }) => void = () => undefined,
): CapabilityContext<A> {
  const requester = { ...who, channelId: 'C1' };
  return {
    job: { v: 1, kind: 'job', id: 'j', ts: 0, host: 'db1', capability, requester, args },
    args,
    emit,
    signal: new AbortController().signal,
    logger: createSilentLogger(),
  };
}

describe('attack corpus: passwords on DBA tool command lines and in general logs are masked', () => {
  // [tool, what `ps auxww` or a general log showed, the secret, what stays readable]
  const cases: Array<[string, string, string, string]> = [
    ['mysqlsh --uri', 'mysqlsh --uri admin:Pw7-uri@db1:3306', 'Pw7-uri', 'mysqlsh --uri admin:****@db1:3306'],
    ['mysqlsh --uri=scheme', 'mysqlsh --uri=mysql://admin:Pw7-u2@db1', 'Pw7-u2', 'mysql://admin:****@db1'],
    ['mysqlsh positional', 'mysqlsh --js root:Pw7-pos@localhost:3306', 'Pw7-pos', 'root:****@localhost:3306'],
    ['mysql_upgrade -p', 'mysql_upgrade -uroot -pUpgr4de!', 'Upgr4de', 'mysql_upgrade -uroot -p****'],
    ['mydumper -p <pw>', 'mydumper -u bk -p Dump3r-pw -o /backup', 'Dump3r-pw', 'mydumper -u bk -p **** -o /backup'],
    ['myloader -p <pw>', 'myloader -u bk -p L0ad-pw -d /backup', 'L0ad-pw', '-p **** -d /backup'],
    ['pt-* -p <pw>', 'pt-table-checksum -u cs -p Chk-pw --replicate x.y', 'Chk-pw', '-p **** --replicate x.y'],
    ['--passwd=', 'innobackupex --user=bk --passwd=Passwd-pw /b', 'Passwd-pw', '--passwd=****'],
    ['lowercase password=', 'app --opt password=low3r-pw', 'low3r-pw', 'password=****'],
    ['libpq-style user= password=', 'psql "host=db1 user=x password=libpq-pw"', 'libpq-pw', 'password=****'],
    ['pt DSN p=', 'pt-online-schema-change h=db1,u=root,p=DsnPw-1,D=shop,t=orders', 'DsnPw-1', 'p=****,D=shop'],
    ['pt DSN p= first', 'pt-archiver --source p=DsnPw-2,h=db1,u=r', 'DsnPw-2', 'p=****,h=db1'],
    ['pt DSN p= last', 'pt-kill --dsn=h=db1,u=root,p=DsnPw-3', 'DsnPw-3', 'h=db1,u=root,p=****'],
    ['curl -u', 'curl -s -u admin:Curl-pw https://db1/api', 'Curl-pw', '-u admin:**** https://db1/api'],
    ['curl --user=', 'curl --user=admin:Curl-pw2 https://db1', 'Curl-pw2', '--user=admin:****'],
    ['sshpass -p', 'sshpass -p Ssh-pw ssh -p 2222 db2', 'Ssh-pw', 'sshpass -p **** ssh -p 2222 db2'],
    ['sshpass -p attached', 'sshpass -pSsh-pw2 scp a db2:', 'Ssh-pw2', 'sshpass -p****'],
    ['redis-cli -a', 'redis-cli -h cache1 -a Red1s-pw ping', 'Red1s-pw', '-a **** ping'],
    [
      'URL with / in the password',
      'app --db mysql://app:pa/ss@w0rd@db3:3306/common',
      'pa/ss',
      'mysql://app:****@db3:3306/common',
    ],
    ['quoted password with spaces', 'mysqldump --password="two words here" shop', 'two words', '--password=**** shop'],
    ['quoted -p with spaces', "mysql -p'sp ace pw' -e 'select 1'", 'sp ace', "mysql -p**** -e 'select 1'"],
    ['quoted sshpass with spaces', "sshpass -p 'ssh sp ace' ssh db2", 'ssh sp', 'sshpass -p **** ssh db2'],
    [
      'SET PASSWORD = plain',
      "SET PASSWORD FOR 'app'@'%' = 'Set-pw-1'",
      'Set-pw-1',
      "SET PASSWORD FOR 'app'@'%' = '****'",
    ],
    ['SET PASSWORD escaped quote', "SET PASSWORD = 'it''s-Set\\'pw'", 's-Set', "SET PASSWORD = '****'"],
    ['IDENTIFIED VIA … USING', "ALTER USER x IDENTIFIED VIA ed25519 USING 'Via-hash-1'", 'Via-hash-1', "USING '****'"],
    [
      'IDENTIFIED VIA … OR … USING',
      "CREATE USER y IDENTIFIED VIA mysql_native_password USING 'Via-1' OR ed25519 USING 'Via-2'",
      'Via-',
      "USING '****' OR ed25519 USING '****'",
    ],
    [
      'IDENTIFIED VIA … USING PASSWORD()',
      "ALTER USER z IDENTIFIED VIA ed25519 USING PASSWORD('Via-3')",
      'Via-3',
      "PASSWORD('****')",
    ],
  ];
  it.each(cases)('%s', (_tool, line, secret, shown) => {
    const out = redactSecrets(`root 4242 0.0 ${line}`);
    expect(out).not.toContain(secret);
    expect(out).toContain(shown);
    expect(redactSecrets(out)).toBe(out);
  });

  it('masks nothing that is not a credential on the same tools', () => {
    const text = [
      'mysql -p shop',
      'ssh -p 2222 db2',
      'curl -s https://db1/api',
      'redis-cli -h cache1 ping',
      'pt-query-digest --type slowlog /var/log/mysql/slow.log',
      'mydumper -u bk -p -o /b',
      'password_reuse_check enabled',
      'git@github.com:org/repo.git',
    ].join('\n');
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('attack corpus: hostile output cannot stall the redactor', () => {
  // What a command prints is attacker text. Each of these took the old rules (or a first version of the new
  // ones) minutes or more on 1 MB; a hang here fails the test by its timeout, no duration is asserted.
  const K = 256 * 1024;
  it.each([
    ['dotted words', 'a.'.repeat(K / 2)],
    ['dashes', '-'.repeat(K)],
    ['assignments', 'a='.repeat(K / 2)],
    ['p= chains', 'p='.repeat(K / 2)],
    ['curl words', 'curl '.repeat(K / 5)],
    ['URL starts', 'a://b:'.repeat(K / 6)],
    ['SET PASSWORD', 'SET PASSWORD '.repeat(K / 13)],
    ['password words', 'password'.repeat(K / 8)],
    ['open quotes', "password='".repeat(K / 10)],
    ['redis-cli words', 'redis-cli '.repeat(K / 10)],
    ['tool lines', 'mysql -pabc\n'.repeat(K / 12)],
  ])(
    '%s',
    (_name, text) => {
      const out = redactSecrets(text);
      expect(out.length).toBeGreaterThan(0);
    },
    60_000,
  );
});

describe('attack corpus: separators other than \\n do not hide a secret from the redactor', () => {
  // /proc/<pid>/environ and cmdline are NUL-separated: one symlink away from a log file, they showed the job secret.
  it.each([
    ['NUL', '\0'],
    ['CR', '\r'],
    ['CRLF', '\r\n'],
    ['FF', '\f'],
    ['VT', '\v'],
    ['LINE SEPARATOR', '\u2028'],
    ['PARAGRAPH SEPARATOR', '\u2029'],
    ['NEL', '\u0085'],
    ['RS', '\u001e'],
  ])('%s', (_name, sep) => {
    const environ = ['PATH=/usr/bin', 'GEAROPS_JOB_SECRET=job-secret-42', 'HOME=/root', ''].join(sep);
    const cmdline = ['mysql', '-uroot', '-pNulPw-9', 'shop'].join(sep);
    const out = redactSecrets(`${environ}${sep}${cmdline}`);
    expect(out).not.toContain('job-secret-42');
    expect(out).toContain(`GEAROPS_JOB_SECRET=****${sep}HOME=/root`);
    expect(out).toContain('PATH=/usr/bin');
    // The separators are kept, and a mask stops at one: the next variable still reads.
    expect(out.split(sep).length).toBe(`${environ}${sep}${cmdline}`.split(sep).length);
    // A NUL-separated cmdline has no spaces: -p is no longer preceded by whitespace, so it shows as it is (not a secret of
    // ours); but a password assignment on its own line is masked.
    expect(redactSecrets(`x${sep}MYSQL_PWD=NulPw-10${sep}y`)).not.toContain('NulPw-10');
  });

  it('a streamed secret cut by a chunk boundary is still masked', () => {
    const r = createLineRedactor();
    const chunks = ['root 1 mysql -uroot -pStr', 'eam-pw-1 shop\nnext line', ' MYSQL_PWD=abc', 'def\0tail'];
    const out = chunks.map((c) => r.write(c)).join('') + r.end();
    expect(out).not.toContain('eam-pw-1');
    expect(out).not.toContain('abcdef');
    expect(out).toBe('root 1 mysql -uroot -p**** shop\nnext line MYSQL_PWD=****\0tail');
  });
});

describe('attack corpus: host-scoped rules stay host-scoped for host-less actions', () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'actions:',
      '  - rule: test-reads',
      '    hosts: [test-*]',
      '    actions: [replica.status, replica.list, pool.list]',
      '',
    ].join('\n'),
    'scoped.yml',
  );
  const principal = { userId: 'U1', channelId: 'C1', roles: [] };

  it.each(['replica.status', 'replica.list', 'pool.list'] as PolicyAction[])(
    '%s without a host is not allowed by a rule for test-*',
    (action) => {
      const d = policy.checkAction({ action, principal });
      expect(d.allow).toBe(false);
      expect(d.rule).toBe('test-reads');
      expect(d.reason).toBe(`rule \`test-reads\` allows ${action} only on hosts test-*, not on every host`);
      expect(policy.checkAction({ action, host: 'test-1', principal }).allow).toBe(true);
      expect(policy.checkAction({ action, host: 'prod-1', principal }).rule).toBe('test-reads');
    },
  );

  const node = (host: string, role: 'master' | 'replica') => ({
    host,
    address: '127.0.0.1',
    port: 3306,
    role,
    serverId: 1,
    sandbox: 's',
  });
  const records: ClusterRecord[] = [
    {
      name: 'testc',
      version: '10.11',
      credentials: 'c',
      createdBy: 'U1',
      nodes: [node('test-1', 'master'), node('test-2', 'replica')],
    },
    {
      name: 'prodc',
      version: '10.11',
      credentials: 'c',
      createdBy: 'U1',
      nodes: [node('prod-1', 'master'), node('prod-2', 'replica')],
    },
    {
      name: 'mixed',
      version: '10.11',
      credentials: 'c',
      createdBy: 'U1',
      nodes: [node('test-3', 'master'), node('prod-3', 'replica')],
    },
  ];
  const clusters: ClusterStore = {
    create: async () => undefined,
    get: async (n) => records.find((c) => c.name === n) ?? null,
    list: async () => records,
    remove: async () => false,
    markReady: async () => true,
    markRemoving: async () => true,
    setNodes: async () => true,
  };
  const probed: string[] = [];
  const probe = {
    status: async (n: { address: string; port: number }) => (probed.push(`${n.address}:${n.port}`), { ok: true }),
  } as unknown as ReplicationProbe;
  const cmd = createReplicaCommand({
    dispatcher: {} as Dispatcher,
    policy,
    clusters,
    probe,
    logger: createSilentLogger(),
  });
  const run = async (text: string) => {
    const rec = createRecordingReply();
    const out = await routed(cmd, policy).handle({
      command: 'replica',
      text,
      principal,
      reply: rec.reply,
      source: 'console',
      requestId: 'r',
    });
    return { out, text: [...rec.ephemerals, ...rec.posts.map((p) => p.text)].join('\n') };
  };

  it('/replica status <cluster> is denied, naming the rule, for a cluster with a node outside test-*', async () => {
    for (const name of ['prodc', 'mixed']) {
      const r = await run(`status ${name}`);
      expect(r.out.status, name).toBe('denied');
      expect(r.out.rule, name).toBe('test-reads');
      expect(r.text, name).toMatch(/Denied: rule `test-reads` allows replica\.status on test-\*, not prod-\d/);
    }
    expect(probed).toEqual([]);
    const ok = await run('status testc');
    expect(ok.out.status).toBe('ok');
    expect(ok.text).toContain('*testc*');
  });

  it('/replica status and /replica list show only the clusters the rule covers', async () => {
    for (const sub of ['status', 'list']) {
      const r = await run(sub);
      expect(r.out.status, sub).toBe('ok');
      expect(r.text, sub).toContain('testc');
      expect(r.text, sub).not.toContain('prodc');
      expect(r.text, sub).not.toContain('mixed');
      expect(r.text, sub).toContain('2 cluster(s) on hosts your rules do not cover are not shown');
    }
  });
});

describe("attack corpus: the worker decides roles with its own policy, not the bot's signed roles", () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'roles:',
      '  dba: { users: [UALICE], groups: [SDBAS] }',
      'actions:',
      '  - rule: dba-changes',
      '    actions: [replica.install]',
      '    who: [role:dba]',
      '',
    ].join('\n'),
    'worker.yml',
  );

  it('a requester signed with roles [dba] gets no role the worker file does not give', () => {
    expect(workerPrincipal(policy, { userId: 'UBOB', channelId: 'C1', roles: ['dba'] }).roles).toEqual([]);
    expect(workerPrincipal(policy, { userId: 'UALICE', channelId: 'C1', roles: [] }).roles).toEqual(['dba']);
    expect(workerPrincipal(policy, { userId: 'UC', channelId: 'C1', roles: [], groups: ['SDBAS'] }).roles).toEqual([
      'dba',
    ]);
  });

  it('a dba-only install for UBOB signed as dba runs nothing', async () => {
    let ran = 0;
    const cap = requireAction(
      { name: 'sandbox.install', handler: async () => void ran++ },
      { host: 'db1', policy },
      () => ['replica.install'],
    );
    const ctx = (userId: string, roles: string[]) => jobContext('sandbox.install', { userId, roles }, {});
    await expect(cap.handler(ctx('UBOB', ['dba']))).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      message: 'worker db1 policy: rule `dba-changes` allows replica.install only for role:dba',
    });
    expect(ran).toBe(0);
    await cap.handler(ctx('UALICE', []));
    expect(ran).toBe(1);
  });
});

describe('attack corpus: /run path arguments are checked on the worker after links are resolved', () => {
  let dir: string;
  let logs: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gearops-paths-'));
    logs = join(dir, 'mysql');
    mkdirSync(join(logs, 'old'), { recursive: true });
    writeFileSync(join(logs, 'error.log'), 'ok\n');
    writeFileSync(join(dir, 'outside.log'), 'outside\n');
    symlinkSync('/etc/shadow', join(logs, 'shadow'));
    symlinkSync('/proc/self/environ', join(logs, 'environ'));
    symlinkSync('/dev/zero', join(logs, 'zero'));
    symlinkSync(join(dir, 'outside.log'), join(logs, 'sibling'));
    symlinkSync(dir, join(logs, 'up'));
    symlinkSync(join(logs, 'old'), join(logs, 'olddir'));
    symlinkSync(join(logs, 'error.log'), join(logs, 'current'));
    execFileSync('mkfifo', [join(logs, 'fifo')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (file: string) => {
    const policy = parsePolicy(
      `version: 1\ncommands:\n  - rule: mysql-logs\n    allow: ["cat <path:${logs}/>"]\n`,
      'paths.yml',
    );
    const cap = createRunCapability({ host: 'db1', policy, logger: createSilentLogger() });
    const out: string[] = [];
    const line = `cat ${join(logs, file)}`;
    const ctx = jobContext('run', { userId: 'U1', roles: [] }, { line }, (e) => void out.push(e.text ?? ''));
    return { result: cap.handler(ctx), out };
  };

  it.each([
    ['shadow', /`.*\/shadow` resolves to \/etc\/shadow, which is not a file under /],
    ['environ', /resolves to \/proc\/\d+\/environ: \/proc, \/sys and \/dev are never read/],
    ['zero', /resolves to \/dev\/zero: \/proc, \/sys and \/dev are never read/],
    ['sibling', /resolves to .*\/outside\.log, which is not a file under/],
    ['up/outside.log', /resolves to .*\/outside\.log, which is not a file under/],
    ['fifo', /is a FIFO, not a regular file/],
    ['olddir', /is a directory, not a regular file/],
  ])('%s is refused, naming the rule', async (file, why) => {
    const r = await run(file);
    await expect(r.result).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringMatching(why),
      data: { rule: 'mysql-logs', host: 'db1' },
    });
    await expect(r.result).rejects.toThrow(/^worker db1 policy: rule `mysql-logs`: /);
    expect(r.out).toEqual([]);
  });

  it('a link that stays under the prefix is read (as its real path)', async () => {
    const r = await run('current');
    await expect(r.result).resolves.toMatchObject({ exitCode: 0, output: 'ok\n', rule: 'mysql-logs' });
  });
});

describe('attack corpus: slow /replica sql statements and mistyped pool types (issue 11.5, issue 12.6)', () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'actions:',
      '  - rule: ops',
      '    actions: [replica.sql, pool.add, pool.set, pool.offline]',
      '    who: everyone',
      'sql:',
      '  - rule: read-only-sql',
      '    statements: [SELECT]',
      '    who: everyone',
      '',
    ].join('\n'),
    'corpus.yml',
  );
  const clusters = { a: fakeCluster('a', 5000), b: fakeCluster('b', 6000) } as Record<string, ClusterRecord>;

  /** A probe whose statements hang until `finish()`; records each statement and its time-out. */
  function slowProbe() {
    const calls: Array<{ node: NodeAddress; sql: string; timeoutMs?: number }> = [];
    const waiting: Array<() => void> = [];
    const probe = {
      exec(node: NodeAddress, sql: string, o?: { timeoutMs?: number }) {
        calls.push({ node, sql, timeoutMs: o?.timeoutMs });
        return new Promise<{ columns: string[]; rows: string[][] }>((resolve) =>
          waiting.push(() => resolve({ columns: ['n'], rows: [['1']] })),
        );
      },
    } as unknown as ReplicationProbe;
    return { probe, calls, finish: () => waiting.splice(0).forEach((f) => f()) };
  }

  function replica(probe: ReplicationProbe) {
    return createReplicaCommand({
      dispatcher: {} as Dispatcher,
      policy,
      clusters: { get: async (n: string) => clusters[n] ?? null } as unknown as ClusterStore,
      probe,
      logger: createSilentLogger(),
      sqlLimits: { perUser: 2, perCluster: 4, timeoutMs: 7000 },
    });
  }
  const sql = (cmd: ReturnType<typeof replica>, userId: string, text: string) => {
    const rec = createRecordingReply('C1');
    const done = cmd.handle({
      command: 'replica',
      text,
      principal: { userId, channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'slack',
      requestId: `${userId}-${Math.random()}`,
    });
    return { rec, done };
  };
  const settle = () => new Promise((r) => setImmediate(r));

  it('sixty slow statements from one user: two run, 58 are refused naming the per-user limit', async () => {
    const p = slowProbe();
    const cmd = replica(p.probe);
    const runs = Array.from({ length: 60 }, () => sql(cmd, 'UEVE', 'sql a SELECT COUNT(*) FROM app.t'));
    const refused = runs.slice(2);
    for (const r of refused) expect((await r.done).status).toBe('refused');
    for (const r of refused)
      expect(r.rec.ephemerals[0]).toMatch(
        /^Not run: you already have 2 \/replica sql statements running, the limit per user \(GEAROPS_SQL_PER_USER=2\)\. .*within 7\.0 s/,
      );
    await settle();
    // Two statements, on each of the cluster's two nodes, each ended at the time-out.
    expect(p.calls).toHaveLength(4);
    expect(new Set(p.calls.map((c) => c.timeoutMs))).toEqual(new Set([7000]));
    p.finish();
    for (const r of runs.slice(0, 2)) expect((await r.done).status).toBe('ok');
    // Their slots are free again.
    const again = sql(cmd, 'UEVE', 'sql a SELECT 1');
    await settle();
    p.finish();
    expect((await again.done).status).toBe('ok');
  });

  it('sixty slow statements from sixty users on one cluster: four run, the rest are refused naming the per-cluster limit; another cluster still runs', async () => {
    const p = slowProbe();
    const cmd = replica(p.probe);
    const runs = Array.from({ length: 60 }, (_, i) => sql(cmd, `U${i}`, 'sql a SELECT COUNT(*) FROM app.t'));
    for (const r of runs.slice(4)) {
      expect((await r.done).status).toBe('refused');
      expect(r.rec.ephemerals[0]).toMatch(
        /^Not run: cluster a already runs 4 \/replica sql statements, the limit per cluster \(GEAROPS_SQL_PER_CLUSTER=4\)/,
      );
    }
    const other = sql(cmd, 'U0', 'sql b SELECT 1');
    await settle();
    expect(p.calls.filter((c) => c.node.port >= 6000)).toHaveLength(2);
    p.finish();
    expect((await other.done).status).toBe('ok');
    for (const r of runs.slice(0, 4)) expect((await r.done).status).toBe('ok');
  });

  it('a statement that failed (ended at its time-out) gives its slot back', async () => {
    let n = 0;
    const probe = {
      async exec() {
        n++;
        throw new Error('the statement ran past its 7 s limit on 10.0.0.1:5000 and was ended (KILL QUERY 12)');
      },
    } as unknown as ReplicationProbe;
    const cmd = replica(probe);
    for (let i = 0; i < 5; i++) {
      const r = sql(cmd, 'UEVE', 'sql a SELECT 1');
      expect((await r.done).status).toBe('failed');
      expect(r.rec.posts[0]?.text).toMatch(/error: the statement ran past its 7 s limit .*\(KILL QUERY 12\)/);
    }
    expect(n).toBe(10);
  });

  it('`/pool add 10.0.0.6:3306 DELETE` is refused as a mistyped type, not added offline with DELETE as the reason', async () => {
    const writes: string[] = [];
    const pool = {
      add: async () => void writes.push('add'),
      set: async () => void writes.push('set'),
    } as unknown as PoolStore;
    const cmd = createPoolCommand({ policy, pool, logger: createSilentLogger() });
    for (const text of [
      'add 10.0.0.6:3306 DELETE',
      'add 10.0.0.6:3306 REDA',
      'set 10.0.0.6:3306 WRTIE',
      'add 10.0.0.6:3306 RAED',
    ]) {
      const rec = createRecordingReply('C1');
      const out = await cmd.handle({
        command: 'pool',
        text,
        principal: { userId: 'U1', channelId: 'C1', roles: [] },
        reply: rec.reply,
        source: 'slack',
        requestId: text,
      });
      expect(out.status, text).toBe('refused');
      expect(rec.ephemerals[0], text).toMatch(/is not a type: use READ, WRITE, READ,WRITE or none/);
    }
    expect(writes).toEqual([]);
  });
});

describe('attack corpus: /replica sql statements', () => {
  const policy = loadPolicyFile('policies/default.yml');
  const who = { userId: 'U1', channelId: 'C1', roles: [] };
  const check = (statement: string) => policy.checkSql({ statement, principal: who });

  it('refuses denied functions however their name is quoted, cased or spaced, naming the canonical name', () => {
    const cases: Array<[string, string]> = [
      ['SELECT `SLEEP`(240)', 'SLEEP'],
      ['SELECT `sleep` (240)', 'SLEEP'],
      ['SELECT "SLEEP"(240)', 'SLEEP'],
      ['SELECT sLeEp\n(240)', 'SLEEP'],
      ["SELECT 1 FROM DUAL WHERE `GET_LOCK`('x', 10)", 'GET_LOCK'],
      ["SELECT `LOAD_FILE`('/etc/passwd')", 'LOAD_FILE'],
      ["SELECT MASTER_GTID_WAIT('0-1-100', 3600)", 'MASTER_GTID_WAIT'],
      ["SELECT `master_pos_wait`('mysql-bin.000001', 4)", 'MASTER_POS_WAIT'],
      ["SELECT SOURCE_POS_WAIT('mysql-bin.000001', 4)", 'SOURCE_POS_WAIT'],
      ['SELECT BENCHMARK(100000000, MD5(1))', 'BENCHMARK'],
      ["SELECT RELEASE_ALL_LOCKS(), IS_USED_LOCK('x')", 'RELEASE_ALL_LOCKS'],
      ['SELECT `mysql`.`SLEEP`(1)', 'SLEEP'],
      ['SELECT NEXTVAL(app.seq)', 'NEXTVAL'],
    ];
    for (const [statement, name] of cases) {
      const d = check(statement);
      expect(d.allow, statement).toBe(false);
      expect(d.rule, statement).toBe('sql-denied-function');
      expect(d.reason, statement).toContain(`the function ${name} is not allowed`);
      expect(d.reason, statement).toContain('rule sql-denied-function');
    }
  });

  it('refuses every kind of comment, including executable ones', () => {
    for (const statement of [
      'SELECT /*! SLEEP(10) */ 1',
      'SELECT /*M!100000 SLEEP(10) */ 1',
      'SELECT /**/1',
      'SELECT 1 # and then',
      'SELECT 1 -- x',
      'SELECT 1 --x',
    ]) {
      const d = check(statement);
      expect(d.allow, statement).toBe(false);
      expect(d.rule, statement).toBe('sql-no-comments');
    }
  });

  it('refuses a second statement, an unclosed quote and backslashes whose meaning depends on sql_mode', () => {
    expect(check('SELECT 1; SELECT SLEEP(1)').rule).toBe('sql-one-statement');
    expect(check("SELECT ';' ; DROP TABLE t").rule).toBe('sql-one-statement');
    expect(check("SELECT 'abc").rule).toBe('sql-syntax');
    expect(check('SELECT `abc').rule).toBe('sql-syntax');
    // With NO_BACKSLASH_ESCAPES the string would end at the backslash and SLEEP would run.
    expect(check("SELECT 'a\\' , SLEEP(1), '").rule).toBe('sql-backslash');
  });

  it('refuses INTO and locking reads outside strings and names', () => {
    expect(check("SELECT * FROM t INTO OUTFILE '/tmp/x'").rule).toBe('sql-no-into');
    expect(check('SELECT 1 INTO @x').rule).toBe('sql-no-into');
    expect(check('SELECT * FROM t FOR UPDATE').rule).toBe('sql-no-locking-read');
    expect(check('SELECT * FROM t LOCK IN SHARE MODE').rule).toBe('sql-no-locking-read');
  });

  it('lets the same words through where they are only data: in strings and as quoted names', () => {
    for (const statement of [
      "SELECT 'SLEEP(1)' AS s",
      "SELECT 'a;b', 'c#d', 'e--f', '/*g*/'",
      'SELECT `into`, `sleep` FROM app.t',
      'SELECT \'it\'\'s\', "say ""hi"""',
      'SHOW SLAVE STATUS;',
      "SELECT SUBSTR(authentication_string, 2), HEX(authentication_string) FROM mysql.user WHERE User = 'msandbox'",
    ]) {
      const d = check(statement);
      expect(d.allow, `${statement}: ${d.reason}`).toBe(true);
    }
  });

  it('tokenizes doubled quotes inside quoted names as one name', () => {
    const t = tokenizeSql('SELECT `a``b`(1)');
    expect(Array.isArray(t) && t.find((x) => x.kind === 'quoted')?.value).toBe('a`b');
    expect(checkReadOnlyStatement('SELECT `SLE``EP`(1)')).toEqual({ verb: 'SELECT' });
  });
});

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
    moveWrite: memoryMoveWrite(rows),
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
    setNodes: async () => true,
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
