/** Port looks for sandboxes: whether a port can be bound, and whether something listens there. */
import { connect, createServer } from 'node:net';

/** Whether `port` on `address` can be bound now (and why not). */
export async function portFree(address: string, port: number): Promise<{ free: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      resolve({ free: false, reason: err.code === 'EADDRINUSE' ? 'in use' : (err.code ?? err.message) }),
    );
    s.listen(port, address, () => s.close(() => resolve({ free: true })));
  });
}

/** Whether something accepts TCP connections at address:port (a cheap look before a client process is spent on it). */
export function listening(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
