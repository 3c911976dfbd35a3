/** Runs `gearops worker` as a child process (demo, benchmark, tests) and waits until it has registered. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gearopsCommandArgs, PACKAGE_ROOT } from '../package-info.js';

/** A worker process. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it logged so far. */
  logs(): string;
  /** SIGTERM, then SIGKILL after a grace. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

/** Starts a worker for `host` and resolves once it logged its registration (or rejects with its logs). */
export async function startWorkerProcess(opts: {
  host: string;
  gearman: string;
  secret: string;
  policy?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** An argv prefix the worker runs under, e.g. `ip netns exec NS` for a test host of its own (it must exec). */
  wrap?: string[];
}): Promise<WorkerProcess> {
  // Without a --sandbox-dir or --state-dir of the caller's, they go to a temp dir of this process's own
  // (removed when it ends), never to the defaults under the user's home.
  const given = (flag: string) => opts.extraArgs?.includes(flag) ?? false;
  const ownDir =
    given('--sandbox-dir') && given('--state-dir') ? null : mkdtempSync(join(tmpdir(), `gearops-worker-${opts.host}-`));
  const args = [
    ...(opts.extraArgs ?? []),
    ...(ownDir && !given('--sandbox-dir') ? ['--sandbox-dir', join(ownDir, 'sandboxes')] : []),
    ...(ownDir && !given('--state-dir') ? ['--state-dir', join(ownDir, 'state')] : []),
  ];
  const [program, ...prefix] = [...(opts.wrap ?? []), process.execPath];
  const child = spawn(
    program!,
    [
      ...prefix,
      ...gearopsCommandArgs(),
      'worker',
      '--host',
      opts.host,
      '--gearman',
      opts.gearman,
      '--policy',
      opts.policy ?? join(PACKAGE_ROOT, 'policies/demo.yml'),
      ...args,
    ],
    {
      env: { ...process.env, ...opts.env, GEAROPS_JOB_SECRET: opts.secret, GEAROPS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let logs = '';
  child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  child.once('exit', () => {
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  });
  const stopWith = async (sig: NodeJS.Signals) => {
    if (gone()) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(sig);
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!logs.includes('"event":"worker_registered"')) {
    if (gone() || Date.now() > deadline) {
      await stopWith('SIGKILL');
      throw new Error(`worker ${opts.host} did not register:\n${logs.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, logs: () => logs, stop: () => stopWith('SIGTERM'), kill: () => stopWith('SIGKILL') };
}
