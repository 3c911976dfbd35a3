/**
 * Starts a throwaway gearmand (Debian's gearman-job-server) on loopback, on
 * a free port, with its files in a temp dir: for the demo, the tests and the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';

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

/** Starts gearmand on 127.0.0.1, or on `listen` (a free port unless one is given). */
export async function startGearmandProcess(
  opts: { port?: number; binary?: string; listen?: string } = {},
): Promise<GearmandProcess> {
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
  await Promise.race([waitForPort(listen, port, 10_000, () => !exited), spawnError]);
  return {
    address: `${listen}:${port}`,
    port,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
