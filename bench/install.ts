/**
 * Sandbox install wall time: a master alone against a master plus two
 * replicas installed in parallel, through the workers' capability code on
 * this machine (Debian's MariaDB). Each host's first install of a version
 * also makes its data-directory template (measured on its own as
 * install_first_node_s); the rounds after it are what every later install
 * costs, and the hosts' templates are made before they start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSilentLogger } from '../src/log.js';
import type { Capability } from '../src/worker/capability.js';
import { createSandboxCapabilities } from '../src/worker/sandbox/index.js';
import { freePort } from '../src/launch/free-port.js';
import { median, round } from './stats.js';
import { BENCH_JOB_SECRET, sandboxJob as ctx } from './sandbox-job.js';

/** Runs `reps` rounds; reports medians. */
export async function benchInstall(opts: { reps?: number } = {}): Promise<{
  install_first_node_s: number;
  install_1node_s: number;
  install_3node_s: number;
  install_parallel_ratio: number;
}> {
  const reps = opts.reps ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'gearops-bench-install-'));
  const caps = await Promise.all(
    ['h1', 'h2', 'h3'].map((h) =>
      createSandboxCapabilities({
        host: h,
        sandboxDir: join(root, h),
        advertise: '127.0.0.1',
        jobSecret: BENCH_JOB_SECRET,
        logger: createSilentLogger(),
      }),
    ),
  );
  const cap = (i: number, name: string) => caps[i]!.capabilities.find((c) => c.name === name) as Capability;
  if (!caps[0]!.capabilities.length) throw new Error(`no server build: ${caps[0]!.problems.join('; ')}`);
  const one: number[] = [];
  const three: number[] = [];
  let first = 0;
  try {
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await cap(i, 'sandbox.install').handler(
        ctx({ name: 'warm', cluster: 'warm', port: await freePort(), serverId: 1, role: 'master' }),
      );
      if (i === 0) first = (Date.now() - t) / 1000;
      await cap(i, 'sandbox.remove').handler(ctx({ name: 'warm' }));
    }
    for (let r = 0; r < reps; r++) {
      let p = await freePort();
      let t = Date.now();
      await cap(0, 'sandbox.install').handler(
        ctx({ name: 'solo', cluster: 'solo', port: p, serverId: 1, role: 'master' }),
      );
      one.push((Date.now() - t) / 1000);
      await cap(0, 'sandbox.remove').handler(ctx({ name: 'solo' }));
      p = await freePort();
      const [p1, p2] = [await freePort(), await freePort()];
      t = Date.now();
      // As /replica install does: the master and both replicas at once (replicas connect once the master is up).
      await Promise.all([
        cap(0, 'sandbox.install').handler(ctx({ name: 'trio', cluster: 'trio', port: p, serverId: 1, role: 'master' })),
        ...[p1, p2].map((port, i) =>
          cap(i + 1, 'sandbox.install').handler(
            ctx({
              name: 'trio',
              cluster: 'trio',
              port,
              serverId: i + 2,
              role: 'replica',
              master: { address: '127.0.0.1', port: p },
            }),
          ),
        ),
      ]);
      three.push((Date.now() - t) / 1000);
      await Promise.all([0, 1, 2].map((i) => cap(i, 'sandbox.remove').handler(ctx({ name: 'trio' }))));
    }
  } finally {
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch {
      // a server still flushing its last files; the temp dir is left for the OS to clean
    }
  }
  return {
    install_first_node_s: round(first, 2),
    install_1node_s: round(median(one), 2),
    install_3node_s: round(median(three), 2),
    install_parallel_ratio: round(median(three) / median(one), 2),
  };
}
