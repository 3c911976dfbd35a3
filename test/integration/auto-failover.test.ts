/**
 * Automatic failover on real MariaDB replication: a three-node sandbox cluster with pool=yes, the policy's
 * auto_failover on, the monitor polling every 500 ms. The master's mariadbd is SIGKILLed: the monitor fails over
 * by itself, once. The old master restarted is fenced (read_only=1, no WRITE, a message in the failover's thread)
 * and rejoins; the new master then killed within failover_block_s alerts but is not failed over, and a restarted
 * bot keeps the block (it reads it from the change journal).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { until } from '../helpers/wait.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createFileCredentialStore } from '../../src/cluster-credentials.js';
import type { AppContext } from '../../src/app.js';
import type { NodeAddress, ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ClusterNode, ClusterRecord } from '../../src/core/ports/store.js';
import type { ReplicationMonitor } from '../../src/monitor/monitor.js';

const why = netnsUnavailable();
const HOSTS = ['af1', 'af2', 'af3'];

/** Resolves after `n` more poll cycles of `m` (the monitor's poll-cycle hook: polls, not time). */
const cycles = (m: ReplicationMonitor, n: number) =>
  new Promise<void>((resolve) => {
    let seen = 0;
    const off = m.onCycle((c) => {
      if (c.leader && ++seen >= n) {
        off();
        resolve();
      }
    });
  });

