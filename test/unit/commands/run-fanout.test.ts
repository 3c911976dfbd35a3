import { describe, expect, it } from 'vitest';
import { createRunCommand, type RunValue } from '../../../commands/run.js';
import { createHostLimiter } from '../../../src/core/host-limiter.js';
import { createCommandRouter } from '../../../src/core/router.js';
import { parsePolicy } from '../../../src/core/policy/index.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import type { Dispatcher, JobRequest } from '../../../src/core/ports/dispatcher.js';
import { createMemoryAudit, createRecordingReply } from '../fakes/ports.js';
import { until } from '../../helpers/wait.js';
import { createFakeDispatcher, type FakeHandler } from '../fakes/dispatcher.js';

const POLICY = `
version: 1
settings: { max_hosts: 100 }
groups:
  replicas: ["server[2-3]"]
commands:
  - rule: diagnostics
    allow: [uptime, hostname, "ps aux"]
    grep: true
  - rule: capped
    allow: ["df -h"]
    max_hosts: 2
  - rule: mysql-config
    allow: ["cat <path:/etc/mysql/>"]
  - rule: web-only
    hosts: ["web*"]
    allow: ["free -m"]
`;

function value(output: string, over: Partial<RunValue> = {}): RunValue {
  return {
    exitCode: 0,
    signal: null,
    timedOut: false,
    truncated: false,
    outputBytes: Buffer.byteLength(output),
    output,
    durationMs: 5,
    rule: 'diagnostics',
    ...over,
  };
}

type Answer = (req: JobRequest) => Promise<RunValue> | RunValue;

/**
 * The shared fake dispatcher (test/unit/fakes/dispatcher.ts, held to the port's contract) over named live hosts,
 * answering each host's `run` job with `answer`; `extra` names more capabilities a host's worker registers.
 */
function fleet(hosts: string[], answer: Answer, extra: Record<string, string[]> = {}) {
  let inFlight = 0;
  let peak = 0;
  const run: FakeHandler = async (_args, job) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      return await answer(job.request);
    } finally {
      inFlight--;
    }
  };
  const unused: FakeHandler = () => {
    throw new Error('not used by /run');
  };
  const d = createFakeDispatcher(
    Object.fromEntries(hosts.map((h) => [h, { run, ...Object.fromEntries((extra[h] ?? []).map((c) => [c, unused])) }])),
  );
  return { d, requests: d.requests, peak: () => peak };
}

function setup(d: Dispatcher, over: { fanout?: number; fanoutChars?: number } = {}) {
  const policy = parsePolicy(POLICY, 'p.yml');
  const cmd = createRunCommand({
    dispatcher: d,
    policy,
    limiter: createHostLimiter({ maxConcurrent: 4 }),
    logger: createSilentLogger(),
    updateEveryMs: 0,
    ...over,
  });
  const audit = createMemoryAudit();
  const router = createCommandRouter({ commands: [cmd], policy, logger: createSilentLogger(), audit });
  const run = (text: string) => {
    const rec = createRecordingReply();
    const out = router.dispatch({
      command: 'run',
      text,
      principal: { userId: 'U1', channelId: 'C1', roles: [] },
      reply: rec.reply,
      source: 'console',
      requestId: 'req-1',
    });
    return { rec, out };
  };
  return { run, audit };
}

const three = ['server1', 'server2', 'server3'];

