/**
 * /replica failover and /replica rejoin on real MariaDB replication: a three-node sandbox cluster built by gearops
 * on hosts of their own (network namespaces, when this machine can make them; loopback otherwise), with pool=yes.
 * The master's mariadbd is SIGKILLed, a replica is promoted, the old master comes back and rejoins; a failover is
 * cut half-way (the bot "dies" between steps) and finished; a diverged old master is fenced (read_only=1) and
 * refused at rejoin.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { until } from '../helpers/wait.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { createReplicationControl } from '../../src/mysql/replication-control.js';
import { createFileCredentialStore } from '../../src/cluster-credentials.js';
import type { NodeAddress, ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ReplicationControl } from '../../src/core/ports/replication-control.js';
import type { ClusterNode, ClusterRecord } from '../../src/core/ports/store.js';
import { runFailover, type FailoverDeps } from '../../src/cluster/failover.js';
import { storeTopologyLocks } from '../../src/cluster/topology-lock.js';

const why = netnsUnavailable();
const HOSTS = ['fo1', 'fo2', 'fo3'];

describe(`failover and rejoin on real replication (${why ? `loopback: ${why}` : 'namespace hosts'})`, () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let control: ReplicationControl;
  const addr = (n: ClusterNode): NodeAddress => ({ address: n.address, port: n.port, cluster: 'fo' });
  const key = (n: ClusterNode) => `${n.host}:${n.port}`;
  const record = async (): Promise<ClusterRecord> => (await f.ctx.store!.clusters.get('fo'))!;
  const master = async () => (await record()).nodes.find((n) => n.role === 'master')!;
  const sql = async (n: ClusterNode, s: string) => (await probe.exec(addr(n), s)).rows;
  const one = async (n: ClusterNode, s: string) => (await sql(n, s))[0]?.[0];
  const poolWriters = async () =>
    (await f.ctx.store!.pool.list()).filter((p) => p.type.includes('WRITE')).map((p) => `${p.host}:${p.port}`);
  const replicatesFrom = async (n: ClusterNode, m: ClusterNode) => {
    const s = await control.gtidState(addr(n));
    return s.master?.host === m.address && s.master.port === m.port && s.ioRunning === 'Yes' && s.sqlRunning === 'Yes';
  };
  /** Kills the master's mariadbd and waits until every live replica's IO thread says it cannot reach it. */
  const killMaster = async () => {
    const m = await master();
    await f.killSandbox(m.host, 'fo', 'SIGKILL');
    const c = await record();
    await until(async () => {
      const s = await Promise.all(c.nodes.filter((n) => n.role === 'replica').map((n) => probe.status(addr(n))));
      return s.every((x) => !x.reachable || (x.ioRunning !== 'Yes' && (x.lastIoErrno ?? 0) > 0));
    }, 30_000);
    return m;
  };

  beforeAll(async () => {
    f = await startFleet({ hosts: HOSTS, netns: why === null, env: { GEAROPS_SANDBOX_DEMO_CREDENTIALS: '0' } });
    const credentials = createFileCredentialStore(join(f.root, 'bot.state'));
    probe = createReplicationProbe({ credentials, logger: f.ctx.logger });
    control = createReplicationControl({ credentials });
    const { outcome, text } = await f.run('/replica install fo master=fo1 slaves=fo2,fo3 pool=yes');
    expect(outcome.status, text).toBe('ok');
    const m = await master();
    await sql(m, 'CREATE DATABASE app');
    await sql(m, 'CREATE TABLE app.t (id INT PRIMARY KEY, at VARCHAR(20))');
  }, 120_000);
  afterAll(async () => {
    await probe?.close();
    await control?.close();
    await f?.stop();
  });

  it('refuses a failover while the master answers, and changes nothing', async () => {
    const before = await record();
    const { outcome, text } = await f.run('/replica failover fo', { yes: true });
    expect(outcome.status, text).toBe('refused');
    expect(text).toMatch(
      /Not failing over fo: the master fo1:\d+ answers\. A master that answers is changed with \/replica switchover/,
    );
    expect((await record()).nodes).toEqual(before.nodes);
    expect(await poolWriters()).toEqual([`${before.nodes[0]!.address}:${before.nodes[0]!.port}`]);
    expect(await one(before.nodes[1]!, 'SELECT @@read_only')).toBe('1');
  });

  it('fails over after SIGKILL of the master: new master writable, the other replica on it, one WRITE in the pool', async () => {
    const old = await master();
    await sql(old, "INSERT INTO app.t VALUES (1, 'before')");
    const c = await record();
    for (const n of c.nodes.slice(1)) await until(async () => (await one(n, 'SELECT COUNT(*) FROM app.t')) === '1');
    await killMaster();
    const { outcome, text } = await f.run('/replica failover fo', { yes: true });
    expect(outcome.status, text).toBe('ok');
    // Every step is told with its time.
    for (const step of [
      'confirmed lost',
      'applied its relay log',
      'detached',
      'promoted',
      'replicas started',
      'pool:',
      'recorded',
    ])
      expect(text).toMatch(new RegExp(`\`\\d\\d:\\d\\d:\\d\\dZ\` ✓ [^\\n]*${step}`));
    const nm = await master();
    expect(nm.host).not.toBe(old.host);
    expect(await one(nm, 'SELECT @@read_only')).toBe('0');
    await sql(nm, "INSERT INTO app.t VALUES (2, 'after')");
    const other = (await record()).nodes.find((n) => n.host !== nm.host && n.host !== old.host)!;
    expect(await replicatesFrom(other, nm)).toBe(true);
    await until(async () => (await one(other, 'SELECT COUNT(*) FROM app.t')) === '2');
    expect(await one(other, 'SELECT @@read_only')).toBe('1');
    expect(await poolWriters()).toEqual([`${nm.address}:${nm.port}`]);
    expect(await f.ctx.store!.pool.get(old.address, old.port)).toBeNull();
    const changes = await f.ctx.store!.changes!.recent('fo', 1);
    expect(changes[0]).toMatchObject({ kind: 'failover', state: 'done', to: `${nm.address}:${nm.port}` });
  });

  it('makes the restarted old master a replica of the new one with /replica rejoin', async () => {
    const old = (await f.ctx.store!.changes!.recent('fo', 1))[0]!.from;
    const node = (await record()).nodes.find((n) => `${n.address}:${n.port}` === old)!;
    await f.startSandbox(node.host, 'fo');
    await until(async () => (await probe.status(addr(node))).reachable, 30_000);
    const { outcome, text } = await f.run(`/replica rejoin fo ${key(node)}`, { yes: true });
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(/history .* is contained in/);
    const nm = await master();
    expect(await one(node, 'SELECT @@read_only')).toBe('1');
    expect(await replicatesFrom(node, nm)).toBe(true);
    await sql(nm, "INSERT INTO app.t VALUES (3, 'rejoined')");
    await until(async () => (await one(node, 'SELECT COUNT(*) FROM app.t')) === '3');
    expect(await poolWriters()).toEqual([`${nm.address}:${nm.port}`]);
  });

  it('a failover cut half-way is explained by /replica status and finished by /replica failover', async () => {
    const deps: FailoverDeps = {
      clusters: f.ctx.store!.clusters,
      probe,
      control,
      journal: f.ctx.store!.changes!,
      locks: storeTopologyLocks(f.ctx.store!),
      pool: f.ctx.store!.pool,
      failcount: 2,
      intervalMs: 200,
      logger: f.ctx.logger,
      afterStep: (step) => {
        if (step === 'promoted') throw new Error('the bot died here');
      },
    };
    const told: string[] = [];
    const dead = await killMaster();
    await expect(
      runFailover(deps, 'fo', { actor: 'U1', automatic: false, report: async (t) => void told.push(t) }),
    ).rejects.toThrow('the bot died here');
    const cut = await f.ctx.store!.changes!.running('fo');
    expect(cut).toMatchObject({ kind: 'failover', step: 'promoted', state: 'running' });
    const chosen = (await record()).nodes.find((n) => `${n.address}:${n.port}` === cut!.to)!;
    // Half-way: the new master is writable, the pool still names the dead one.
    expect(await one(chosen, 'SELECT @@read_only')).toBe('0');
    expect(await poolWriters()).toEqual([`${dead.address}:${dead.port}`]);

    const st = await f.run('/replica status fo');
    expect(st.text).toMatch(
      new RegExp(
        `failover #${cut!.id} .* stopped after step \\*promoted\\*.*, before \\*repointed\\*.*/replica failover fo finishes it`,
      ),
    );
    const { outcome, text } = await f.run('/replica failover fo', { yes: true });
    expect(outcome.status, text).toBe('ok');
    expect(text).toMatch(new RegExp(`finishing failover #${cut!.id}`));
    expect((await master()).host).toBe(chosen.host);
    expect(await poolWriters()).toEqual([`${chosen.address}:${chosen.port}`]);
    const other = (await record()).nodes.find(
      (n) => n !== undefined && n.host !== chosen.host && n.host !== dead.host,
    )!;
    expect(await replicatesFrom(other, chosen)).toBe(true);
    expect(await f.ctx.store!.changes!.running('fo')).toBeNull();
    // The dead master back, and rejoined: three nodes again for the next test.
    await f.startSandbox(dead.host, 'fo');
    await until(async () => (await probe.status(addr(dead))).reachable, 30_000);
    const rj = await f.run(`/replica rejoin fo ${key(dead)}`, { yes: true });
    expect(rj.outcome.status, rj.text).toBe('ok');
  });

  it("the master-lost alert's Promote button names the replica and fails over to it, the thread telling each step", async () => {
    await f.ctx.monitor!.start();
    try {
      const dead = await killMaster();
      // The alert on the lost master, with its Promote button (on the parent as posted, or as updated when the
      // monitor saw the master unreachable before the replicas confirmed it lost).
      let parent: (typeof f.sink.posts)[number] | undefined;
      let promote: { value: string; label: string } | undefined;
      await until(async () => {
        parent = f.sink.posts.find((p) => p.channel === 'CALERTS' && !p.threadTs && p.text.includes(`${key(dead)} — `));
        if (!parent) return false;
        const latest = [parent.text, ...f.sink.updates.filter((u) => u.ref.ts === parent!.ref.ts).map((u) => u.text)];
        const label = latest.map((t) => /\[(Promote [^\]]+)\]/.exec(t)?.[1]).findLast(Boolean);
        const incident = (await f.ctx.store!.incidents.listOpen()).find((x) => x.alertTs === parent!.ref.ts);
        if (label && incident) promote = { label, value: `${incident.id}|${label.slice('Promote '.length)}` };
        return !!promote;
      }, 30_000);
      const named = promote!.label.replace('Promote ', '');
      const rec = createRecordingReply('CALERTS');
      const out = await f.ctx.router.dispatchAction({
        actionId: 'incident.promote',
        value: promote!.value,
        principal: { userId: 'UDBA', channelId: 'CALERTS', roles: [] },
        message: parent!.ref,
        threadTs: parent!.ref.ts,
        reply: rec.reply,
        source: 'slack',
        requestId: 'promote1',
      });
      expect(out.status, out.summary).toBe('ok');
      const nm = await master();
      expect(key(nm)).toBe(named);
      const told = f.sink.posts.filter((p) => p.threadTs === parent!.ref.ts).map((p) => p.text);
      expect(told[0]).toMatch(new RegExp(`<@UDBA> pressed \\*Promote ${named}\\*`));
      for (const step of ['confirmed lost', 'promoted', 'pool:', `failover #\\d+ done: ${named} is the master`])
        expect(
          told.some((t) => new RegExp(`^\`\\d\\d:\\d\\d:\\d\\dZ\` . .*${step}`).test(t)),
          step,
        ).toBe(true);
      expect(await poolWriters()).toEqual([`${nm.address}:${nm.port}`]);
      const audit = await f.ctx.store!.audit.recent(20);
      expect(audit.some((a) => a.command === 'incident.promote' && a.userId === 'UDBA' && a.status === 'ok')).toBe(
        true,
      );
      // Back to three nodes for the next test.
      await f.startSandbox(dead.host, 'fo');
      await until(async () => (await probe.status(addr(dead))).reachable, 30_000);
      const rj = await f.run(`/replica rejoin fo ${key(dead)}`, { yes: true });
      expect(rj.outcome.status, rj.text).toBe('ok');
    } finally {
      await f.ctx.monitor!.stop();
    }
  });

  it('refuses to rejoin a diverged old master, naming the GTID only it has', async () => {
    const m = await master();
    const replicas = (await record()).nodes.filter((n) => n.role === 'replica');
    // A row written on the master alone: its replicas do not receive it.
    for (const r of replicas) await probe.stopReplication(addr(r), 'io');
    await sql(m, "INSERT INTO app.t VALUES (4, 'old master only')");
    const gtid = String(await one(m, 'SELECT @@gtid_binlog_pos'));
    await f.killSandbox(m.host, 'fo', 'SIGKILL');
    for (const r of replicas) await probe.startReplication(addr(r));
    await until(async () => {
      const s = await Promise.all(replicas.map((r) => probe.status(addr(r))));
      return s.every((x) => x.ioRunning !== 'Yes' && (x.lastIoErrno ?? 0) > 0);
    }, 30_000);
    const fo = await f.run('/replica failover fo', { yes: true });
    expect(fo.outcome.status, fo.text).toBe('ok');
    const nm = await master();
    // The new master goes on writing: its sequence numbers pass the old master's lost one.
    await sql(nm, "INSERT INTO app.t VALUES (5, 'new master')");
    await sql(nm, "INSERT INTO app.t VALUES (6, 'new master')");
    await f.startSandbox(m.host, 'fo');
    await until(async () => (await probe.status(addr(m))).reachable, 30_000);
    // It comes back writable beside the new master (a server whose configuration does not say read_only; the
    // monitor, which would fence it, is not running here).
    await sql(m, 'SET GLOBAL read_only = 0');
    // Named by its host name alone, as /replica status shows it.
    const { outcome, text } = await f.run(`/replica rejoin fo ${m.host}`, { yes: true });
    expect(outcome.status, text).toBe('refused');
    expect(text).toContain(`has transactions the master ${key(nm)} never got: ${gtid} (1 transaction)`);
    expect(text).toMatch(/Rebuild it/);
    // Refused, but fenced first and said so: never two writable masters. Nothing else was changed.
    expect(text).toContain(`${key(m)} was writable: it was made read_only=1 (fenced)`);
    expect(await one(m, 'SELECT @@read_only')).toBe('1');
    expect(await one(nm, 'SELECT @@read_only')).toBe('0');
    expect((await control.gtidState(addr(m))).replicating).toBe(false);
  });
});
