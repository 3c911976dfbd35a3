import { describe, expect, it } from 'vitest';
import { createRoutedControl } from '../../../src/core/routed-control.js';
import { parseControlArgs, type MysqlControlValue } from '../../../src/core/mysql-control-job.js';
import { controlFor, type ReplicationControl } from '../../../src/core/ports/replication-control.js';
import type { Dispatcher, JobRequest, JobResult } from '../../../src/core/ports/dispatcher.js';
import { ErrorCode, GearopsError } from '../../../src/errors.js';
import { runFailover } from '../../../src/cluster/failover.js';
import { fakeFailoverWorld } from '../cluster/fake-servers.js';
import { monitorFailoverPorts } from '../../../src/monitor/failover-ports.js';

const U1 = { userId: 'U1', channelId: 'C1', groups: [], roles: [] };

/**
 * A dispatcher standing for the workers of the fake world's hosts: each mysql.control job is checked against the
 * contract (as the worker does) and run on that host's server of the world (the worker's loopback), or answered
 * with `refuse` (a worker's denial). `missing` hosts have no worker doing mysql.control.
 */
function fakeWorkers(
  world: { control: ReplicationControl },
  hostAddress: (host: string) => string,
  o: { refuse?: (r: JobRequest<'mysql.control'>) => JobResult['error']; missing?: string[] } = {},
) {
  const jobs: Array<JobRequest<'mysql.control'>> = [];
  const submit = async (req: JobRequest<'mysql.control'>) => {
    if (o.missing?.includes(req.host))
      throw new GearopsError(ErrorCode.NoWorker, `no worker for mysql.control@${req.host}`);
    jobs.push(req);
    const a = parseControlArgs(req.args);
    const ok = (value: MysqlControlValue | null, error: JobResult['error'] = null) => ({
      host: req.host,
      capability: req.capability,
      handle: 'H:1',
      ok: error === null,
      value,
      error,
      durationMs: 1,
    });
    const denied = o.refuse?.(req);
    if (denied) return ok(null, denied);
    const n = { address: hostAddress(req.host), port: a.port };
    const c = world.control;
    switch (a.op) {
      case 'gtidState':
        return ok({ op: a.op, state: await c.gtidState(n) });
      case 'setReadOnly':
        await c.setReadOnly(n, a.on);
        return ok({ op: a.op });
      case 'killWriters':
        return ok({ op: a.op, killed: await c.killWriters(n) });
      case 'waitForGtid':
        return ok({ op: a.op, reached: await c.waitForGtid(n, a.position, a.timeoutMs) });
      case 'detachReplication':
        await c.detachReplication(n);
        return ok({ op: a.op });
      case 'pointAt':
        await c.pointAt(n, a.master, a.slavePosFromBinlog ? { slavePosFromBinlog: true } : undefined);
        return ok({ op: a.op });
      case 'startReplication':
        await c.startReplication(n);
        return ok({ op: a.op });
    }
  };
  const reachable = async (host: string) => {
    if (o.missing?.includes(host)) throw new GearopsError(ErrorCode.NoWorker, `no worker for mysql.control@${host}`);
  };
  return { d: { submit, reachable } as unknown as Dispatcher, jobs };
}

