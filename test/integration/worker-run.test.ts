import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createGearmanDispatcher } from '../../src/gearman/dispatcher.js';
import { createGearmanClient } from '../../src/gearman/client.js';
import { createGearmanWorker } from '../../src/gearman/worker.js';
import { signJob, signResult } from '../../src/core/payload.js';
import type { Dispatcher } from '../../src/core/ports/dispatcher.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import { freePort, startGearmand, type GearmandHandle } from '../helpers/gearmand.js';
import { adminStatus } from '../../src/gearman/admin.js';
import { until } from '../helpers/wait.js';
import { sample, scrape } from '../helpers/metrics.js';

const run = promisify(execFile);
const logger = createSilentLogger();
const secret = randomBytes(32).toString('hex');
const requester = { userId: 'U1', channelId: 'C1', roles: [] };
/** How many times `w` logged starting `line` (its job_start events). */
const started = (w: WorkerProcess, line: string) =>
  w
    .logs()
    .split('\n')
    .filter((l) => l.includes('"event":"job_start"') && l.includes(`"line":"${line}"`)).length;

describe('worker process with a real gearmand', () => {
  let g: GearmandHandle;
  let w: WorkerProcess;
  let d: Dispatcher;
  let dir: string;
  let probe: string;
  // server1's folders, the same across its restarts (as on a real host): its sandboxes and its record of jobs taken.
  const workerArgs = () => ['--sandbox-dir', join(dir, 'sandboxes'), '--state-dir', join(dir, 'state')];

  beforeAll(async () => {
    g = await startGearmand();
    dir = mkdtempSync(join(tmpdir(), 'gearops-worker-test-'));
    probe = join(dir, 'must-not-exist');
    // A policy that would let `touch <probe>` run: if any refused job ran, the file would appear.
    const policy = join(dir, 'policy.yml');
    writeFileSync(
      policy,
      `version: 1\ncommands:\n  - rule: diag\n    grep: true\n    allow:\n      - uptime\n      - hostname\n      - touch <path:${dir}/>\n      - sleep <int:1..60>\n      - seq <int:1..10000000>\n      - vmstat 1 3\n`,
    );
    w = await startWorkerProcess({ host: 'server1', gearman: g.address, secret, policy, extraArgs: workerArgs() });
    d = createGearmanDispatcher({ servers: [g.address], secret, logger, preset: 'fast' });
  });

  afterAll(async () => {
    await d?.close();
    await w?.stop();
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a signed job and returns verified output with the exit code', async () => {
    const out: string[] = [];
    const r = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'uptime' },
      requester,
      onEvent: (e) => e.type === 'output' && out.push(e.text),
    });
    expect(r.ok).toBe(true);
    expect(r.value?.exitCode).toBe(0);
    expect(r.value?.output).toMatch(/load average/);
    expect(out.join('')).toBe(r.value?.output);
    expect(r.value?.rule).toBe('diag');
  });

  it('lists the host and fails fast for a host with no worker', async () => {
    expect((await d.hosts()).map((h) => h.host)).toContain('server1');
    // Fast: refused before anything is queued, not after a time-out (this one would outlast the test).
    await expect(
      d.submit({ capability: 'run', host: 'nohost', args: { line: 'uptime' }, requester, timeoutMs: 3_600_000 }),
    ).rejects.toMatchObject({
      code: 'gearops_no_worker',
      message: expect.stringContaining('no worker for `run@nohost`'),
    });
    expect((await adminStatus(g.address)).filter((f) => f.fn === 'run@nohost' && f.total > 0)).toEqual([]);
    await expect(d.reachable('nohost', 'run')).rejects.toMatchObject({
      code: 'gearops_no_worker',
      message: expect.stringContaining('live hosts: server1'),
    });
    await expect(d.reachable('server1', 'run')).resolves.toBeUndefined();
  });

  it("re-checks sandbox jobs against the worker's own policy: one that allows no /replica action builds nothing", async () => {
    const hosts = await d.hosts();
    expect(hosts.find((h) => h.host === 'server1')?.capabilities).toContain('sandbox.install');
    const install = await d.submit({
      capability: 'sandbox.install',
      host: 'server1',
      args: { name: 'nope', cluster: 'nope', port: await freePort(), serverId: 1, role: 'master' },
      requester: { ...requester, roles: ['dba'] },
    });
    expect(install.ok).toBe(false);
    expect(install.error).toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringMatching(/^worker server1 policy: .*replica\.install/),
    });
    // No rule grants an action here: each denial names the action no rule allows (the first one it needs).
    for (const [capability, args, action] of [
      ['sandbox.check', {}, 'replica.diagnose'],
      ['sandbox.remove', { name: 'nope' }, 'replica.remove'],
      ['sandbox.remove', { name: 'nope', undo: 'install' }, 'replica.install'],
    ] as const) {
      const r = await d.submit({ capability, host: 'server1', args, requester });
      expect(r.error?.code, capability).toBe('gearops_policy_denied');
      expect(r.error?.message, capability).toMatch(
        new RegExp(`^worker server1 policy: no rule of .* allows ${action}$`),
      );
    }
    expect(existsSync(join(dir, 'sandboxes', 'nope'))).toBe(false);
  });

  it('re-checks the policy on the worker: a line the bot never should send is refused there', async () => {
    const r = await d.submit({ capability: 'run', host: 'server1', args: { line: `touch ${probe}; id` }, requester });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('gearops_policy_denied');
    expect(r.error?.message).toBe('worker server1 policy: `;` is not allowed: commands run without a shell');
    expect(existsSync(probe)).toBe(false);
  });

  it('runs nothing for raw, forged, stale, replayed or misaddressed jobs, and keeps serving', async () => {
    const client = createGearmanClient({ servers: [g.address], logger });
    const line = `touch ${probe}`;
    const fn = 'run@server1';
    const attempt = (payload: string) =>
      client.submit(fn, payload, { timeoutMs: 5000 }).then(
        () => 'completed',
        (e: Error) => e.message,
      );
    expect(await attempt(line)).toMatch(/job refused: not a gearops envelope/);
    expect(await attempt(JSON.stringify({ v: 1, kind: 'job', args: { line } }))).toMatch(/job refused: unsigned/);
    const forged = signJob('another-secret-0123456789abcdef', {
      host: 'server1',
      capability: 'run',
      requester,
      args: { line },
    });
    expect(await attempt(forged.payload)).toMatch(/bad signature/);
    const stale = signJob(secret, {
      host: 'server1',
      capability: 'run',
      requester,
      args: { line },
      now: Date.now() - 120_000,
    });
    expect(await attempt(stale.payload)).toMatch(/stale/);
    const other = signJob(secret, { host: 'server2', capability: 'run', requester, args: { line } });
    expect(await attempt(other.payload)).toMatch(/addressed to server2/);
    const once = signJob(secret, { host: 'server1', capability: 'run', requester, args: { line: 'hostname' } });
    expect(await attempt(once.payload)).toBe('completed');
    expect(await attempt(once.payload)).toMatch(/replayed/);
    // The C client sees the refusal too.
    const c = await run('gearman', ['-h', '127.0.0.1', '-p', String(g.port), '-f', fn, line]).then(
      () => 'ok',
      (e: { stderr?: string; stdout?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    expect(c).not.toBe('ok');
    expect(existsSync(probe)).toBe(false);
    await client.close();
    const r = await d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'hostname' },
      requester,
    });
    expect(r.value?.exitCode).toBe(0);
  });

  it('rejects a result from a rogue worker registered under the same name', async () => {
    const rogue = createGearmanWorker({
      servers: [g.address],
      logger,
      concurrency: 1,
      functions: {
        'run@evil': async (job) =>
          signResult('rogue-secret-0123456789abcdef', {
            job: JSON.parse(job.payload.toString()).id,
            host: 'evil',
            capability: 'run',
            ok: true,
            value: { output: 'all fine' },
            error: null,
            durationMs: 1,
          }),
      },
    });
    await rogue.start();
    await until(async () => (await d.hosts()).some((h) => h.host === 'evil'), 5000, { label: 'the rogue registered' });
    await expect(
      d.submit({ capability: 'run', host: 'evil', args: { line: 'uptime' }, requester }),
    ).rejects.toMatchObject({ code: 'gearops_bad_result' });
    await rogue.stop({ graceMs: 100 });
  });

  it('answers gearops.info with its version, capabilities and policy digest, when its own policy allows', async () => {
    // server1's policy grants no actions: the worker refuses, naming what is missing, like any other job.
    const refused = await d.submit({ capability: 'gearops.info', host: 'server1', args: {}, requester });
    expect(refused.ok).toBe(false);
    expect(refused.error?.code).toBe('gearops_policy_denied');
    expect(refused.error?.message).toMatch(/worker server1 policy: .*replica\.diagnose/);
    const demo = join(process.cwd(), 'policies/demo.yml');
    const w3 = await startWorkerProcess({ host: 'server3', gearman: g.address, secret, policy: demo });
    try {
      const r = await d.submit({
        capability: 'gearops.info',
        host: 'server3',
        args: {},
        requester,
      });
      expect(r.ok).toBe(true);
      const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string };
      expect(r.value?.version).toBe(pkg.version);
      expect(r.value?.capabilities).toEqual(expect.arrayContaining(['gearops.info', 'run']));
      const digest = createHash('sha256').update(readFileSync(demo)).digest('hex').slice(0, 16);
      expect(r.value?.policyDigest).toBe(`sha256:${digest}`);
    } finally {
      await w3.stop();
    }
  });

  it('counts refused jobs by reason on its --metrics-port, and what it ran', async () => {
    const w5 = await startWorkerProcess({
      host: 'server5',
      gearman: g.address,
      secret,
      policy: join(dir, 'policy.yml'),
      extraArgs: ['--metrics-port', '127.0.0.1:0'],
    });
    const client = createGearmanClient({ servers: [g.address], logger });
    try {
      const port = /"event":"metrics_listening","port":(\d+)/.exec(w5.logs())?.[1];
      expect(port).toBeDefined();
      const url = `http://127.0.0.1:${port}/metrics`;
      const forged = signJob('another-secret-entirely-0123456789', {
        host: 'server5',
        capability: 'run',
        requester,
        args: { line: 'hostname' },
      });
      await expect(client.submit('run@server5', forged.payload, { timeoutMs: 5000 })).rejects.toThrow(/signature/);
      // The worker's own policy denies this line (no rule names `id`): refused as policy.
      const denied = await d.submit({ capability: 'run', host: 'server5', args: { line: 'id' }, requester });
      expect(denied.error?.code).toBe('gearops_policy_denied');
      expect(denied.error?.message).toMatch(/^worker server5 policy: `id` is not in any rule of /);
      expect((await d.submit({ capability: 'run', host: 'server5', args: { line: 'hostname' }, requester })).ok).toBe(
        true,
      );
      const text = await scrape(url);
      expect(sample(text, 'gearops_jobs_refused_total', { reason: 'bad_signature' })).toBe(1);
      expect(sample(text, 'gearops_jobs_refused_total', { reason: 'policy' })).toBe(1);
      const run = { capability: 'run', host: 'server5' };
      expect(sample(text, 'gearops_jobs_finished_total', { ...run, outcome: 'completed' })).toBe(1);
      expect(sample(text, 'gearops_gearmand_connection_up', { role: 'worker', server: g.address })).toBe(1);
      expect(text).toMatch(/^gearops_info\{version="[^"]+",role="worker"\} 1$/m);
    } finally {
      await client.close();
      await w5.stop();
    }
  });

  it('kills a command past its time limit and caps output', async () => {
    const limited = join(dir, 'limited.yml');
    writeFileSync(
      limited,
      `version: 1\ncommands:\n  - rule: slow\n    timeout_s: 1\n    max_output_bytes: 2048\n    allow:\n      - sleep <int:1..60>\n      - seq <int:1..10000000>\n`,
    );
    const w2 = await startWorkerProcess({ host: 'server2', gearman: g.address, secret, policy: limited });
    try {
      const slow = await d.submit({
        capability: 'run',
        host: 'server2',
        args: { line: 'sleep 30' },
        requester,
        timeoutMs: 10_000,
      });
      expect(slow.value?.timedOut).toBe(true);
      const big = await d.submit({
        capability: 'run',
        host: 'server2',
        args: { line: 'seq 1000000' },
        requester,
        timeoutMs: 10_000,
      });
      expect(big.value?.truncated).toBe(true);
      expect(big.value?.outputBytes).toBe(2048);
    } finally {
      await w2.stop();
    }
  });

  it('serves again by itself after gearmand is killed and restarted', async () => {
    await g.restart();
    let last: unknown = null;
    await until(
      async () => {
        last = await d
          .submit({ capability: 'run', host: 'server1', args: { line: 'hostname' }, requester })
          .catch((e: Error) => e);
        return !(last instanceof Error);
      },
      15_000,
      { every: 200, label: 'a job answered after the restart' },
    );
    expect((last as { value?: { exitCode: number } }).value?.exitCode).toBe(0);
  });

  it('loses no job when its worker is killed mid-run: gearmand hands it to the worker that comes back', async () => {
    const job = d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'sleep 2' },
      requester,
      timeoutMs: 30_000,
    });
    await until(() => started(w, 'sleep 2') === 1, 10_000, { label: 'sleep 2 running' });
    const killed = new Promise((r) => w.child.once('exit', r));
    w.child.kill('SIGKILL');
    await killed;
    w = await startWorkerProcess({
      host: 'server1',
      gearman: g.address,
      secret,
      policy: join(dir, 'policy.yml'),
      extraArgs: workerArgs(),
    });
    const r = await job;
    expect(r.ok).toBe(true);
    expect(r.value?.exitCode).toBe(0);
  });

  it('refuses, after a restart, a replay of a job it ran before it: its record of jobs taken outlives the process', async () => {
    const client = createGearmanClient({ servers: [g.address], logger });
    try {
      const attempt = (payload: string) =>
        client.submit('run@server1', payload, { timeoutMs: 5000 }).then(
          () => 'completed',
          (e: Error) => e.message,
        );
      const once = signJob(secret, { host: 'server1', capability: 'run', requester, args: { line: 'hostname' } });
      expect(await attempt(once.payload)).toBe('completed');
      const killed = new Promise((r) => w.child.once('exit', r));
      w.child.kill('SIGKILL');
      await killed;
      w = await startWorkerProcess({
        host: 'server1',
        gearman: g.address,
        secret,
        policy: join(dir, 'policy.yml'),
        extraArgs: workerArgs(),
      });
      expect(await attempt(once.payload)).toMatch(/replayed/);
      expect(readFileSync(join(dir, 'state', 'seen-jobs'), 'utf8')).toContain(once.envelope.id);
    } finally {
      await client.close();
    }
  });

  it("follows the new run when its worker is killed after streaming output: the old run's output is dropped, not refused as a forgery", async () => {
    // vmstat (procps, which mariadb-server depends on) prints its header and a first sample at once, then one a second.
    const events: string[] = [];
    const job = d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'vmstat 1 3' },
      requester,
      timeoutMs: 30_000,
      onEvent: (e) => events.push(e.type === 'output' ? e.text : `<${e.type}>`),
    });
    await until(() => events.join('').includes('procs'), 10_000);
    const killed = new Promise((r) => w.child.once('exit', r));
    w.child.kill('SIGKILL');
    await killed;
    w = await startWorkerProcess({
      host: 'server1',
      gearman: g.address,
      secret,
      policy: join(dir, 'policy.yml'),
      extraArgs: workerArgs(),
    });
    const r = await job;
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    expect(r.value?.exitCode).toBe(0);
    // Two header lines and three samples: the whole second run.
    expect(r.value?.output.trimEnd().split('\n')).toHaveLength(5);
    // What the caller saw: the first run's start, word that it starts over, then exactly the second run.
    expect(events.filter((e) => e === '<rerun>')).toHaveLength(1);
    const at = events.indexOf('<rerun>');
    expect(events.slice(0, at).join('')).toMatch(/^procs/);
    expect(events.slice(at + 1).join('')).toBe(r.value?.output);
  });

  it('loses no job when gearmand restarts mid-run: the bot sends it again and the worker answers with the run it has, not a second one', async () => {
    const events: string[] = [];
    const job = d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'seq 3' },
      requester,
      timeoutMs: 30_000,
      onEvent: (e) => e.type === 'output' && events.push(e.text),
    });
    const slow = d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'sleep 3' },
      requester,
      timeoutMs: 30_000,
    });
    expect((await job).value?.exitCode).toBe(0);
    await until(() => started(w, 'sleep 3') === 1, 10_000, { label: 'sleep 3 running' });
    await g.restart();
    const r = await slow;
    expect(r.ok).toBe(true);
    expect(r.value?.exitCode).toBe(0);
    expect(started(w, 'sleep 3')).toBe(1);
    expect(w.logs()).toMatch(/"event":"job_resent"/);
    expect(events.join('')).toBe('1\n2\n3\n');
  });

  it('finishes a running job on SIGTERM and exits cleanly', async () => {
    const job = d.submit({
      capability: 'run',
      host: 'server1',
      args: { line: 'sleep 1' },
      requester,
      timeoutMs: 10_000,
    });
    await until(() => started(w, 'sleep 1') === 1, 10_000, { label: 'sleep 1 running' });
    const exited = new Promise<number | null>((r) => w.child.once('exit', (code) => r(code)));
    w.child.kill('SIGTERM');
    const r = await job;
    expect(r.value?.exitCode).toBe(0);
    expect(await exited).toBe(0);
  });
});