describe(`automatic failover on real replication (${why ? `loopback: ${why}` : 'namespace hosts'})`, () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let ctx2: AppContext | null = null;
  let policyDir: string;
  const addr = (n: ClusterNode): NodeAddress => ({ address: n.address, port: n.port, cluster: 'af' });
  const key = (n: ClusterNode) => `${n.host}:${n.port}`;
  const record = async (): Promise<ClusterRecord> => (await f.ctx.store!.clusters.get('af'))!;
  const master = async () => (await record()).nodes.find((n) => n.role === 'master')!;
  const one = async (n: ClusterNode, s: string) => (await probe.exec(addr(n), s)).rows[0]?.[0];
  const poolWriters = async () =>
    (await f.ctx.store!.pool.list()).filter((p) => p.type.includes('WRITE')).map((p) => `${p.host}:${p.port}`);
  const failovers = async () => (await f.ctx.store!.changes!.recent('af', 20)).filter((c) => c.kind === 'failover');
  /** The master's alert (master lost, or unreachable first when a poll came before the replicas noticed). */
  const parentOf = (n: ClusterNode) =>
    f.sink.posts.filter(
      (p) =>
        p.channel === 'CALERTS' &&
        !p.threadTs &&
        (p.text.includes(`af: master ${key(n)} — master lost`) ||
          p.text.includes(`af: master ${key(n)} — node unreachable`)),
    );
  const thread = (ts: string) => f.sink.posts.filter((p) => p.threadTs === ts).map((p) => p.text);

  beforeAll(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'gearops-af-policy-'));
    const policy = join(policyDir, 'auto.yml');
    writeFileSync(
      policy,
      readFileSync('policies/demo.yml', 'utf8').replace(
        'auto_offline: true\n',
        'auto_offline: true\n  auto_failover: true\n  failcount: 3\n  failover_block_s: 3600\n',
      ),
    );
    f = await startFleet({
      hosts: HOSTS,
      netns: why === null,
      env: { GEAROPS_SANDBOX_DEMO_CREDENTIALS: '0', GEAROPS_POLICY: policy },
    });
    expect(f.ctx.policy.settings.autoFailover).toBe(true);
    probe = createReplicationProbe({
      credentials: createFileCredentialStore(join(f.root, 'bot.state')),
      logger: f.ctx.logger,
    });
    const { outcome, text } = await f.run('/replica install af master=af1 slaves=af2,af3 pool=yes');
    expect(outcome.status, text).toBe('ok');
    const m = await master();
    await probe.exec(addr(m), 'CREATE DATABASE app');
    await probe.exec(addr(m), 'CREATE TABLE app.t (id INT PRIMARY KEY)');
    await probe.exec(addr(m), 'INSERT INTO app.t VALUES (1)');
    for (const n of (await record()).nodes.slice(1))
      await until(async () => (await one(n, 'SELECT COUNT(*) FROM app.t').catch(() => '0')) === '1');
    await f.ctx.monitor!.start();
  }, 120_000);

  afterAll(async () => {
    if (process.env.AF_DEBUG)
      for (const p of f.sink.posts)
        console.log(`${p.channel} ${p.threadTs ? `  [${p.threadTs}]` : p.ref.ts} ${p.text}`);
    await ctx2?.close();
    await probe?.close();
    await f?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  it('fails over by itself, once, after SIGKILL of the master: new master writable, one WRITE in the pool', async () => {
    const old = await master();
    const before = f.sink.posts.length;
    await f.killSandbox(old.host, 'af', 'SIGKILL');
    await until(async () => (await master()).host !== old.host, 60_000);
    const nm = await master();
    await until(async () => (await poolWriters()).join() === `${nm.address}:${nm.port}`, 30_000);
    expect(await one(nm, 'SELECT @@read_only')).toBe('0');
    await probe.exec(addr(nm), 'INSERT INTO app.t VALUES (2)');
    const other = (await record()).nodes.find((n) => n.host !== nm.host && n.host !== old.host)!;
    await until(async () => (await one(other, 'SELECT COUNT(*) FROM app.t')) === '2');
    expect(await f.ctx.store!.pool.get(old.address, old.port)).toBeNull();

    // The story is in the lost master's thread, from the decision to the end.
    const [parent] = parentOf(old);
    expect(parent).toBeDefined();
    await until(() => thread(parent!.ref.ts).some((t) => /Automatic failover of af finished/.test(t)), 30_000);
    const story = thread(parent!.ref.ts);
    expect(
      story.filter((t) => /⚙️ Automatic failover of af: master af1:\d+ has been lost for 3 polls/.test(t)),
    ).toHaveLength(1);
    expect(story.some((t) => / ✓ promoted af[23]:\d+: replication reset, read_only=0/.test(t))).toBe(true);
    const fo = await failovers();
    expect(fo).toHaveLength(1);
    expect(fo[0]).toMatchObject({ state: 'done', actor: 'gearops-monitor', from: `${old.address}:${old.port}` });
    expect(fo[0]!.detail).toMatchObject({ automatic: true, thread: { channel: 'CALERTS', ts: parent!.ref.ts } });
    // More polls do not fail over again; the only alert was the lost master's (the old master is followed as a
    // former master, not alerted on as a broken replica; nothing was judged half-way through the sequence).
    await cycles(f.ctx.monitor!, 4);
    expect(await failovers()).toHaveLength(1);
    const alerts = f.sink.posts.slice(before).filter((p) => p.channel === 'CALERTS' && !p.threadTs);
    expect(alerts.map((p) => p.ref.ts)).toEqual([parent!.ref.ts]);
    expect(
      thread(parent!.ref.ts).some((t) => /Closed after .*: af failed over, af[23]:\d+ is its master now/.test(t)),
    ).toBe(true);
  }, 120_000);

  it('fences the restarted old master at once: read_only=1, no WRITE, and a message in the failover thread', async () => {
    const fo = (await failovers())[0]!;
    const old = (await record()).nodes.find((n) => `${n.address}:${n.port}` === fo.from)!;
    const [parent] = parentOf(old);
    const before = f.sink.posts.length;
    await f.startSandbox(old.host, 'af');
    await until(
      () =>
        thread(parent!.ref.ts).some((t) =>
          new RegExp(`🛡️ ${key(old)}, the master before the failover, is back`).test(t),
        ),
      30_000,
    );
    expect(await one(old, 'SELECT @@read_only')).toBe('1');
    const nm = await master();
    expect(await poolWriters()).toEqual([`${nm.address}:${nm.port}`]);
    expect(await f.ctx.store!.pool.get(old.address, old.port)).toBeNull();
    // Not replicating, and no alert about it as a replica: it is fenced, and its thread says so.
    await cycles(f.ctx.monitor!, 3);
    expect(f.sink.posts.slice(before).filter((p) => p.channel === 'CALERTS' && !p.threadTs)).toEqual([]);
    // It rejoins as a replica of the new master: the cluster has two replicas again.
    const rj = await f.run(`/replica rejoin af ${key(old)}`, { yes: true });
    expect(rj.outcome.status, rj.text).toBe('ok');
    expect(await one(old, 'SELECT @@read_only')).toBe('1');
  }, 90_000);

  it('a second master loss within failover_block_s alerts but does not fail over, and a restarted bot keeps the block', async () => {
    const nm = await master();
    await f.killSandbox(nm.host, 'af', 'SIGKILL');
    await until(() => parentOf(nm).length === 1, 30_000);
    const ts = parentOf(nm)[0]!.ref.ts;
    const blocked = /⏸️ Not failing over automatically: af failed over .* ago .*failover_block_s \(3600 s\)/;
    await until(() => thread(ts).some((t) => blocked.test(t)), 30_000);
    // Both replicas confirm the loss: the block is what holds it.
    const replicas = (await record()).nodes.filter((n) => n.role === 'replica');
    for (const r of replicas) expect((await probe.status(addr(r))).ioRunning).not.toBe('Yes');
    await cycles(f.ctx.monitor!, 6);
    expect((await master()).host).toBe(nm.host);
    expect(await failovers()).toHaveLength(1);
    expect(thread(ts).filter((t) => blocked.test(t))).toHaveLength(1);

    // A new bot process: nothing in its memory, the block from the store.
    await f.ctx.monitor!.stop();
    ctx2 = await f.newContext();
    const m2 = ctx2.monitor!;
    const told = cycles(m2, 6);
    await m2.start();
    await told;
    expect((await master()).host).toBe(nm.host);
    expect(await failovers()).toHaveLength(1);
    expect(thread(ts).filter((t) => blocked.test(t))).toHaveLength(2);
    expect(await poolWriters()).toEqual([`${nm.address}:${nm.port}`]);
  }, 120_000);
});