/** A direct control that must never be given a node read through a worker. */
function directOnly(inner: ReplicationControl, touched: string[]): ReplicationControl {
  return new Proxy(inner, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const n = args[0] as { address?: string; via?: string } | undefined;
        if (n?.via) throw new Error(`direct control given ${n.address} read via ${n.via}`);
        if (n?.address) touched.push(`${String(p)} ${n.address}`);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** The fake failover world with both replicas read through their hosts' workers (r1, r2). */
function viaWorld(o: Parameters<typeof fakeWorkers>[2] = {}) {
  const w = fakeFailoverWorld();
  w.world.write('10.0.0.1:3306');
  w.world.kill('10.0.0.1:3306');
  w.record().kind = 'watched';
  for (const n of w.record().nodes.slice(1)) n.via = n.host;
  const addressOf = (h: string) => w.record().nodes.find((n) => n.host === h)!.address;
  const workers = fakeWorkers(w.world, addressOf, o);
  const touched: string[] = [];
  const routed = createRoutedControl(directOnly(w.world.control, touched), workers.d);
  return { w, workers, touched, routed };
}

describe('the routed replication control', () => {
  it('fails over a cluster whose replicas are read through their workers: every step there, as the requester', async () => {
    const { w, workers, touched, routed } = viaWorld();
    const told: string[] = [];
    const deps = { ...w.deps, control: controlFor(routed, U1, 'replica.failover') };
    const r = await runFailover(deps, 'c', { actor: 'U1', automatic: false, report: async (t) => void told.push(t) });
    expect(r, r.summary).toMatchObject({ ok: true });
    const writable = [...w.world.servers.entries()].filter(([, s]) => s.up && !s.readOnly).map(([a]) => a);
    expect(writable).toEqual([r.promoted]);
    const other = ['10.0.0.2:3306', '10.0.0.3:3306'].find((a) => a !== r.promoted)!;
    expect(w.world.calls).toContain(`point ${other} at ${r.promoted}`);
    // Every step on a replica went to its host's worker, signed for U1 and for replica.failover.
    expect(touched).toEqual([]);
    expect(new Set(workers.jobs.map((j) => `${j.capability} ${j.requester.userId} ${j.args.serves}`))).toEqual(
      new Set(['mysql.control U1 replica.failover']),
    );
    expect(new Set(workers.jobs.map((j) => j.args.op))).toEqual(
      new Set(['gtidState', 'waitForGtid', 'pointAt', 'detachReplication', 'setReadOnly', 'startReplication']),
    );
    expect(new Set(workers.jobs.map((j) => j.host))).toEqual(new Set(['r1', 'r2']));
  });

  it("runs the monitor's automatic failover and fencing through the workers as gearops-monitor, for replica.failover", async () => {
    const { w, workers, routed } = viaWorld();
    const ports = monitorFailoverPorts({
      sequence: { ...w.deps, control: routed },
      journal: w.journal,
      control: routed,
    });
    const r = await ports.failover.run('c', {
      actor: 'gearops-monitor',
      automatic: true,
      report: async () => undefined,
    });
    expect(r.ok, r.summary).toBe(true);
    const n = workers.jobs.length;
    await ports.fencing.setReadOnly({ address: '10.0.0.2', port: 3306, via: 'r1' });
    expect(workers.jobs.slice(n).map((j) => [j.host, j.args.op, j.args.serves])).toEqual([
      ['r1', 'setReadOnly', 'replica.failover'],
    ]);
    expect(new Set(workers.jobs.map((j) => `${j.requester.userId} ${j.args.serves}`))).toEqual(
      new Set(['gearops-monitor replica.failover']),
    );
  });

  it('refuses up front, naming node and worker, when a replica worker does no topology changes', async () => {
    const { w, workers, routed } = viaWorld({ missing: ['r2'] });
    const deps = { ...w.deps, control: controlFor(routed, U1, 'replica.failover') };
    const r = await runFailover(deps, 'c', { actor: 'U1', automatic: false, report: async () => undefined });
    expect(r).toMatchObject({ ok: false, refused: true });
    expect(r.summary).toMatch(
      /10\.0\.0\.3:3306 is changed through the worker on r2, and no worker on r2 does topology/,
    );
    expect(w.world.calls).toEqual([]);
    expect(w.journal.rows).toEqual([]);
    expect(workers.jobs).toEqual([]);
  });

  it("keeps a worker's denial as a denial, with its rule", async () => {
    const { routed } = viaWorld({
      refuse: () => ({
        code: 'gearops_policy_denied',
        message: 'worker r1 policy: rule `r1-dba` allows replica.switchover only for role:dba',
        data: { rule: 'r1-dba' },
      }),
    });
    const n = { address: '10.0.0.2', port: 3306, via: 'r1' };
    await expect(controlFor(routed, U1, 'replica.switchover').setReadOnly(n, true)).rejects.toMatchObject({
      code: 'gearops_policy_denied',
      message: expect.stringMatching(/^worker r1: worker r1 policy: rule `r1-dba`/),
      data: { host: 'r1', rule: 'r1-dba' },
    });
  });

  it('refuses a via node without a requester, or with a replication login to send, before any job', async () => {
    const { workers, routed } = viaWorld();
    const n = { address: '10.0.0.2', port: 3306, via: 'r1' };
    await expect(routed.setReadOnly(n, true)).rejects.toThrow(
      /through the worker on r1, which needs to know who asked/,
    );
    await expect(
      controlFor(routed, U1, 'replica.rejoin').pointAt(
        n,
        { address: '10.0.0.3', port: 3306 },
        { account: { user: 'repl', password: 'secret' } },
      ),
    ).rejects.toThrow(/its replication login comes from that worker's credentials file/);
    expect(workers.jobs).toEqual([]);
  });

  it('sends each op with its values and a job time-out past its own wait', async () => {
    const { workers, routed } = viaWorld();
    const c = controlFor(routed, U1, 'replica.switchover');
    const n = { address: '10.0.0.2', port: 3306, via: 'r1', credentials: 'prod' };
    await c.waitForGtid(n, '0-1-5', 30_000);
    await c.setReadOnly(n, true, { timeoutMs: 2000 });
    await c.pointAt(n, { address: '10.0.0.3', port: 3306 }, { slavePosFromBinlog: true });
    expect(workers.jobs.map((j) => [j.args, j.timeoutMs])).toEqual([
      [
        {
          port: 3306,
          credentials: 'prod',
          serves: 'replica.switchover',
          op: 'waitForGtid',
          position: '0-1-5',
          timeoutMs: 30_000,
        },
        50_000,
      ],
      [
        { port: 3306, credentials: 'prod', serves: 'replica.switchover', op: 'setReadOnly', on: true, timeoutMs: 2000 },
        22_000,
      ],
      [
        {
          port: 3306,
          credentials: 'prod',
          serves: 'replica.switchover',
          op: 'pointAt',
          master: { address: '10.0.0.3', port: 3306 },
          slavePosFromBinlog: true,
        },
        20_000,
      ],
    ]);
  });
});

describe('mysql.control args (both sides)', () => {
  const ok = { port: 3306, serves: 'replica.switchover' };
  it.each([
    [
      { ...ok, op: 'waitForGtid', position: "0-1-5'; DROP TABLE t; --", timeoutMs: 1000 },
      /position must be a GTID list/,
    ],
    [{ ...ok, op: 'waitForGtid', position: '0-1-5', timeoutMs: 99_999_999 }, /timeoutMs must be whole milliseconds/],
    [{ ...ok, op: 'pointAt', master: { address: 'db1 ; x', port: 3306 } }, /master\.address must be a host name/],
    [{ ...ok, op: 'pointAt', master: { address: 'db1', port: 70000 } }, /master\.port must be a whole number/],
    [{ ...ok, op: 'pointAt', master: { address: 'db1', port: 3306, user: 'x' } }, /unknown argument user/],
    [{ ...ok, op: 'pointAt', master: { address: 'db1', port: 3306 }, account: {} }, /unknown argument account/],
    [{ ...ok, op: 'query', sql: 'DROP DATABASE x' }, /op must be one of gtidState, setReadOnly/],
    [{ ...ok, op: 'gtidState', serves: 'replica.install' }, /serves must be one of replica\.switchover/],
    [{ ...ok, op: 'gtidState', port: '3306' }, /port must be a whole number/],
    [{ ...ok, op: 'detachReplication', serves: 'replica.rejoin' }, /detachReplication is no step of replica\.rejoin/],
    [
      { ...ok, op: 'setReadOnly', on: false, serves: 'replica.rejoin' },
      /setReadOnly\(false\) is no step of replica\.rejoin/,
    ],
  ])('refuses %j', (raw, why) => {
    expect(() => parseControlArgs(raw)).toThrow(why);
  });

  it('accepts each op with what it takes', () => {
    expect(parseControlArgs({ ...ok, op: 'waitForGtid', position: '0-1-5,1-2-9', timeoutMs: 0 })).toMatchObject({
      op: 'waitForGtid',
    });
    expect(parseControlArgs({ ...ok, op: 'waitForGtid', position: '', timeoutMs: 10 })).toMatchObject({ position: '' });
    expect(parseControlArgs({ ...ok, op: 'setReadOnly', on: true, serves: 'replica.rejoin' })).toMatchObject({
      on: true,
    });
    expect(parseControlArgs({ ...ok, op: 'gtidState', credentials: 'prod' })).toMatchObject({ credentials: 'prod' });
  });
});
