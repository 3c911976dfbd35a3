/**
 * poll_cycle_50 with half of the nodes read through their host's worker (mysql.status over gearmand, two worker
 * processes with a credentials file of their own), against the same 50 entries all read directly, in the same run:
 * the ratio is what a watched cluster behind closed ports costs the monitor per cycle.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../src/log.js';
import { startGearmandProcess } from '../src/launch/gearmand.js';
import { startWorkerProcess } from '../src/launch/worker.js';
import { createGearmanDispatcher } from '../src/gearman/dispatcher.js';
import { createReplicationProbe } from '../src/mysql/replication.js';
import { createRoutedProbe } from '../src/core/routed-probe.js';
import { createReplicationMonitor } from '../src/monitor/monitor.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { ClusterNode, Store } from '../src/core/ports/store.js';
import { median, round } from './stats.js';

const ACCOUNT = { user: 'msandbox', password: 'msandbox' };

/** Medians of 10 cycles over 50 watched entries: all direct, and every other one through a worker. */
export async function benchPollHalfWorkers(o: {
  dir: string;
  store: Store;
  sink: ChatSink;
  policy: Policy;
  logger: Logger;
  /** The real master and replicas the entries point at (loopback sandboxes). */
  nodes: ClusterNode[];
}): Promise<{ poll_cycle_50_direct_watched_ms: number; poll_cycle_50_half_worker_ms: number; ratio: number }> {
  const secret = randomBytes(32).toString('hex');
  const creds = join(o.dir, 'worker-credentials.yml');
  writeFileSync(creds, `bench:\n  user: ${ACCOUNT.user}\n  password: ${ACCOUNT.password}\n`, { mode: 0o600 });
  chmodSync(creds, 0o600);
  const g = await startGearmandProcess();
  const workers = await Promise.all(
    ['w1', 'w2'].map((host) =>
      startWorkerProcess({
        host,
        gearman: g.address,
        secret,
        extraArgs: ['--credentials-file', creds],
        env: { GEAROPS_LOG_LEVEL: 'warn' },
      }),
    ),
  );
  const dispatcher = createGearmanDispatcher({ servers: [g.address], secret, logger: o.logger, preset: 'fast' });
  const direct = createReplicationProbe({ credentials: ACCOUNT, named: () => ACCOUNT, logger: o.logger });
  const probe = createRoutedProbe(direct, dispatcher);
  try {
    const entries = (half: boolean): ClusterNode[] => [
      o.nodes[0]!,
      ...Array.from({ length: 50 }, (_, i) => ({
        ...o.nodes[1 + (i % 2)]!,
        host: `r${i}`,
        ...(half && i % 2 === 1 ? { via: i % 4 === 1 ? 'w1' : 'w2' } : {}),
      })),
    ];
    const cycle = async (name: string, half: boolean) => {
      await o.store.clusters.create({
        name,
        version: 'x',
        credentials: 'bench',
        createdBy: 'bench',
        kind: 'watched',
        state: 'ready',
        nodes: entries(half),
      });
      const monitor = createReplicationMonitor({
        store: o.store,
        probe,
        chat: o.sink,
        alertChannel: 'C',
        policy: o.policy,
        logger: o.logger,
        intervalMs: 60_000,
        lagThresholdS: 30,
        lockName: `bench.${name}`,
      });
      const times: number[] = [];
      for (let i = 0; i < 11; i++) {
        const t = process.hrtime.bigint();
        await monitor.pollOnce();
        if (i > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      await monitor.stop();
      await o.store.clusters.remove(name);
      if ((await o.store.incidents.listOpen()).length > 0) throw new Error(`${name}: a poll opened an incident`);
      return median(times);
    };
    const all = await cycle('direct50', false);
    const half = await cycle('half50', true);
    return {
      poll_cycle_50_direct_watched_ms: round(all, 1),
      poll_cycle_50_half_worker_ms: round(half, 1),
      ratio: round(half / all, 2),
    };
  } finally {
    await probe.close();
    await dispatcher.close();
    await Promise.all(workers.map((w) => w.stop()));
    await g.stop();
  }
}
