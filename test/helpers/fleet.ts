/**
 * A whole local fleet for integration tests: a real gearmand, a real MariaDB
 * for the store, worker processes with sandbox dirs, and the app context the
 * console and the bot use — with a recording chat in place of Slack.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.js';
import { createAppContext, type AppContext } from '../../src/app.js';
import { createSilentLogger } from '../../src/log.js';
import { renderText, type ChatMessage } from '../../src/core/message.js';
import type { ChatSink, MessageRef } from '../../src/core/ports/chat.js';
import type { CommandOutcome } from '../../src/core/ports/commands.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/launch/worker.js';
import { pidAlive as alive, stopAllSandboxes } from '../../src/worker/sandbox/index.js';
import { findBuilds } from '../../src/worker/sandbox/builds.js';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmand, type GearmandHandle } from './gearmand.js';
import { startMariadb } from './mariadb.js';
import { createNetnsNetwork, type NetnsNetwork } from './netns.js';
import { createRecordingReply } from '../unit/fakes/ports.js';
import { seedTemplates } from './templates.js';
import { until } from './wait.js';

/** Everything posted to channels outside command replies (alerts, pool announcements). */
export interface SinkRecord {
  posts: Array<{ channel: string; ref: MessageRef; text: string; threadTs?: string; msg: ChatMessage; at: number }>;
  updates: Array<{ ref: MessageRef; text: string; at: number }>;
}

/** Creates a chat sink that records. */
export function createRecordingSink(): ChatSink & SinkRecord {
  const posts: SinkRecord['posts'] = [];
  const updates: SinkRecord['updates'] = [];
  let n = 0;
  return {
    posts,
    updates,
    async post(channel, queued, o) {
      const ref = { channel, ts: `${Date.now()}.${String(++n).padStart(6, '0')}` };
      // As the transports do: the message as `latest` gives it when the post leaves (the ChatSink contract).
      const msg = o?.latest?.() ?? queued;
      posts.push({ channel, ref, text: renderText(msg), threadTs: o?.threadTs, msg, at: Date.now() });
      return ref;
    },
    async update(ref, msg) {
      updates.push({ ref, text: renderText(msg), at: Date.now() });
    },
    async upload() {},
  };
}

