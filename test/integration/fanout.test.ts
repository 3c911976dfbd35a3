import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { until } from '../helpers/wait.js';

/** Fan-out over a local fleet: one worker process per host name, a real gearmand, the real store for the audit. */
describe('/run over many hosts, real workers', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      // Three, as the other fleet tests: more worker processes starting at once miss their deadline on a loaded CI box.
      hosts: ['server1', 'server2', 'server3'],
      workerArgs: { server1: ['--groups', 'ams'], server2: ['--groups', 'ams,eu-west'] },
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('runs `/run all hostname` as one job per host and gathers the identical answers in one block', async () => {
    const { outcome, text } = await fleet.run('/run all hostname');
    expect(outcome.status).toBe('ok');
    expect(outcome.jobs?.map((j) => j.host)).toEqual(['server1', 'server2', 'server3']);
    expect(new Set(outcome.jobs?.map((j) => j.jobHandle)).size).toBe(3);
    expect(text).toContain('server[1-3] (3 hosts) — exit 0');
    expect(text).toMatch(/3 hosts: 3 ok · 0 failed/);
    // The audit keeps one row per host job, tied to the one command by its request id.
    await until(async () => {
      const rows = (await fleet.ctx.store!.audit.recent(50)).filter((r) => r.text === 'all hostname');
      return rows.length === 3 && new Set(rows.map((r) => r.requestId)).size === 1;
    });
  });

  it('reaches groups named by the workers and by the policy, and /run hosts lists them', async () => {
    const ams = await fleet.run('/run @ams hostname');
    expect(ams.outcome.jobs?.map((j) => j.host)).toEqual(['server1', 'server2']);
    const west = await fleet.run('/run @eu-west hostname');
    expect(west.outcome.jobs?.map((j) => j.host)).toEqual(['server2']);
    const replicas = await fleet.run('/run @replicas hostname');
    expect(replicas.outcome.jobs?.map((j) => j.host)).toEqual(['server2', 'server3']);
    const hosts = await fleet.run('/run hosts');
    expect(hosts.text).toMatch(/@replicas\s+policy\s+server\[2-3\]/);
    expect(hosts.text).toMatch(/@ams\s+workers\s+server\[1-2\]/);
  });

  it('denies `/run server* cat /etc/shadow` on every host, each denial naming the rule', async () => {
    const { outcome, text } = await fleet.run('/run server* cat /etc/shadow');
    expect(outcome.status).toBe('denied');
    expect(outcome.jobs?.every((j) => j.status === 'denied' && j.rule === 'mysql-config')).toBe(true);
    expect(text).toContain('Denied on all 3 hosts');
    expect(text).toMatch(
      /server\[1-3\] \(3 hosts\) — denied: rule `mysql-config` allows `cat <file under \/etc\/mysql\/>`/,
    );
  });

  it('reports a host whose worker died as such, while the others answer', async () => {
    await fleet.workers.get('server3')!.kill();
    await until(async () => !(await fleet.ctx.dispatcher.hosts()).some((h) => h.host === 'server3'));
    const { outcome, text } = await fleet.run('/run server[1-3] hostname');
    expect(outcome.status).toBe('failed');
    expect(text).toContain('server3 (1 host) — no worker');
    expect(text).toContain('server[1-2] (2 hosts) — exit 0');
    expect(text.indexOf('server3 (1 host)')).toBeLessThan(text.indexOf('server[1-2] (2 hosts)'));
    // A glob only reaches live hosts: the dead one is not even named.
    const glob = await fleet.run('/run server* hostname');
    expect(glob.outcome.jobs?.map((j) => j.host)).toEqual(['server1', 'server2']);
  });
});
