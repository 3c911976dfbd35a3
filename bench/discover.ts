/**
 * discover_10: how long `/replica watch` takes to map a topology gearops did not build — one master and 9
 * replicas, plain mariadbd wired by hand (the launcher the tests and the demo use), on loopback. Measured through
 * the command itself (parse, policy, discovery from the last replica upwards and down again, the table and the
 * question), answered "no" so nothing is recorded. Baseline in the same run: reading one server's topology facts
 * (one connection and its read statements), so the ratio says how much of the mapping runs in parallel (about 11
 * reads happen; a ratio near 11 would mean one after the other).
 */
import { createWatchCommands } from '../commands/replica/watch.js';
import { parsePolicy } from '../src/core/policy/index.js';
import type { ClusterStore } from '../src/core/ports/store.js';
import { freePort } from '../src/launch/free-port.js';
import { createPlainTopology, type PlainServer } from '../src/launch/plain-topology.js';
import { createTopologyReader } from '../src/mysql/topology-reader.js';
import { quietReply } from './run-latency.js';
import { median, round } from './stats.js';

/** Figures of the discovery benchmark. */
export interface DiscoverBench {
  discover_10_ms: number;
  discover_read_one_ms: number;
  discover_10_per_read_ratio: number;
}

/** Starts 1 + 9 plain servers, then times `/replica watch` (median of `reps`) and a single read. */
export async function benchDiscover(opts: { reps?: number; log?: (s: string) => void } = {}): Promise<DiscoverBench> {
  const reps = opts.reps ?? 9;
  const topo = createPlainTopology();
  try {
    const ports: number[] = [];
    // One after the other: two at once could be handed the same free port.
    while (ports.length < 10) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const servers: PlainServer[] = await Promise.all(
      ports.map((port, i) => topo.start({ port, serverId: 301 + i, reportHost: '127.0.0.1' })),
    );
    const [master, ...replicas] = servers as [PlainServer, ...PlainServer[]];
    await Promise.all(replicas.map((r) => r.replicateFrom(master)));
    opts.log?.('discover: 1 master and 9 replicas replicating');
    const policy = parsePolicy(
      'version: 1\nactions:\n  - rule: bench\n    actions: [replica.watch]\n    who: everyone\n',
      'bench.yml',
    );
    const reader = createTopologyReader({ credentials: topo.accounts.monitor });
    let asked = 0;
    const { watch } = createWatchCommands({
      policy,
      clusters: { get: async () => null } as unknown as ClusterStore,
      topologyReader: () => reader,
      statusHosts: async () => [],
      defaultCredentials: 'bench',
    });
    const last = replicas[replicas.length - 1]!;
    const inv = {
      command: 'replica',
      text: '',
      principal: { userId: 'bench', channelId: 'CBENCH', roles: [] },
      reply: {
        ...quietReply,
        confirm: async (q: { text: string }) => {
          if (/10 server\(s\) found/.test(q.text)) asked++;
          return false;
        },
      },
      source: 'console' as const,
      requestId: 'bench',
    };
    const watchTimes: number[] = [];
    const readTimes: number[] = [];
    for (let i = 0; i <= reps; i++) {
      let t = process.hrtime.bigint();
      await watch(inv, ['bench', `127.0.0.1:${last.port}`, 'probe=direct']);
      const w = Number(process.hrtime.bigint() - t) / 1e6;
      t = process.hrtime.bigint();
      await reader.facts({ address: '127.0.0.1', port: master.port });
      const r = Number(process.hrtime.bigint() - t) / 1e6;
      // The first round warms the server's caches and this process's code paths.
      if (i === 0) continue;
      watchTimes.push(w);
      readTimes.push(r);
    }
    if (asked !== reps + 1) throw new Error(`/replica watch mapped 10 servers in ${asked} of ${reps + 1} runs`);
    const d10 = median(watchTimes);
    const one = median(readTimes);
    return {
      discover_10_ms: round(d10, 1),
      discover_read_one_ms: round(one, 1),
      discover_10_per_read_ratio: round(d10 / one, 2),
    };
  } finally {
    await topo.stop();
  }
}
