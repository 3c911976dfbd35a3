/**
 * `npm run demo`: everything on this machine, no Slack account. A throwaway
 * gearmand and MariaDB (the store), workers server1..3 with a generated job
 * secret and the demo policy, then the console. Ctrl-D, `exit` or a signal
 * stops and removes everything it started.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGearmandProcess, type GearmandProcess } from './launch/gearmand.js';
import { startMariadbProcess } from './launch/mariadb.js';
import { runConsoleCommand } from './console.js';
import { startWorkerProcess } from './launch/worker.js';
import { createHandClusters } from './launch/hand-cluster.js';
import { createCrashBuiltins } from './launch/console-extras.js';
import { stopAllSandboxes } from './worker/sandbox/index.js';
import { PACKAGE_ROOT as ROOT } from './package-info.js';

const HOSTS = ['server1', 'server2', 'server3'];

/** Something the demo started and must stop. */
type Stoppable = { name: string; stop(): Promise<void> };

function say(s: string): void {
  process.stderr.write(`demo: ${s}\n`);
}

/**
 * Entry point of `gearops demo`; extra arguments go to the console (e.g. -e "/run server1 uptime"). Over 80 lines: the demo's start-up, read top to bottom (store, job server, workers, console), with the cleanup every step registers with.
 */
export async function runDemoCommand(argv: string[]): Promise<number> {
  const deps = spawnSync('bash', [join(ROOT, 'scripts/ensure-deps.sh')], { stdio: 'inherit' });
  if (deps.status !== 0) return 2;

  const started: Stoppable[] = [];
  const root = mkdtempSync(join(tmpdir(), 'gearops-demo-'));
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const s of started.reverse()) {
        await s.stop().catch((err: Error) => say(`stopping ${s.name}: ${err.message}`));
      }
      // Sandboxes outlive their worker on purpose (like real servers); the demo's must not outlive the demo.
      await stopAllSandboxes(join(root, 'sandboxes')).catch((err: Error) => say(`stopping sandboxes: ${err.message}`));
      rmSync(root, { recursive: true, force: true });
    })());
  const onSignal = () => {
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const secret = randomBytes(32).toString('hex');
    say('starting gearmand…');
    const gearmand: GearmandProcess = await startGearmandProcess();
    started.push({ name: 'gearmand', stop: () => gearmand.stop() });
    say('starting MariaDB for the store…');
    const db = await startMariadbProcess({ baseDir: join(root, 'store'), database: 'common' });
    started.push({ name: 'mariadb', stop: () => db.stop() });

    // Named credentials for /replica watch: empty at first; `demo cluster` adds its monitoring account (owner-only).
    const credentialsFile = join(root, 'credentials.yml');
    writeFileSync(credentialsFile, '# demo credentials: entries made by `demo cluster`\n', { mode: 0o600 });
    const hand = createHandClusters({ dir: join(root, 'handmade'), credentialsFile });
    started.push({ name: 'hand-wired clusters', stop: () => hand.stop() });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GEAROPS_JOB_SECRET: secret,
      GEAROPS_GEARMAN: gearmand.address,
      GEAROPS_POLICY: join(ROOT, 'policies/demo.yml'),
      GEAROPS_MYSQL_URL: db.url,
      GEAROPS_STATE_DIR: join(root, 'bot'),
      // Everything is on 127.0.0.1: the sandboxes get MySQL Sandbox's well-known msandbox/msandbox accounts.
      GEAROPS_SANDBOX_DEMO_CREDENTIALS: '1',
      GEAROPS_CREDENTIALS_FILE: credentialsFile,
      GEAROPS_ALERT_CHANNEL: process.env.GEAROPS_ALERT_CHANNEL ?? 'CALERTS',
      GEAROPS_POOL_CHANNEL: process.env.GEAROPS_POOL_CHANNEL ?? 'CPOOL',
      GEAROPS_LOG_LEVEL: process.env.GEAROPS_LOG_LEVEL ?? 'warn',
      // One person trying things (or a pasted list of commands): 20 a minute would get in the way.
      GEAROPS_USER_RATE: process.env.GEAROPS_USER_RATE ?? '120',
    };
    say(`starting workers ${HOSTS.join(', ')}…`);
    await Promise.all(
      HOSTS.map(async (host) => {
        const dir = join(root, 'sandboxes', host);
        mkdirSync(dir, { recursive: true });
        const w = await startWorkerProcess({
          host,
          gearman: gearmand.address,
          secret,
          policy: join(ROOT, 'policies/demo.yml'),
          extraArgs: ['--sandbox-dir', dir, '--advertise', '127.0.0.1'],
          env,
        });
        started.push({ name: `worker ${host}`, stop: () => w.stop() });
      }),
    );
    say(
      `ready: gearmand ${gearmand.address}, store ${db.url.replace(/:[^:@/]*@/, ':***@')}, workers ${HOSTS.join(', ')}`,
    );
    say('demo only: `demo cluster <name>` starts replication by hand beside gearops (`demo help`)');
    return await runConsoleCommand(['--user', 'demo', '--channel', 'CDEMO', ...argv], {
      env,
      builtins: { demo: hand.builtin, ...createCrashBuiltins(join(root, 'sandboxes')) },
    });
  } catch (err) {
    say(`failed: ${(err as Error).message}`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}
