import { describe, expect, it } from 'vitest';
import { explainFailover, FAILOVER_STEPS, runFailover, type FailoverStep } from '../../../src/cluster/failover.js';
import { runRejoin } from '../../../src/cluster/rejoin.js';
import { storeTopologyLocks, topologyLockName } from '../../../src/cluster/topology-lock.js';
import { monitorFailoverPorts } from '../../../src/monitor/failover-ports.js';
import { fakeFailoverWorld } from './fake-servers.js';

const M = '10.0.0.1:3306';
const R1 = '10.0.0.2:3306';
const R2 = '10.0.0.3:3306';

function lostMaster(opts: { pool?: boolean } = {}) {
  const w = fakeFailoverWorld(opts);
  w.world.write(M);
  w.world.write(M);
  w.world.kill(M);
  return w;
}
const told: string[] = [];
const run = (w: ReturnType<typeof fakeFailoverWorld>, o: { to?: string } = {}) =>
  runFailover(w.deps, 'c', { actor: 'U1', automatic: false, report: async (t) => void told.push(t), ...o });
const writers = (w: ReturnType<typeof fakeFailoverWorld>) =>
  [...w.world.servers.entries()].filter(([, s]) => s.up && !s.readOnly).map(([a]) => a);

describe('runFailover', () => {
  it('refuses a master that answers, and changes nothing', async () => {
    const w = fakeFailoverWorld();
    const r = await run(w);
    expect(r).toMatchObject({ ok: false, refused: true });
    expect(r.summary).toMatch(/the master m:3306 answers\. A master that answers is changed with \/replica switchover/);
    expect(w.world.calls).toEqual([]);
    expect(w.journal.rows).toEqual([]);
  });

  it('refuses a cluster with a replica the control cannot change (its worker does no topology changes)', async () => {
    const w = lostMaster();
    const r = await runFailover(
      {
        ...w.deps,
        control: { ...w.deps.control, problem: async (n) => (n.address === '10.0.0.3' ? 'r2 cannot' : null) },
      },
      'c',
      { actor: 'U1', automatic: false, report: async () => undefined },
    );
    expect(r).toMatchObject({ ok: false, refused: true, summary: 'not failing over c: r2 cannot' });
    expect(w.world.calls).toEqual([]);
    expect(w.journal.rows).toEqual([]);
  });

  it('promotes the most advanced replica; read_only=0 only after the others are detached; one WRITE in the pool', async () => {
    const w = fakeFailoverWorld();
    w.world.write(M);
    // r1 misses the last write (its IO thread is behind): r2 is the most advanced.
    w.world.servers.get(R1)!.io = 'No';
    w.world.write(M);
    w.world.servers.get(R1)!.io = 'Connecting';
    w.world.kill(M);
    told.length = 0;
    const r = await run(w);
    expect(r, r.summary).toMatchObject({ ok: true, promoted: R2 });
    const calls = w.world.calls;
    expect(calls.indexOf(`point ${R1} at ${R2}`)).toBeLessThan(calls.indexOf(`read_only=0 ${R2}`));
    expect(calls.indexOf(`detach ${R2}`)).toBeLessThan(calls.indexOf(`read_only=0 ${R2}`));
    expect(calls.indexOf(`read_only=0 ${R2}`)).toBeLessThan(calls.indexOf(`start ${R1}`));
    expect(writers(w)).toEqual([R2]);
    expect(w.pool.filter((p) => p.type.includes('WRITE')).map((p) => `${p.host}:${p.port}`)).toEqual([R2]);
    expect(w.pool.find((p) => `${p.host}:${p.port}` === M)).toBeUndefined();
    expect(w.announced.length).toBeGreaterThan(0);
    expect(w.record().nodes.map((n) => [n.host, n.role, n.replicatesFrom])).toEqual([
      ['m', 'replica', R2],
      ['r1', 'replica', R2],
      ['r2', 'master', undefined],
    ]);
    // r1 caught up from the new master.
    expect(w.world.servers.get(R1)!.slavePos).toBe('0-1-2');
    expect(w.journal.rows[0]).toMatchObject({ kind: 'failover', state: 'done', from: M, to: R2 });
    expect(w.journal.rows[0]!.steps.map((s) => s.step)).toEqual([...FAILOVER_STEPS, 'done']);
    for (const line of told) expect(line).toMatch(/^`\d\d:\d\d:\d\dZ` /);
  });

  it('takes to=, and names in the thread what a better replica had that it never got', async () => {
    const w = fakeFailoverWorld();
    w.world.servers.get(R1)!.io = 'No';
    w.world.write(M);
    w.world.write(M);
    w.world.servers.get(R1)!.io = 'Connecting';
    w.world.kill(M);
    told.length = 0;
    const r = await run(w, { to: 'r1:3306' });
    expect(r.promoted).toBe(R1);
    expect(told.join('\n')).toMatch(/never got \(they are lost\): r2:3306: 0-1-1\.\.0-1-2 \(2 transactions\)/);
  });

  it('takes to= as a host name naming one node; refuses an unknown one with the valid names', async () => {
    const w = lostMaster();
    const bad = await run(w, { to: 'zz' });
    expect(bad).toMatchObject({ ok: false, refused: true });
    expect(bad.summary).toMatch(/zz is not a node of cluster c \(its nodes: m, r1, r2\)/);
    expect(w.journal.rows).toEqual([]);
    expect(w.world.calls).toEqual([]);
    const r = await run(w, { to: 'r2' });
    expect(r, r.summary).toMatchObject({ ok: true, promoted: R2 });
  });

  it('refuses a to= that cannot be promoted, before anything is journaled', async () => {
    const w = lostMaster();
    w.world.servers.get(R1)!.sqlError = 'Duplicate entry';
    const r = await run(w, { to: 'r1:3306' });
    expect(r.refused).toBe(true);
    expect(r.summary).toMatch(/r1:3306 cannot be promoted \(its SQL thread failed/);
    expect(w.journal.rows).toEqual([]);
  });

  it('refuses while a replica still reads from the master (the bot alone cannot reach it)', async () => {
    const w = fakeFailoverWorld();
    w.world.servers.get(M)!.up = false; // only the bot's view: r1 and r2 still say Yes below
    const status = w.deps.probe.status;
    w.deps.probe = {
      status: async (a) => {
        const s = await status(a);
        return s.reachable && s.isReplica ? { ...s, ioRunning: 'Yes', lastIoErrno: null } : s;
      },
    };
    const r = await run(w);
    expect(r.summary).toMatch(/not every replica confirms: r1:3306 its IO thread still reads from the master/);
  });

  it.each(FAILOVER_STEPS.filter((s) => s !== 'recorded'))(
    'a run cut after %s is explained, and finished by a second run in the same end state',
    async (cutAt) => {
      const w = lostMaster();
      w.deps.afterStep = (s: FailoverStep) => {
        if (s === cutAt) throw new Error('bot killed');
      };
      await expect(run(w)).rejects.toThrow('bot killed');
      const cut = await w.journal.running('c');
      expect(cut?.step).toBe(cutAt);
      expect(explainFailover(cut!)).toMatch(
        new RegExp(`stopped after step \\*${cutAt}\\*.*/replica failover c finishes it`),
      );
      // Never two writable servers, even half-way.
      expect(writers(w).length).toBeLessThanOrEqual(1);
      delete w.deps.afterStep;
      told.length = 0;
      const r = await run(w);
      expect(r, r.summary).toMatchObject({ ok: true });
      expect(told[0]).toMatch(/finishing failover #1/);
      expect(writers(w)).toEqual([r.promoted]);
      expect(w.pool.filter((p) => p.type.includes('WRITE')).length).toBe(1);
      expect(w.journal.rows.map((x) => x.state)).toEqual(['done']);
      const other = r.promoted === R1 ? R2 : R1;
      expect(w.world.servers.get(other)!.master).toEqual({ host: r.promoted!.split(':')[0], port: 3306 });
    },
  );

  it('fences an old master that is back before finishing a cut run', async () => {
    const w = lostMaster();
    w.deps.afterStep = (s: FailoverStep) => {
      if (s === 'promoted') throw new Error('bot killed');
    };
    await expect(run(w)).rejects.toThrow();
    delete w.deps.afterStep;
    w.world.restart(M);
    expect(writers(w).length).toBe(2);
    const r = await run(w);
    expect(r.ok).toBe(true);
    expect(w.world.servers.get(M)!.readOnly).toBe(true);
    expect(writers(w)).toEqual([r.promoted]);
  });

  it('ends a run cut before any change when the master answers again', async () => {
    const w = lostMaster();
    w.deps.afterStep = (s: FailoverStep) => {
      if (s === 'chosen') throw new Error('bot killed');
    };
    await expect(run(w)).rejects.toThrow();
    delete w.deps.afterStep;
    w.world.restart(M);
    const r = await run(w);
    expect(r.refused).toBe(true);
    expect(w.journal.rows[0]?.state).toBe('failed');
    expect(writers(w)).toEqual([M]);
  });
});

describe('the topology-change lock', () => {
  /** A second bot instance over the same store and servers: its own deps, its own lock connections. */
  const instance = (w: ReturnType<typeof fakeFailoverWorld>) => ({ ...w.deps, locks: storeTopologyLocks(w.locks) });

  it('a cut failover resumed by two instances at once: one finishes it, the other is refused and changes nothing', async () => {
    const w = lostMaster();
    w.deps.afterStep = (s: FailoverStep) => {
      if (s === 'chosen') throw new Error('bot killed');
    };
    await expect(run(w)).rejects.toThrow('bot killed');
    // Instance A resumes it and is paused mid-sequence, holding the lock.
    let paused!: () => void;
    let resume!: () => void;
    const atStep = new Promise<void>((r) => (paused = r));
    const gate = new Promise<void>((r) => (resume = r));
    const a = {
      ...instance(w),
      afterStep: async (s: FailoverStep) => (s === 'relay_applied' ? (paused(), gate) : undefined),
    };
    const first = runFailover(a, 'c', { actor: 'U1', automatic: false, report: async () => undefined });
    await atStep;
    const calls = [...w.world.calls];
    const row = structuredClone(await w.journal.running('c'));
    // Instance B: the same resume, the Promote button's (to=), a rejoin — each refused with who runs what.
    const b = instance(w);
    for (const to of [undefined, 'r2']) {
      const r = await runFailover(b, 'c', { actor: 'U2', automatic: false, report: async () => undefined, to });
      expect(r).toMatchObject({ ok: false, refused: true });
      expect(r.summary).toMatch(
        /a failover of c is running on another gearops instance .*#1, started by .*U1.* now at step relay_applied\. Nothing was changed/,
      );
    }
    const rj = await runRejoin(b, 'c', 'm', { actor: 'U2', report: async () => undefined });
    expect(rj).toMatchObject({ ok: false, refused: true });
    expect(rj.summary).toMatch(/not rejoined: a failover of c is running on another gearops instance/);
    expect(w.world.calls).toEqual(calls);
    expect(await w.journal.running('c')).toEqual(row);
    expect(w.journal.rows).toHaveLength(1);
    resume();
    const r = await first;
    expect(r, r.summary).toMatchObject({ ok: true });
    expect(writers(w)).toEqual([r.promoted]);
    expect(w.locks.holders.size).toBe(0);
  });

  it("the monitor's automatic failover takes the same lock", async () => {
    const w = lostMaster();
    expect(await w.locks.lock(topologyLockName('c')).tryAcquire()).toBe(true);
    const ports = monitorFailoverPorts({ sequence: w.deps, journal: w.journal, control: w.world.control });
    const r = await ports.failover.run('c', {
      actor: 'gearops-monitor',
      automatic: true,
      report: async () => undefined,
    });
    expect(r).toMatchObject({ ok: false, refused: true });
    expect(r.summary).toMatch(/a topology change of c is running on another gearops instance/);
    expect(w.world.calls).toEqual([]);
    expect(w.journal.rows).toEqual([]);
  });

  it('a failover that throws half-way (the bot dying) releases the lock', async () => {
    const w = lostMaster();
    w.deps.afterStep = () => {
      throw new Error('bot killed');
    };
    await expect(run(w)).rejects.toThrow('bot killed');
    expect(w.locks.holders.size).toBe(0);
  });
});

describe('resuming a failover whose chosen replica died', () => {
  const chosenOf = async (w: ReturnType<typeof fakeFailoverWorld>) => (await w.journal.running('c'))!.to;

  it.each(['chosen', 'relay_applied', 'others_detached'] as const)(
    'cut after %s (nothing promoted): re-chooses among the replicas that answer, and says so',
    async (cutAt) => {
      const w = lostMaster();
      w.deps.afterStep = (s: FailoverStep) => {
        if (s === cutAt) throw new Error('bot killed');
      };
      await expect(run(w)).rejects.toThrow('bot killed');
      delete w.deps.afterStep;
      const dead = await chosenOf(w);
      const other = dead === R1 ? R2 : R1;
      w.world.kill(dead);
      told.length = 0;
      const r = await run(w);
      expect(r, r.summary).toMatchObject({ ok: true, promoted: other });
      const name = (a: string) => (a === R1 ? 'r1:3306' : 'r2:3306');
      expect(told.join('\n')).toMatch(
        new RegExp(
          `the choice changed: ${name(dead)}, which failover #1 chose, does not answer \\(.*ECONNREFUSED.*\\) and was not promoted yet, so ${name(other)} is promoted instead .* failover #2`,
        ),
      );
      expect(w.journal.rows.map((x) => [x.id, x.state, x.to])).toEqual([
        [1, 'failed', dead],
        [2, 'done', other],
      ]);
      expect(w.journal.rows[1]!.detail.rechosen).toMatchObject({ from: 1, was: dead });
      expect(writers(w)).toEqual([other]);
      expect(w.pool.filter((p) => p.type.includes('WRITE')).map((p) => `${p.host}:${p.port}`)).toEqual([other]);
      expect(w.record().nodes.find((n) => n.role === 'master')?.address).toBe(other.split(':')[0]);
    },
  );

  it('cut after promoted: the dead new master is a new master loss, said so, and the next run does not loop', async () => {
    const w = lostMaster();
    w.deps.afterStep = (s: FailoverStep) => {
      if (s === 'promoted') throw new Error('bot killed');
    };
    await expect(run(w)).rejects.toThrow('bot killed');
    delete w.deps.afterStep;
    const dead = await chosenOf(w);
    const other = dead === R1 ? R2 : R1;
    w.world.kill(dead);
    w.world.restart(M); // and the old master is back, writable
    const r = await run(w);
    expect(r.ok).toBe(false);
    expect(w.world.servers.get(M)!.readOnly).toBe(true);
    expect(r.summary).toMatch(/was promoted by failover #1 .* does not answer now .* a new loss of the master/);
    expect(w.journal.rows.map((x) => x.state)).toEqual(['failed']);
    expect(await w.journal.running('c')).toBeNull();
    // Recorded as what it is: the master (lost), the other replica pointed at it and trying it.
    expect(w.record().nodes.find((n) => n.role === 'master')?.address).toBe(dead.split(':')[0]);
    const [host, port] = other.split(':');
    expect(await w.world.status({ address: host!, port: Number(port) })).toMatchObject({
      ioRunning: 'Connecting',
      masterHost: dead.split(':')[0],
    });
    expect(writers(w)).toEqual([]);
    told.length = 0;
    const next = await run(w);
    expect(told.join('\n')).not.toMatch(/finishing failover/);
    expect(next.ok).toBe(false);
  });
});

describe('runRejoin', () => {
  const rejoin = (w: ReturnType<typeof fakeFailoverWorld>, node: string) =>
    runRejoin(w.deps, 'c', node, { actor: 'U1', report: async () => undefined });

  it('makes a contained old master read-only and a replica of the new one', async () => {
    const w = lostMaster();
    const f = await run(w);
    w.world.write(f.promoted!);
    w.world.restart(M);
    // Named by its host name alone, as /replica status shows it.
    const r = await rejoin(w, 'm');
    expect(r, r.summary).toMatchObject({ ok: true });
    const s = w.world.servers.get(M)!;
    expect(s.readOnly).toBe(true);
    expect(s.master).toEqual({ host: f.promoted!.split(':')[0], port: 3306 });
    expect(s.slavePos).toBe(`0-${f.promoted === R1 ? 2 : 3}-3`);
    expect(writers(w)).toEqual([f.promoted]);
  });

  it('refuses a diverged old master, naming the GTID only it has, even below the new master position', async () => {
    const w = fakeFailoverWorld();
    w.world.write(M);
    w.world.write(M, false); // 0-1-2 reaches no replica
    w.world.kill(M);
    const f = await run(w);
    w.world.write(f.promoted!);
    w.world.write(f.promoted!); // the new master passes seq 2 with its own
    w.world.restart(M);
    w.world.calls.length = 0;
    const r = await rejoin(w, 'm:3306');
    expect(r.refused).toBe(true);
    expect(r.diverged).toBe('0-1-2 (1 transaction)');
    expect(r.summary).toMatch(/has transactions the master r\d:3306 never got: 0-1-2 \(1 transaction\)\. .*Rebuild it/);
    // Back writable beside the new master: fenced before the refusal, and the answer says so; nothing else changed.
    expect(r.summary).toMatch(/m:3306 was writable: it was made read_only=1 \(fenced\).*nothing else was changed/);
    expect(w.world.calls).toEqual([`read_only=1 ${M}`]);
    expect(writers(w)).toEqual([f.promoted]);
    expect(w.world.servers.get(M)!.master).toBeUndefined();
    // Asked again: still refused, fencing is not redone.
    w.world.calls.length = 0;
    const again = await rejoin(w, 'm');
    expect(again.refused).toBe(true);
    expect(again.summary).toMatch(/m:3306 stays read_only=1; nothing was changed/);
    expect(w.world.calls).toEqual([]);
  });

  it('refuses the master itself and a node not in the record', async () => {
    const w = fakeFailoverWorld();
    expect((await rejoin(w, 'm:3306')).summary).toMatch(/is the master of c/);
    expect((await rejoin(w, 'zz:1')).summary).toMatch(/zz:1 is not a node of c/);
  });
});
