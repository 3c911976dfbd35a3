/**
 * Starts a throwaway gearmand (Debian's gearman-job-server) on loopback, on
 * a free port, with its files in a temp dir: for the demo, the tests and the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, GearopsError } from '../errors.js';
import { freePort, waitForPort } from './free-port.js';

/** A running gearmand. */
export interface GearmandProcess {
  address: string;
  port: number;
  stop(): Promise<void>;
}

/** gearmand's `getpid` admin answer at host:port ("OK <pid>"), or null when whatever listens there says otherwise. */
function listenerPid(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => s.write('getpid\n'));
    let got = '';
    const done = (pid: number | null) => {
      s.destroy();
      resolve(pid);
    };
    s.setTimeout(5000, () => done(null));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\n')) done(/^OK (\d+)/.exec(got)?.[1] ? Number(/^OK (\d+)/.exec(got)![1]) : null);
    });
    s.once('error', () => done(null));
    s.once('end', () => done(null));
  });
}

/** Starts gearmand on 127.0.0.1, or on `listen` (a free port unless one is given). */
export async function startGearmandProcess(
  opts: { port?: number; binary?: string; listen?: string } = {},
): Promise<GearmandProcess> {
  // A port we chose ourselves may be taken by another process before gearmand binds it: choose again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if ((err as GearopsError).data?.portTaken !== true || opts.port !== undefined || attempt >= 3) throw err;
    }
  }
}

async function startOnce(opts: { port?: number; binary?: string; listen?: string }): Promise<GearmandProcess> {
  const listen = opts.listen ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(listen));
  const dir = mkdtempSync(join(tmpdir(), 'gearops-gearmand-'));
  const child: ChildProcess = spawn(
    opts.binary ?? 'gearmand',
    [
      `--listen=${listen}`,
      `--port=${port}`,
      `--log-file=${join(dir, 'gearmand.log')}`,
      '--verbose=WARNING',
      '--threads=2',
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new GearopsError(
          ErrorCode.GearmanUnavailable,
          `cannot start gearmand: ${err.message} (install Debian's gearman-job-server)`,
          { cause: err },
        ),
      ),
    ),
  );
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  await Promise.race([waitForPort(listen, port, 10_000, () => !exited), spawnError]);
  // Whatever answers must be this gearmand: another process that took the port first answers TCP too (gearmand
  // itself keeps retrying its bind meanwhile).
  const pid = await listenerPid(listen, port);
  if (pid !== child.pid) {
    await stop();
    throw new GearopsError(
      ErrorCode.GearmanUnavailable,
      `port ${listen}:${port} is taken by another process (it answered getpid with ${pid ?? 'no pid'})`,
      { data: { portTaken: true } },
    );
  }
  return {
    address: `${listen}:${port}`,
    port,
    stop,
  };
}
