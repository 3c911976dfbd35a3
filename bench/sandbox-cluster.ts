/**
 * The sandbox lab the cluster benchmarks share: a temp dir, a real store (MariaDB), and the workers' sandbox
 * capabilities for hosts h1, h2 and h3 called in-process; `cluster()` installs a master and two replicas on free
 * ports and records them (and, when asked, puts them in the pool). `stop()` tears it all down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSilentLogger, type Logger } from '../src/log.js';
import type { Capability } from '../src/worker/capability.js';
import { createSandboxCapabilities, stopAllSandboxes } from '../src/worker/sandbox/index.js';
import { freePort } from '../src/launch/free-port.js';
import { startMariadbProcess } from '../src/launch/mariadb.js';
import { createMysqlStore } from '../src/mysql/store.js';
import type { ClusterNode, Store } from '../src/core/ports/store.js';
import { BENCH_JOB_SECRET, sandboxJob } from './sandbox-job.js';

/** A three-node cluster the lab built: its ports (master first) and its nodes as the store records them. */
export interface BenchCluster {
  name: string;
  ports: number[];
  nodes: ClusterNode[];
}

/** A running lab. */
export interface SandboxLab {
  /** The temp dir: `<root>/<host>/<sandbox>/` holds each sandbox's files. */
  root: string;
  logger: Logger;
  store: Store;
  /** Installs sandbox `name` on h1 (master), h2 and h3 (replicas of it) and records the cluster in the store. */
  cluster(name: string, opts?: { pool?: boolean }): Promise<BenchCluster>;
  /** Stops every sandbox, the store and its server, and removes the temp dir. */
  stop(): Promise<void>;
}

const HOSTS = ['h1', 'h2', 'h3'];

/** Starts a lab under a temp dir named after `bench`. */
export async function startSandboxLab(bench: string): Promise<SandboxLab> {
  const logger = createSilentLogger();
  const root = mkdtempSync(join(tmpdir(), `gearops-bench-${bench}-`));
  const db = await startMariadbProcess({ baseDir: join(root, 'store') });
  const caps = await Promise.all(
    HOSTS.map((h) =>
      createSandboxCapabilities({
        host: h,
        sandboxDir: join(root, h),
        advertise: '127.0.0.1',
        jobSecret: BENCH_JOB_SECRET,
        logger,
      }),
    ),
  );
  const install = (i: number) => caps[i]!.capabilities.find((c) => c.name === 'sandbox.install') as Capability;
  const store = await createMysqlStore({ url: db.url, logger });
  return {
    root,
    logger,
    store,
    async cluster(name, opts = {}) {
      // One at a time: ports handed out together could be the same one.
      const ports: number[] = [];
      for (const _ of HOSTS) ports.push(await freePort());
      await Promise.all(
        ports.map((port, i) =>
          install(i).handler(
            sandboxJob({
              name,
              cluster: name,
              port,
              serverId: i + 1,
              role: i === 0 ? 'master' : 'replica',
              master: i === 0 ? undefined : { address: '127.0.0.1', port: ports[0] },
            }),
          ),
        ),
      );
      const nodes: ClusterNode[] = ports.map((port, i) => ({
        host: HOSTS[i]!,
        address: '127.0.0.1',
        port,
        role: i === 0 ? 'master' : 'replica',
        serverId: i + 1,
        sandbox: name,
      }));
      if (opts.pool)
        for (const n of nodes)
          await store.pool.add(
            { host: n.address, port: n.port, sock: '', type: n.role === 'master' ? ['READ', 'WRITE'] : ['READ'] },
            'bench',
            'bench',
          );
      await store.clusters.create({ name, version: 'x', credentials: 'bench', createdBy: 'bench', nodes });
      return { name, ports, nodes };
    },
    async stop() {
      await store.close();
      await stopAllSandboxes(root);
      await db.stop();
      try {
        rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch {
        // A server still flushing its last files; the temp dir is left for the OS to clean.
      }
    },
  };
}