/** A running fleet. */
export interface Fleet {
  gearmand: GearmandHandle;
  db: MariadbProcess;
  workers: Map<string, WorkerProcess>;
  /** With `netns: true`: every host is a network namespace of its own on this bridge. */
  network: NetnsNetwork | null;
  secret: string;
  root: string;
  sink: ReturnType<typeof createRecordingSink>;
  env: NodeJS.ProcessEnv;
  ctx: AppContext;
  /** Runs a slash command line as user U1 in C1; returns the outcome and what was said. */
  run(line: string, opts?: { yes?: boolean }): Promise<{ outcome: CommandOutcome; text: string }>;
  /** A second app context on the same fleet (a restarted or second bot). */
  newContext(): Promise<AppContext>;
  /** Kills `host`'s worker with SIGKILL (a crash) and starts it again with the same options; resolves once it registered. */
  restartWorker(host: string): Promise<WorkerProcess>;
  /** Sends `signal` to the server of sandbox `name` on `host` (SIGSTOP/SIGCONT: a hung server and back). */
  signalSandbox(host: string, name: string, signal: NodeJS.Signals): void;
  /** Kills sandbox `name` on `host` with `signal` and waits until the process is gone. */
  killSandbox(host: string, name: string, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts an installed, stopped sandbox again from its own my.cnf (as the worker did at install); `serverArgs` go
   * after it (e.g. an --init-file the server runs before it takes a connection).
   */
  startSandbox(host: string, name: string, serverArgs?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Starts gearmand, MariaDB and workers for `hosts`. */
export async function startFleet(
  opts: {
    hosts?: string[];
    env?: NodeJS.ProcessEnv;
    workerArgs?: Record<string, string[]>;
    /**
     * Each host in a network namespace of its own (test/helpers/netns.ts; the caller checks netnsUnavailable()):
     * gearmand listens on the bridge's address, each worker runs inside its host and advertises the host's address,
     * so its sandboxes listen there. The store stays on this process's loopback.
     */
    netns?: boolean;
    /** With netns: programs on every host resolve every host's name (createNetnsNetwork's `names`). */
    hostNames?: boolean;
    /**
     * Hosts start without a data-directory template, and make it on their first install. Without it each host
     * starts with a copy of the one made once for all fleets (test/helpers/templates.ts).
     */
    freshTemplates?: boolean;
    /** The app context's /run margin past a command's time-out (AppOptions.runExtraTimeoutMs; default 10 s). */
    runExtraTimeoutMs?: number;
  } = {},
): Promise<Fleet> {
  const hosts = opts.hosts ?? ['server1', 'server2', 'server3'];
  const secret = randomBytes(32).toString('hex');
  const root = mkdtempSync(join(tmpdir(), 'gearops-fleet-'));
  const network = opts.netns ? createNetnsNetwork(hosts, { names: opts.hostNames }) : null;
  for (const h of hosts) mkdirSync(join(root, h), { recursive: true });
  const [gearmand, db] = await Promise.all([
    startGearmand(network ? { listen: network.gateway } : {}),
    startMariadb(),
    opts.freshTemplates ? null : seedTemplates(hosts.map((h) => join(root, h))),
  ]);
  const workers = new Map<string, WorkerProcess>();
  // A restarted worker keeps its state dir (the record of jobs it took), as on a real host.
  const startWorker = (h: string) =>
    startWorkerProcess({
      host: h,
      gearman: gearmand.address,
      secret,
      extraArgs: [
        '--sandbox-dir',
        join(root, h),
        '--state-dir',
        join(root, `${h}.state`),
        ...(network ? ['--advertise', network.host(h).address] : []),
        ...(opts.workerArgs?.[h] ?? []),
      ],
      ...(network ? { wrap: network.host(h).wrap } : {}),
    });
  const started = await Promise.allSettled(
    hosts.map(async (h) => {
      workers.set(h, await startWorker(h));
    }),
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // Nothing of a fleet that did not start outlives it (the test's afterAll has no fleet to stop).
    await Promise.allSettled([...workers.values()].map((w) => w.kill()));
    await Promise.allSettled([gearmand.stop(), db.stop()]);
    network?.destroy();
    rmSync(root, { recursive: true, force: true });
    throw (failed as PromiseRejectedResult).reason;
  }
  const env: NodeJS.ProcessEnv = {
    GEAROPS_GEARMAN: gearmand.address,
    GEAROPS_JOB_SECRET: secret,
    GEAROPS_MYSQL_URL: db.url,
    GEAROPS_POLICY: 'policies/demo.yml',
    GEAROPS_ALERT_CHANNEL: 'CALERTS',
    GEAROPS_POOL_CHANNEL: 'CPOOL',
    GEAROPS_USER_RATE: '10000',
    GEAROPS_MONITOR_INTERVAL_MS: '500',
    GEAROPS_STATE_DIR: join(root, 'bot.state'),
    // Every fleet is on loopback: its clusters get the well-known accounts, which tests use to break replication.
    // A test of the real, random passwords sets it to 0.
    GEAROPS_SANDBOX_DEMO_CREDENTIALS: '1',
    ...opts.env,
  };
  const sink = createRecordingSink();
  const newContext = () =>
    createAppContext({
      config: parseConfig(env),
      logger: createSilentLogger(),
      chat: sink,
      dispatchPreset: 'fast',
      runExtraTimeoutMs: opts.runExtraTimeoutMs,
    });
  const ctx = await newContext();
  // The pid of a sandbox's server, from its mysqld.pid.
  const sandboxPid = (host: string, name: string) =>
    Number(readFileSync(join(root, host, name, 'mysqld.pid'), 'utf8').trim());
  return {
    gearmand,
    db,
    workers,
    network,
    secret,
    root,
    sink,
    env,
    ctx,
    newContext,
    async restartWorker(host) {
      await workers.get(host)?.kill();
      const w = await startWorker(host);
      workers.set(host, w);
      return w;
    },
    signalSandbox(host, name, signal) {
      process.kill(sandboxPid(host, name), signal);
    },
    async killSandbox(host, name, signal = 'SIGKILL') {
      const pid = sandboxPid(host, name);
      process.kill(pid, signal);
      await until(() => !alive(pid), 30_000, { label: `${host}/${name}: pid ${pid} gone after ${signal}` });
    },
    async startSandbox(host, name, serverArgs = []) {
      const build = (await findBuilds()).builds[0];
      if (!build) throw new Error('no server build to start a sandbox with');
      const dir = join(root, host, name);
      const argv = [
        build.server,
        `--defaults-file=${join(dir, 'my.cnf')}`,
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ...serverArgs,
      ];
      // On a namespace host the server must start inside it: its bind-address exists only there.
      const [program, ...args] = [...(network?.host(host).wrap ?? []), ...argv];
      const child = spawn(program!, args, { detached: true, stdio: 'ignore' });
      child.unref();
      const started = () => {
        try {
          return alive(sandboxPid(host, name));
        } catch {
          return false; // no pid file yet
        }
      };
      await until(
        () => {
          if (child.exitCode !== null) throw new Error(`${host}/${name}: the server exited with ${child.exitCode}`);
          return started();
        },
        60_000,
        { label: `${host}/${name}: the server started` },
      );
    },
    async run(line, o) {
      const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line)!;
      const rec = createRecordingReply('C1', { confirm: o?.yes ?? false });
      const outcome = await ctx.router.dispatch({
        command: m[1]!,
        text: m[2] ?? '',
        principal: { userId: 'U1', channelId: 'C1', roles: [] },
        reply: rec.reply,
        source: 'console',
        requestId: randomUUID(),
      });
      const text = [
        ...rec.confirms,
        ...rec.ephemerals,
        ...rec.posts.map((p) => p.text),
        ...rec.updates.map((u) => u.text),
      ].join('\n');
      return { outcome, text };
    },
    async stop() {
      await ctx.close();
      await Promise.all([...workers.values()].map((w) => w.stop()));
      await stopAllSandboxes(root);
      await Promise.all([gearmand.stop(), db.stop()]);
      network?.destroy();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
