/** Free ports on this machine, and waiting for a port to accept connections: for the local launchers. */
import { connect, createServer } from 'node:net';
import { ErrorCode, GearopsError } from '../errors.js';

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
