/**
 * Automatic failover time: from SIGKILL of a three-node cluster's master to the new master writable and the pool's
 * WRITE on it (and on it only), with the monitor polling every second, auto_failover on and the default failcount.
 * Real sandboxes (the workers' capability code, in-process), a real store; each round builds a cluster of its own
 * (the block window is per cluster). `failover_sequence_s` is the part the sequence itself takes (runFailover, from
 * the monitor's decision to its end): the rest is the loss being confirmed over failcount polls.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createReplicationProbe } from '../src/mysql/replication.js';
import { createReplicationControl } from '../src/mysql/replication-control.js';
import { createReplicationMonitor } from '../src/monitor/monitor.js';
import { monitorFailoverPorts } from '../src/monitor/failover-ports.js';
import { parsePolicy } from '../src/core/policy/index.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { FailoverDeps } from '../src/cluster/failover.js';
import { storeTopologyLocks } from '../src/cluster/topology-lock.js';
import { median, round } from './stats.js';
import { startSandboxLab } from './sandbox-cluster.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Measures `reps` automatic failovers; reports medians (and the slowest round). */
export async function benchFailover(
  opts: { reps?: number } = {},
): Promise<{ failover_s: number; failover_max_s: number; failover_sequence_s: number }> {
  const reps = opts.reps ?? 3;
  const lab = await startSandboxLab('failover');
  const { store, logger, root } = lab;
  const account = { user: 'msandbox', password: 'msandbox' };
  const probe = createReplicationProbe({ credentials: account, logger });
  const control = createReplicationControl({ credentials: account });
  const sink: ChatSink = {
    post: async (channel) => ({ channel, ts: `${Date.now()}.${Math.random().toString().slice(2, 8)}` }),
    update: async () => undefined,
    upload: async () => undefined,
  };
  const sequence: FailoverDeps = {
    clusters: store.clusters,
    probe,
    control,
    journal: store.changes!,
    locks: storeTopologyLocks(store),
    pool: store.pool,
    intervalMs: 1000,
    logger,
  };
  const ports = monitorFailoverPorts({ sequence, journal: store.changes!, control });
  const sequenceTimes: number[] = [];
  const monitor = createReplicationMonitor({
    store,
    probe,
    chat: sink,
    alertChannel: 'C',
    poolChannel: 'CPOOL',
    policy: parsePolicy('version: 1\nsettings:\n  auto_failover: true\n', 'bench.yml'),
    logger,
    intervalMs: 1000,
    lagThresholdS: 30,
    lockName: 'bench.failover',
    fencing: ports.fencing,
    failover: {
      ...ports.failover,
      async run(cluster, o) {
        const t = Date.now();
        const r = await ports.failover.run(cluster, o);
        sequenceTimes.push((Date.now() - t) / 1000);
        return r;
      },
    },
  });
  const times: number[] = [];
  try {
    await monitor.start();
    for (let r = 0; r < reps; r++) times.push(await round1(`fo${r}`));
    await monitor.stop();
    return {
      failover_s: round(median(times), 2),
      failover_max_s: round(Math.max(...times), 2),
      failover_sequence_s: round(median(sequenceTimes), 2),
    };
  } finally {
    await monitor.stop();
    await probe.close();
    await control.close();
    await lab.stop();
  }

  /** One cluster built, its master killed, timed until the failover shows in the servers and the pool. */
  async function round1(name: string): Promise<number> {
    const { ports: p } = await lab.cluster(name, { pool: true });
    // Replication running on both replicas before the crash.
    for (const port of p.slice(1))
      for (let i = 0; i < 100; i++) {
        const s = await probe.status({ address: '127.0.0.1', port });
        if (s.ioRunning === 'Yes' && s.sqlRunning === 'Yes') break;
        await sleep(50);
      }
    await sleep(1500);
    const pid = Number(readFileSync(join(root, 'h1', name, 'mysqld.pid'), 'utf8').trim());
    const killed = Date.now();
    process.kill(pid, 'SIGKILL');
    for (;;) {
      if (Date.now() - killed > 60_000) throw new Error(`${name}: no failover within 60 s`);
      const writers = (await store.pool.list()).filter((n) => p.includes(n.port) && n.type.includes('WRITE'));
      const w = writers.length === 1 && writers[0]!.port !== p[0] ? writers[0]! : null;
      if (w) {
        const s = await probe.status({ address: '127.0.0.1', port: w.port }).catch(() => null);
        if (s?.reachable && s.readOnly === false) break;
      }
      await sleep(20);
    }
    const took = (Date.now() - killed) / 1000;
    // Out of the way of the next round: no record (its incidents close), no pool rows.
    await store.clusters.remove(name);
    for (const port of p) await store.pool.del('127.0.0.1', port, 'bench', 'bench').catch(() => undefined);
    return took;
  }
}
