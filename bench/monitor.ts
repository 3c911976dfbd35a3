/**
 * Monitor figures: time from breaking a replica to the alert's post with
 * 1 s polling (real cluster, real store), and the cost of one poll cycle
 * over 50 replica entries (pointing at the cluster's two real replicas, so
 * the figure counts 50 status round trips, not 50 servers' worth of CPU); then the same 50 entries as a watched
 * cluster, all direct and with half of them read through workers (monitor-workers.ts).
 */
import { createReplicationProbe } from '../src/mysql/replication.js';
import { createReplicationMonitor } from '../src/monitor/monitor.js';
import { parsePolicy } from '../src/core/policy/index.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { ClusterNode } from '../src/core/ports/store.js';
import { median, round } from './stats.js';
import { startSandboxLab } from './sandbox-cluster.js';
import { benchPollHalfWorkers } from './monitor-workers.js';

/** Measures detection latency (median of `reps` breaks) and a 50-replica poll cycle. */
export async function benchMonitor(opts: { reps?: number } = {}): Promise<{
  detect_latency_ms: number;
  poll_cycle_50_ms: number;
  poll_cycle_50_direct_watched_ms: number;
  poll_cycle_50_half_worker_ms: number;
  poll_cycle_50_half_worker_ratio: number;
}> {
  const reps = opts.reps ?? 3;
  const lab = await startSandboxLab('monitor');
  const { store, logger, root } = lab;
  const probe = createReplicationProbe({ credentials: { user: 'msandbox', password: 'msandbox' }, logger });
  try {
    const { ports, nodes } = await lab.cluster('b');
    let posted: number | null = null;
    const sink: ChatSink = {
      post: async (_c, _m, o) => {
        if (!o?.threadTs && posted === null) posted = Date.now();
        return { channel: 'C', ts: `${Date.now()}.1` };
      },
      update: async () => undefined,
      upload: async () => undefined,
    };
    const policy = parsePolicy('version: 1\n', 'bench.yml');
    const monitor = createReplicationMonitor({
      store,
      probe,
      chat: sink,
      alertChannel: 'C',
      policy,
      logger,
      intervalMs: 1000,
      lagThresholdS: 30,
    });
    await monitor.start();
    const latencies: number[] = [];
    const replica = { address: '127.0.0.1', port: ports[1]! };
    for (let r = 0; r < reps; r++) {
      await new Promise((res) => setTimeout(res, 1300));
      posted = null;
      const broke = Date.now();
      await probe.stopReplication(replica, 'io');
      while (posted === null && Date.now() - broke < 10_000) await new Promise((res) => setTimeout(res, 10));
      if (posted === null) throw new Error('no alert within 10 s');
      latencies.push((posted as number) - broke);
      await probe.startReplication(replica);
      while ((await store.incidents.listOpen()).length > 0 && Date.now() - broke < 20_000)
        await new Promise((res) => setTimeout(res, 100));
    }
    await monitor.stop();
    // 50 replica entries: the cycle's cost in status round trips.
    const many: ClusterNode[] = [
      nodes[0]!,
      ...Array.from({ length: 50 }, (_, i) => ({ ...nodes[1 + (i % 2)]!, host: `r${i}` })),
    ];
    await store.clusters.create({ name: 'many', version: 'x', credentials: 'bench', createdBy: 'bench', nodes: many });
    await store.clusters.remove('b');
    const cycles = createReplicationMonitor({
      store,
      probe,
      chat: sink,
      alertChannel: 'C',
      policy,
      logger,
      intervalMs: 60_000,
      lagThresholdS: 30,
      lockName: 'bench.cycles',
    });
    const times: number[] = [];
    for (let i = 0; i < 11; i++) {
      const t = process.hrtime.bigint();
      await cycles.pollOnce();
      if (i > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    await cycles.stop();
    await store.clusters.remove('many');
    const half = await benchPollHalfWorkers({ dir: root, store, sink, policy, logger, nodes });
    return {
      detect_latency_ms: round(median(latencies), 0),
      poll_cycle_50_ms: round(median(times), 1),
      poll_cycle_50_direct_watched_ms: half.poll_cycle_50_direct_watched_ms,
      poll_cycle_50_half_worker_ms: half.poll_cycle_50_half_worker_ms,
      poll_cycle_50_half_worker_ratio: half.ratio,
    };
  } finally {
    await probe.close();
    await lab.stop();
  }
}
