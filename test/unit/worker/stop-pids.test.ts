/**
 * Stopping a sandbox's server (src/worker/sandbox/process.ts stopPids): a mariadbd told to stop in the first moments
 * of its start-up keeps SIGTERM blocked and pending and hangs there, never ready and never gone. stopPids kills such
 * a process once it sees the signal left pending, instead of waiting out the whole grace. A python3 process that
 * blocks SIGTERM stands for the stuck server; a shell that ends on SIGTERM for a healthy one. Each waits on its
 * stdin, which the test never closes, until it is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { stopPids, termPending } from '../../../src/worker/sandbox/process.js';
import { until } from '../../helpers/wait.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A child that says `ready` on stdout once it runs as described. */
async function child(cmd: string, args: string[]): Promise<ChildProcess & { gone: Promise<NodeJS.Signals | null> }> {
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  started.push(c);
  const gone = new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, sig) => r(sig)));
  let out = '';
  c.stdout!.on('data', (d) => (out += d));
  await until(() => out.includes('ready'), 20_000, { label: `${cmd} to start` });
  return Object.assign(c, { gone });
}

describe('stopPids', () => {
  it('kills a process that leaves SIGTERM pending, without waiting out its grace', async () => {
    const stuck = await child('python3', [
      '-c',
      'import signal, sys\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\nprint("ready", flush=True)\nsys.stdin.read()',
    ]);
    // A grace longer than the test's own time-out: only the pending-signal check can end this in time.
    await stopPids([stuck.pid!], { graceMs: 3_600_000 });
    expect(await stuck.gone).toBe('SIGKILL');
  });

  it('lets a process that acts on SIGTERM end by it', async () => {
    const healthy = await child('sh', ['-c', 'echo ready; exec cat']);
    await stopPids([healthy.pid!], { graceMs: 3_600_000 });
    expect(await healthy.gone).toBe('SIGTERM');
  });

  it('sees a pending SIGTERM in /proc only while it is pending', async () => {
    const stuck = await child('python3', [
      '-c',
      'import signal, sys\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\nprint("ready", flush=True)\nsys.stdin.read()',
    ]);
    expect(termPending(stuck.pid!)).toBe(false);
    process.kill(stuck.pid!, 'SIGTERM');
    await until(() => termPending(stuck.pid!), 5_000, { label: 'SIGTERM pending' });
    stuck.kill('SIGKILL');
    expect(await stuck.gone).toBe('SIGKILL');
  });
});
