/**
 * Starts a throwaway gearmand (Debian's gearman-job-server) on loopback, on
 * a free port, with its files in a temp dir: for the demo and the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, GearopsError } from '../errors.js';

/** A running gearmand. */
export interface GearmandProcess {
  address: string;
  port: number;
  stop(): Promise<void>;
}

/** Asks the kernel for a free port on `host` (loopback unless given). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True when nothing listens on host:port now (it could be bound). */
function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports on `host` (`/replica install port=N` uses N, N+1, …): starts from a
 * port the kernel hands out and checks the ones after it, trying again elsewhere when one is taken.
 */
export async function freePortRange(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort(host);
    if (base + count > 65_536) continue;
    let free = true;
    for (let p = base + 1; p < base + count && free; p++) free = await portFree(p, host);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports on ${host}`);
}

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!isAlive() || Date.now() > deadline)
      throw new GearopsError(ErrorCode.GearmanUnavailable, `nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
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