describe('/run over many hosts', () => {
  it('runs one job per host and gathers identical output into one block, in one message', async () => {
    const f = fleet(three, () => value(' 10:00 up 3 days\n'));
    const { run, audit } = setup(f.d);
    const { rec, out } = run('all uptime');
    expect((await out).status).toBe('ok');
    expect(f.requests.map((r) => r.host).sort()).toEqual(three);
    expect(f.requests.every((r) => (r.args as { line: string }).line === 'uptime')).toBe(true);
    expect(rec.posts).toHaveLength(1);
    expect(rec.posts[0]!.text).toContain('ran `uptime` on *server[1-3]* (3 hosts)');
    expect(rec.posts[0]!.text).toMatch(/3 running · 0 done · 0 failed/);
    expect(new Set(rec.updates.map((u) => u.ref.ts))).toEqual(new Set([rec.posts[0]!.ref.ts]));
    const last = rec.updates.at(-1)!.text;
    expect(last).toContain('server[1-3] (3 hosts) — exit 0');
    expect(last.match(/up 3 days/g)).toHaveLength(1);
    expect(last).toMatch(/3 hosts: 3 ok · 0 failed/);
    // One audit row per host job, all under the command's request id.
    expect(audit.rows.map((r) => [r.host, r.status, r.requestId, r.exitCode])).toEqual([
      ['server1', 'ok', 'req-1', 0],
      ['server2', 'ok', 'req-1', 0],
      ['server3', 'ok', 'req-1', 0],
    ]);
  });

  it('gives differing hosts their own blocks and lists failures first, with exit codes', async () => {
    const f = fleet(['db1', 'db2', 'db3', 'db5', 'db6'], (req) =>
      req.host === 'db6' ? value('boom\n', { exitCode: 2 }) : value(req.host === 'db5' ? 'b\n' : 'a\n'),
    );
    const { run } = setup(f.d);
    const { rec, out } = run('db* hostname');
    expect((await out).status).toBe('failed');
    const last = rec.updates.at(-1)!.text;
    const i6 = last.indexOf('db6 (1 host) — exit 2');
    const iA = last.indexOf('db[1-3] (3 hosts) — exit 0');
    const i5 = last.indexOf('db5 (1 host) — exit 0');
    expect(i6).toBeGreaterThan(0);
    expect(iA).toBeGreaterThan(i6);
    expect(i5).toBeGreaterThan(iA);
    expect(last).toMatch(/5 hosts: 4 ok · 1 failed/);
  });

  it('checks the policy for every host on its own: denied hosts are named with the rule, the others run', async () => {
    const f = fleet(['server1', 'web1', 'web2'], () => value('Mem: 1\n'));
    const { run, audit } = setup(f.d);
    const { rec, out } = run('server1,web[1-2] free -m');
    expect((await out).status).toBe('failed');
    expect(f.requests.map((r) => r.host).sort()).toEqual(['web1', 'web2']);
    const last = rec.updates.at(-1)!.text;
    expect(last).toContain('server1 (1 host) — denied: rule `web-only` is for hosts web*, not this host');
    expect(last).toContain('web[1-2] (2 hosts) — exit 0');
    expect(audit.rows.find((r) => r.host === 'server1')).toMatchObject({ status: 'denied', rule: 'web-only' });
  });

  it('denies on every host at once when no host is allowed, each denial naming the rule, nothing posted', async () => {
    const f = fleet(three, () => value('root:x\n'));
    const { run, audit } = setup(f.d);
    const { rec, out } = run('server* cat /etc/shadow');
    expect((await out).status).toBe('denied');
    expect(f.requests).toHaveLength(0);
    expect(rec.posts).toHaveLength(0);
    expect(rec.ephemerals[0]).toContain('Denied on all 3 hosts');
    expect(rec.ephemerals[0]).toMatch(/server\[1-3\] \(3 hosts\) — denied: rule `mysql-config` allows/);
    expect(audit.rows.map((r) => [r.host, r.status, r.rule])).toEqual(three.map((h) => [h, 'denied', 'mysql-config']));
  });

  it('answers a target matching no live host at once, with the live hosts', async () => {
    const f = fleet(three, () => value(''));
    const { run } = setup(f.d);
    const a = run('db* uptime');
    expect((await a.out).status).toBe('refused');
    expect(a.rec.ephemerals[0]).toBe('`db*` matches no live host. Live hosts: server[1-3] (3).');
    const b = run('db[1-2] uptime');
    await b.out;
    expect(b.rec.ephemerals[0]).toContain('(it names db[1-2])');
    expect(f.requests).toHaveLength(0);
    expect([...a.rec.posts, ...b.rec.posts]).toHaveLength(0);
  });

  it('reports named hosts without a worker as such, and the others still run', async () => {
    const f = fleet(['server1', 'server2'], () => value('up\n'));
    const { run } = setup(f.d);
    const { rec, out } = run('server[1-4] uptime');
    await out;
    const last = rec.updates.at(-1)!.text;
    expect(last).toContain('server[3-4] (2 hosts) — no worker');
    expect(last).toContain('server[1-2] (2 hosts) — exit 0');
    expect(f.requests.map((r) => r.host).sort()).toEqual(['server1', 'server2']);
  });

  it('refuses more hosts than the rule allows (max_hosts), with the count, before anything runs', async () => {
    const f = fleet(three, () => value(''));
    const { run } = setup(f.d);
    const { rec, out } = run('all df -h');
    const o = await out;
    expect(o).toMatchObject({ status: 'refused', rule: 'capped' });
    expect(rec.ephemerals[0]).toContain('would reach 3 hosts under rule `capped`, which allows at most 2');
    expect(f.requests).toHaveLength(0);
    expect(rec.posts).toHaveLength(0);
    expect((await run('server[1-2] df -h').out).status).toBe('ok');
  });

  it('keeps at most GEAROPS_FANOUT host jobs in flight', async () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `h${i + 1}`);
    const f = fleet(hosts, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return value('x\n');
    });
    const { run } = setup(f.d, { fanout: 3 });
    const { rec, out } = run('h* uptime');
    expect((await out).status).toBe('ok');
    expect(f.requests).toHaveLength(12);
    expect(f.peak()).toBe(3);
    expect(rec.updates.at(-1)!.text).toContain('h[1-12] (12 hosts) — exit 0');
  });

  it('shows progress while a slow host runs, and a host that times out never holds up the others', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const f = fleet(three, async (req) => {
      if (req.host !== 'server3') return value('up\n');
      await gate;
      throw new GearopsError(ErrorCode.JobTimeout, 'run@server3: no answer in time');
    });
    const { run } = setup(f.d);
    const { rec, out } = run('all uptime');
    await until(() => rec.updates.some((u) => /1 running · 2 done · 0 failed/.test(u.text)), 5000, { every: 5 });
    expect(rec.updates.at(-1)!.text).toContain('waiting for server3');
    release();
    expect((await out).status).toBe('failed');
    const last = rec.updates.at(-1)!.text;
    expect(last.indexOf('server3 (1 host) — timed out')).toBeLessThan(last.indexOf('server[1-2] (2 hosts) — exit 0'));
  });

  it('sends output too long for the message as one file, every line prefixed host:, with a summary', async () => {
    const f = fleet(three, (req) => value(`${req.host} line\n`.repeat(200)));
    const { run } = setup(f.d, { fanoutChars: 1000 });
    const { rec, out } = run('all ps aux');
    await out;
    expect(rec.uploads).toHaveLength(1);
    const content = String(rec.uploads[0]!.file.content);
    const lines = content.trimEnd().split('\n');
    expect(lines.every((l) => /^server[1-3]: /.test(l))).toBe(true);
    expect(lines.filter((l) => l === 'server2: server2 line')).toHaveLength(200);
    const last = rec.updates.at(-1)!.text;
    expect(last).toContain('server1 (1 host) — exit 0 · 200 lines');
    expect(last).toContain('attached file');
    expect(last).not.toContain('server1 line');
  });

  it('resolves @groups from the policy and from the workers, and /run hosts lists them', async () => {
    const f = fleet(three, () => value('up\n'), { server1: ['group.ams'] });
    const { run } = setup(f.d);
    await run('@replicas uptime').out;
    expect(f.requests.map((r) => r.host).sort()).toEqual(['server2', 'server3']);
    await run('@ams uptime').out;
    expect(f.requests.at(-1)!.host).toBe('server1');
    const h = run('hosts');
    await h.out;
    expect(h.rec.ephemerals[0]).toMatch(/@replicas\s+policy\s+server\[2-3\]/);
    expect(h.rec.ephemerals[0]).toMatch(/@ams\s+workers\s+server1/);
    expect(h.rec.ephemerals[0]).not.toContain('group.ams');
    const bad = run('@nope uptime');
    expect((await bad.out).status).toBe('refused');
    expect(bad.rec.ephemerals[0]).toContain('no group @nope: groups are @ams, @replicas');
  });

  it('keeps the command line rules: glob and bracket characters stay refused after the target', async () => {
    const f = fleet(three, () => value(''));
    const { run } = setup(f.d);
    const { rec, out } = run('all ps aux | grep my*');
    expect((await out).status).toBe('denied');
    expect(f.requests).toHaveLength(0);
    expect(rec.ephemerals[0]).toContain('Denied on all 3 hosts');
    const semi = run('all;uptime');
    expect((await semi.out).status).toBe('refused');
  });
});
