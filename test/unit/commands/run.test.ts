import { describe, expect, it } from 'vitest';
import { createRunCommand, type RunValue } from '../../../commands/run.js';
import { createHostLimiter } from '../../../src/core/host-limiter.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/log.js';
import { until } from '../../helpers/wait.js';
import type { Dispatcher, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';
import { createFakePolicy, createRecordingReply, routed } from '../fakes/ports.js';

function value(output: string, over: Partial<RunValue> = {}): RunValue {
  return {
    exitCode: 0,
    signal: null,
    timedOut: false,
    truncated: false,
    outputBytes: Buffer.byteLength(output),
    output,
    durationMs: 12,
    rule: 'fake',
    ...over,
  };
}

/** A dispatcher fake that answers with `answer(req)` after streaming `chunks`. */
function fakeDispatcher(
  answer: (req: JobRequest) => Promise<JobResult<RunValue>> | JobResult<RunValue>,
  chunks: string[] = [],
): Dispatcher & { requests: JobRequest[] } {
  const requests: JobRequest[] = [];
  return {
    requests,
    async submit<V>(req: JobRequest) {
      requests.push(req);
      for (const c of chunks) req.onEvent?.({ type: 'output', stream: 'stdout', text: c });
      return (await answer(req)) as unknown as JobResult<V>;
    },
    hosts: async () => [{ host: 'server1', capabilities: ['run'], servers: ['127.0.0.1:4730'] }],
    ping: async () => true,
    async reachable(host) {
      if (host !== 'server1')
        throw new GearopsError(
          ErrorCode.NoWorker,
          `no worker for \`run@${host}\` on 127.0.0.1:4730 — live hosts: server1`,
        );
    },
    close: async () => undefined,
  };
}

const ok = (v: RunValue): JobResult<RunValue> => ({
  host: 'server1',
  capability: 'run',
  handle: 'H:1',
  ok: true,
  value: v,
  error: null,
  durationMs: 12,
});
const policy = createFakePolicy({
  allowRun: {
    uptime: [['uptime']],
    'netstat -nat | grep 80': [
      ['netstat', '-nat'],
      ['grep', '80'],
    ],
  },
});

function setup(dispatcher: Dispatcher, previewChars = 2500, maxConcurrent = 2) {
  const cmd = createRunCommand({
    dispatcher,
    policy,
    limiter: createHostLimiter({ maxConcurrent }),
    logger: createSilentLogger(),
    previewChars,
    updateEveryMs: 0,
  });
  return routed(cmd, policy);
}

/** The command as a bot of version 1.2.0 runs it. */
function versioned(dispatcher: Dispatcher) {
  return createRunCommand({
    dispatcher,
    policy,
    limiter: createHostLimiter({ maxConcurrent: 2 }),
    logger: createSilentLogger(),
    version: '1.2.0',
  });
}

function inv(text: string) {
  const rec = createRecordingReply();
  return {
    rec,
    inv: {
      command: 'run',
      text,
      principal: { userId: 'U1', channelId: 'C1', roles: ['dba'] },
      reply: rec.reply,
      source: 'console' as const,
      requestId: 'r',
    },
  };
}

describe('/run', () => {
  it('runs an allowed command and reports output, exit code and rule', async () => {
    const d = fakeDispatcher(() => ok(value(' 10:00 up 1 day, load average: 0.1\n')));
    const { rec, inv: i } = inv('server1 uptime');
    const out = await setup(d).handle(i);
    expect(out).toMatchObject({ status: 'ok', host: 'server1', exitCode: 0, rule: 'fake', jobHandle: 'H:1' });
    expect(d.requests[0]).toMatchObject({
      capability: 'run',
      host: 'server1',
      args: { line: 'uptime' },
      requester: { userId: 'U1', channelId: 'C1', roles: ['dba'] },
    });
    expect(rec.posts[0]?.text).toContain('ran `uptime` on *server1*');
    const last = rec.updates.at(-1)?.text ?? '';
    expect(last).toContain('load average');
    expect(last).toMatch(/exit 0 · 12 ms/);
  });

  it('denies what the policy does not allow, without submitting anything', async () => {
    const d = fakeDispatcher(() => ok(value('')));
    const { rec, inv: i } = inv('server1 rm -rf /');
    expect((await setup(d).handle(i)).status).toBe('denied');
    expect(d.requests).toHaveLength(0);
    expect(rec.posts).toHaveLength(0);
    expect(rec.ephemerals[0]).toContain('Denied: no rule allows `rm -rf /` on server1');
  });

  it('refuses a bad host name and a missing command', async () => {
    const d = fakeDispatcher(() => ok(value('')));
    const a = inv('serv;er1 uptime');
    expect((await setup(d).handle(a.inv)).status).toBe('refused');
    const b = inv('server1');
    expect((await setup(d).handle(b.inv)).status).toBe('refused');
    expect(d.requests).toHaveLength(0);
  });

  it('streams output into updates of the same message', async () => {
    const d = fakeDispatcher(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return ok(value('line1\nline2\n'));
    }, ['line1\n', 'line2\n']);
    const { rec, inv: i } = inv('server1 uptime');
    await setup(d).handle(i);
    expect(rec.posts).toHaveLength(1);
    expect(rec.updates.some((u) => u.text.includes('running for'))).toBe(true);
    expect(new Set(rec.updates.map((u) => u.ref.ts))).toEqual(new Set([rec.posts[0]?.ref.ts]));
  });

  it('uploads long output as a file and keeps a preview', async () => {
    const long = Array.from({ length: 400 }, (_, n) => `row ${n} ${'x'.repeat(20)}`).join('\n');
    const d = fakeDispatcher(() => ok(value(long)));
    const { rec, inv: i } = inv('server1 uptime');
    await setup(d, 500).handle(i);
    expect(rec.uploads).toHaveLength(1);
    expect(rec.uploads[0]?.file.content).toBe(long);
    const last = rec.updates.at(-1)?.text ?? '';
    expect(last).toContain('row 399');
    expect(last).not.toContain('row 0 ');
    expect(last).toMatch(/earlier characters in the attached file/);
  });

  it('strips ANSI escapes from output', async () => {
    const d = fakeDispatcher(() => ok(value('\u001b[31mred\u001b[0m text')));
    const { rec, inv: i } = inv('server1 uptime');
    await setup(d).handle(i);
    expect(rec.updates.at(-1)?.text).toContain('red text');
    expect(rec.updates.at(-1)?.text).not.toContain('\u001b');
  });

  it('reports a worker-side denial and a dispatcher failure with their reasons', async () => {
    const denied = fakeDispatcher(() => ({
      host: 'server1',
      capability: 'run',
      handle: 'H:2',
      ok: false,
      value: null,
      error: { code: ErrorCode.PolicyDenied, message: 'worker policy: no rule allows uptime', data: { rule: 'w' } },
      durationMs: 1,
    }));
    const a = inv('server1 uptime');
    expect(await setup(denied).handle(a.inv)).toMatchObject({ status: 'denied', rule: 'w' });
    expect(a.rec.updates.at(-1)?.text).toContain('denied by the worker: worker policy: no rule allows uptime');

    const noWorker = fakeDispatcher(() => {
      throw new GearopsError(ErrorCode.NoWorker, 'no worker for `run@server1`');
    });
    const b = inv('server1 uptime');
    expect((await setup(noWorker).handle(b.inv)).status).toBe('failed');
    expect(b.rec.updates.at(-1)?.text).toContain('failed: no worker for `run@server1`');
  });

  it('answers a host with no worker to the requester alone: nothing posted in the channel, nothing submitted', async () => {
    const d = fakeDispatcher(() => ok(value('')));
    const { rec, inv: i } = inv('nohost uptime');
    expect(await setup(d).handle(i)).toMatchObject({
      status: 'failed',
      host: 'nohost',
      summary: expect.stringContaining('no worker for `run@nohost`'),
    });
    expect(rec.ephemerals).toEqual(['Failed: no worker for `run@nohost` on 127.0.0.1:4730 — live hosts: server1']);
    expect(rec.posts).toHaveLength(0);
    expect(d.requests).toHaveLength(0);
  });

  it('counts grep exit 1 (no match) as success and a timeout as failure', async () => {
    const grep = fakeDispatcher(() => ok(value('', { exitCode: 1 })));
    expect((await setup(grep).handle(inv('server1 netstat -nat | grep 80').inv)).status).toBe('ok');
    const slow = fakeDispatcher(() => ok(value('partial', { exitCode: null, signal: 'SIGKILL', timedOut: true })));
    const s = inv('server1 uptime');
    expect((await setup(slow).handle(s.inv)).status).toBe('failed');
    expect(s.rec.updates.at(-1)?.text).toContain('killed after its time limit');
  });

  it('lists live hosts and shows help', async () => {
    const d = fakeDispatcher(() => ok(value('')));
    const h = inv('hosts');
    await setup(d).handle(h.inv);
    expect(h.rec.ephemerals[0]).toContain('server1');
    const help = inv('help');
    await setup(d).handle(help.inv);
    expect(help.rec.ephemerals[0]).toContain('Usage');
    expect(help.rec.ephemerals[0]).toContain('uptime');
  });

  it("shows each worker's version from gearops.info and marks the ones that differ from the bot", async () => {
    const info = (version: string) => ({ version, capabilities: ['gearops.info', 'run'], policyDigest: 'sha256:ab' });
    const answers: Record<string, JobResult<unknown>> = {
      server1: { ...ok(value('')), value: info('1.2.0') },
      server2: { ...ok(value('')), host: 'server2', value: info('1.1.0') },
      server3: {
        ...ok(value('')),
        host: 'server3',
        ok: false,
        value: null,
        error: { code: 'gearops_policy_denied', message: 'worker server3 policy: no rule allows replica.diagnose' },
      },
    };
    const d = fakeDispatcher((req) => answers[req.host] as JobResult<RunValue>);
    const cap = ['run', 'gearops.info'];
    d.hosts = async () => [
      { host: 'server1', capabilities: cap, servers: ['g:4730'] },
      { host: 'server2', capabilities: cap, servers: ['g:4730'] },
      { host: 'server3', capabilities: cap, servers: ['g:4730'] },
      { host: 'old1', capabilities: ['run'], servers: ['g:4730'] },
    ];
    const cmd = versioned(d);
    const h = inv('hosts');
    await cmd.handle(h.inv);
    const text = h.rec.ephemerals[0]!;
    // Asked of the hosts that register it, as the requester (the worker's policy decides), never of the others.
    expect(d.requests.map((r) => [r.capability, r.host, r.requester.userId])).toEqual([
      ['gearops.info', 'server1', 'U1'],
      ['gearops.info', 'server2', 'U1'],
      ['gearops.info', 'server3', 'U1'],
    ]);
    expect(text).toMatch(/server1\s+1\.2\.0\s/);
    expect(text).toMatch(/server2\s+1\.1\.0 ⚠/);
    expect(text).toContain('? (gearops_policy_denied)');
    expect(text).toContain('⚠ version mismatch: the bot runs 1.2.0; server2 1.1.0, old1 ? (older worker)');
  });

  it("says nothing about versions when every worker runs the bot's", async () => {
    const d = fakeDispatcher(
      () =>
        ({
          ...ok(value('')),
          value: { version: '1.2.0', capabilities: [], policyDigest: '' },
        }) as unknown as JobResult<RunValue>,
    );
    d.hosts = async () => [{ host: 'server1', capabilities: ['run', 'gearops.info'], servers: ['g:4730'] }];
    const cmd = versioned(d);
    const h = inv('hosts');
    await cmd.handle(h.inv);
    expect(h.rec.ephemerals[0]).toMatch(/server1\s+1\.2\.0\s/);
    expect(h.rec.ephemerals[0]).not.toContain('mismatch');
  });

  it('queues jobs past the per-host cap, and says so in the channel', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const d = fakeDispatcher(async () => {
      await gate;
      return ok(value('up'));
    });
    const cmd = createRunCommand({
      dispatcher: d,
      policy,
      limiter: createHostLimiter({ maxConcurrent: 1 }),
      logger: createSilentLogger(),
      updateEveryMs: 0,
    });
    const a = inv('server1 uptime');
    const b = inv('server1 uptime');
    // Waits on events, not time: the first job is submitted (it holds the one slot), then the second is queued.
    const first = cmd.handle(a.inv);
    await until(() => d.requests.length === 1);
    const second = cmd.handle(b.inv);
    await until(() => b.rec.posts.length > 0);
    expect(b.rec.posts[0]?.text).toMatch(/queued: server1 is busy, 1 job\(s\) waiting/);
    expect(d.requests).toHaveLength(1);
    release();
    expect((await first).status).toBe('ok');
    expect((await second).status).toBe('ok');
    expect(d.requests).toHaveLength(2);
    expect(b.rec.updates.at(-1)?.text).toMatch(/exit 0/);
    // The "queued" message is the one updated: never a second message for the same command.
    expect(b.rec.posts).toHaveLength(1);
    expect(new Set(b.rec.updates.map((u) => u.ref.ts))).toEqual(new Set([b.rec.posts[0]!.ref.ts]));
  });

  it('holds a host slot only while the job runs: jobs go on while chat waits its turn, one post each', async () => {
    const d = fakeDispatcher(() => ok(value('up')));
    const cmd = setup(d, 2500, 1);
    // Posts wait until the channel's pace lets them out (here: until the gate opens).
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const runs = Array.from({ length: 3 }, () => {
      const x = inv('server1 uptime');
      const post = x.rec.reply.post.bind(x.rec.reply);
      x.rec.reply.post = async (msg, o) => {
        await gate;
        return post(msg, o);
      };
      return { ...x, done: cmd.handle(x.inv) };
    });
    // All three jobs ran on the one slot although no message has left yet.
    await until(() => d.requests.length === 3);
    release();
    for (const r of runs) {
      expect((await r.done).status).toBe('ok');
      // One message each, posted with the final state: no "starting…" then an update.
      expect(r.rec.posts.map((p) => p.text)).toEqual([expect.stringMatching(/exit 0/)]);
      expect(r.rec.updates).toEqual([]);
    }
  });

  it('tells the requester once, privately, when the channel refuses the message, with the result', async () => {
    const d = fakeDispatcher(() => ok(value('up')));
    const { rec, inv: i } = inv('server1 uptime');
    rec.reply.post = async () => {
      throw new Error('Slack chat.postMessage failed: not_in_channel — invite it with `/invite @gearops`');
    };
    const out = await setup(d).handle(i);
    expect(out.status).toBe('ok');
    expect(rec.ephemerals).toHaveLength(1);
    expect(rec.ephemerals[0]).toMatch(/Could not post in the channel: .*not_in_channel.*\/invite @gearops/s);
    expect(rec.ephemerals[0]).toMatch(/exit 0/);
  });
});
