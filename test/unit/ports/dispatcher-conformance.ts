/**
 * The Dispatcher port's contract, as one suite every implementation runs (bullmq's adapter conformance tests are the
 * model): the Gearman dispatcher with a real gearmand and worker process (test/integration/dispatcher-conformance
 * .test.ts) and the fake dispatcher of test/unit/fakes/dispatcher.ts (test/unit/ports/dispatcher.test.ts), so the
 * fake cannot drift from what commands meet for real: a verified value, a refusal that keeps its code, the coded
 * errors of no worker, time-out, cancellation and no job server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher, JobEvent } from '../../../src/core/ports/dispatcher.js';
import type { RunValue } from '../../../src/core/capabilities.js';

/**
 * An implementation under test: one live host, `server1`, whose worker registers `run` under a policy that allows
 * `uptime` and `sleep <1..60>` and refuses a line with `;` (gearops_policy_denied).
 */
export interface DispatcherHarness {
  dispatcher: Dispatcher;
  /** Takes every job server away (the last thing the suite does). */
  down(): Promise<void>;
  close(): Promise<void>;
}

const requester = { userId: 'U1', channelId: 'C1', roles: [] };

/** Runs the contract against one `make()` for the whole suite (a worker process is slow to start). */
export function describeDispatcherConformance(name: string, make: () => Promise<DispatcherHarness>): void {
  describe(`Dispatcher contract: ${name}`, () => {
    let h: DispatcherHarness;
    let d: Dispatcher;
    beforeAll(async () => {
      h = await make();
      d = h.dispatcher;
    });
    afterAll(async () => {
      await h?.close();
    });
    const run = (line: string, o: { timeoutMs?: number; signal?: AbortSignal; host?: string } = {}) =>
      d.submit({ capability: 'run', host: o.host ?? 'server1', args: { line }, requester, ...o });

    it("answers a registered capability with its value, the worker's output streamed first", async () => {
      const events: JobEvent[] = [];
      const r = await d.submit({
        capability: 'run',
        host: 'server1',
        args: { line: 'uptime' },
        requester,
        onEvent: (e) => events.push(e),
      });
      expect(r).toMatchObject({ host: 'server1', capability: 'run', ok: true, error: null });
      expect(typeof r.handle).toBe('string');
      expect(r.handle).not.toBe('');
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
      const v = r.value as RunValue;
      expect(v).toMatchObject({ exitCode: 0, timedOut: false, truncated: false });
      expect(v.output).toMatch(/load average/);
      expect(typeof v.rule).toBe('string');
      const streamed = events.flatMap((e) => (e.type === 'output' ? [e.text] : [])).join('');
      expect(streamed).toBe(v.output);
    });

    it('keeps a worker-side refusal as an answer: ok false, its code and reason', async () => {
      const r = await run('uptime; id');
      expect(r.ok).toBe(false);
      expect(r.value).toBeNull();
      expect(r.error?.code).toBe('gearops_policy_denied');
      expect(r.error?.message).toMatch(/^worker server1 policy: .*`;`/);
      expect(r).toMatchObject({ host: 'server1', capability: 'run' });
    });

    it('refuses a host with no worker at once, before queueing, naming the live hosts', async () => {
      // A job that queued would wait out this limit and the test's own: the refusal must come first.
      const err = await run('uptime', { host: 'nohost', timeoutMs: 3_600_000 }).then(
        () => null,
        (e: unknown) => e as { code: string; message: string; data: Record<string, unknown> },
      );
      expect(err?.code).toBe('gearops_no_worker');
      expect(err?.message).toContain('no worker for `run@nohost`');
      expect(err?.message).toContain('live hosts: server1');
      expect(err?.data).toMatchObject({ host: 'nohost', capability: 'run' });
      await expect(d.reachable('nohost', 'run')).rejects.toMatchObject({
        code: 'gearops_no_worker',
        message: expect.stringContaining('live hosts: server1'),
      });
      await expect(d.reachable('server1', 'no.such.capability')).rejects.toMatchObject({
        code: 'gearops_no_worker',
      });
      await expect(d.reachable('server1', 'run')).resolves.toBeUndefined();
    });

    it('gives up on a job that outlasts its limit, as a time-out, and keeps serving', async () => {
      await expect(run('sleep 20', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'gearops_job_timeout' });
      expect((await run('uptime')).ok).toBe(true);
    });

    it('stops waiting when the caller cancels, coded as cancelled', async () => {
      const before = new AbortController();
      before.abort();
      await expect(run('uptime', { signal: before.signal })).rejects.toMatchObject({ code: 'gearops_cancelled' });
      const during = new AbortController();
      const job = run('sleep 20', { signal: during.signal });
      during.abort();
      await expect(job).rejects.toMatchObject({ code: 'gearops_cancelled' });
      expect((await run('uptime')).ok).toBe(true);
    });

    it('lists the live hosts with their capabilities and job servers, and answers a ping', async () => {
      const hosts = await d.hosts();
      expect(hosts.map((x) => x.host)).toEqual(['server1']);
      expect(hosts[0]!.capabilities).toContain('run');
      expect([...hosts[0]!.capabilities].sort()).toEqual(hosts[0]!.capabilities);
      expect(hosts[0]!.servers.length).toBeGreaterThan(0);
      expect(await d.ping()).toBe(true);
    });

    it('says the job servers are gone, coded, once none answers', async () => {
      await h.down();
      expect(await d.ping()).toBe(false);
      await expect(d.hosts()).rejects.toMatchObject({ code: 'gearops_gearman_unavailable' });
      await expect(run('uptime', { timeoutMs: 3_600_000 })).rejects.toMatchObject({
        code: 'gearops_gearman_unavailable',
      });
    });
  });
}
