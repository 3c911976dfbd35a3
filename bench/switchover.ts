/**
 * Switchover figures on three real sandboxes (one host, loopback) with a real store and pool: the median time of
 * a planned switchover (checks to pool move; goal ≤ 3 s), while an application inserts in a loop through the pool's
 * WRITE server, and the inserts it was told succeeded that are missing afterwards (goal 0). The baseline, measured
 * in the same run, is one proof of replication alone (a write read back on two replicas): the floor of step 5.
 * benchSwitchover is long because it is one measured sequence, torn down in its finally.
 */
import mysql from 'mysql2/promise';
import { createReplicationProbe } from '../src/mysql/replication.js';
import { createReplicationControl } from '../src/mysql/replication-control.js';
import { DEMO_CREDENTIALS } from '../src/core/ports/credentials.js';
import type { Store } from '../src/core/ports/store.js';
import { planSwitchover } from '../src/cluster/switchover-plan.js';
import { readCluster, runSwitchover } from '../src/cluster/switchover.js';
import { median, round } from './stats.js';
import { startSandboxLab } from './sandbox-cluster.js';

/** An application writing through the pool: counts what it was told succeeded. */
function writer(store: Store, url: (h: string, p: number) => mysql.ConnectionOptions) {
  const acked: number[] = [];
  let stop = false;
  let failed = 0;
  const done = (async () => {
    let c: mysql.Connection | null = null;
    for (let id = 1; !stop; id++) {
      try {
        if (!c) {
          const w = (await store.pool.list()).find((r) => r.type.includes('WRITE'));
          if (!w) throw new Error('no WRITE server');
          c = await mysql.createConnection(url(w.host, w.port));
        }
        await c.query('INSERT INTO app.t (id) VALUES (?)', [id]);
        acked.push(id);
      } catch {
        failed++;
        c?.destroy();
        c = null;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    c?.destroy();
  })();
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** Installs three sandboxes, then switches `reps` times round them under writes. */
export async function benchSwitchover(opts: { reps?: number } = {}): Promise<Record<string, number>> {
  const reps = opts.reps ?? 5;
  const lab = await startSandboxLab('switchover');
  const { store, logger } = lab;
  const credentials = { get: () => DEMO_CREDENTIALS };
  const probe = createReplicationProbe({ credentials, logger });
  const control = createReplicationControl({ credentials });
  try {
    const { ports, nodes } = await lab.cluster('sw', { pool: true });
    const m = { address: '127.0.0.1', port: ports[0]!, cluster: 'sw' };
    for (const s of [
      'CREATE DATABASE app',
      'CREATE TABLE app.t (id INT PRIMARY KEY)',
      "CREATE USER 'app'@'%' IDENTIFIED BY 'apppw'",
      "GRANT INSERT, SELECT ON app.* TO 'app'@'%'",
    ])
      await probe.exec(m, s);
    const proofs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await probe.verifyReplication(
        m,
        nodes.slice(1).map((n) => ({ address: n.address, port: n.port, cluster: 'sw' })),
      );
      proofs.push(Date.now() - t);
    }
    const app = writer(store, (host, port) => ({ host, port, user: 'app', password: 'apppw' }));
    const times: number[] = [];
    try {
      for (let r = 0; r < reps; r++) {
        const c = (await store.clusters.get('sw'))!;
        const t = Date.now();
        const planned = planSwitchover(c, await readCluster(control, c), { lagThresholdS: 30 });
        if (!planned.ok) throw new Error(`switchover ${r + 1} refused: ${planned.reasons.join('; ')}`);
        const { master, target } = planned.plan;
        const change = await store.changes!.begin({
          cluster: 'sw',
          kind: 'switchover',
          from: `${master.address}:${master.port}`,
          to: `${target.address}:${target.port}`,
          actor: 'bench',
          step: 'checks',
        });
        const out = await runSwitchover(
          {
            control,
            verify: (a, b, o) => probe.verifyReplication(a, b, o),
            journal: store.changes!,
            clusters: store.clusters,
            pool: store.pool,
            say: async () => undefined,
            actor: 'bench',
            timeoutS: 10,
          },
          c,
          planned.plan,
          change.id,
        );
        if (out.state !== 'done') throw new Error(`switchover ${r + 1} ${out.state}: ${out.summary}`);
        times.push(Date.now() - t);
        // The application goes on writing on the new master before the next switch.
        const n = app.acked.length;
        while (app.acked.length < n + 20) await new Promise((res) => setTimeout(res, 10));
      }
    } finally {
      await app.stop();
    }
    const last = (await store.clusters.get('sw'))!.nodes.find((n) => n.role === 'master')!;
    const rows = await probe.exec({ address: last.address, port: last.port, cluster: 'sw' }, 'SELECT id FROM app.t', {
      timeoutMs: 30_000,
    });
    const have = new Set(rows.rows.map((r) => Number(r[0])));
    const lost = app.acked.filter((id) => !have.has(id)).length;
    const s = median(times) / 1000;
    return {
      switchover_s: round(s, 2),
      switchover_lost_writes: lost,
      switchover_acked_writes: app.acked.length,
      switchover_failed_writes: app.failed(),
      switchover_prove_ms: round(median(proofs), 0),
      switchover_vs_prove: round(median(times) / Math.max(1, median(proofs)), 1),
    };
  } finally {
    await control.close();
    await probe.close();
    await lab.stop();
  }
}
