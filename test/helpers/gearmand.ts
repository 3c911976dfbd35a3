/** A real gearmand for tests: random loopback port, temp dir, killed and restarted on demand. */
import { execFileSync } from 'node:child_process';
import { startGearmandProcess, type GearmandProcess } from '../../src/launch/gearmand.js';
import { freePort, freePortRange } from '../../src/launch/free-port.js';

/** A gearmand under test. */
export interface GearmandHandle {
  host: string;
  port: number;
  address: string;
  /** Stops it (SIGTERM). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

/** True when gearmand and the C tools are installed. */
export function gearmandAvailable(): boolean {
  try {
    execFileSync('gearmand', ['--version'], { stdio: 'ignore' });
    execFileSync('gearman', ['-H'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export { freePort, freePortRange };

/** Starts gearmand on a free port of loopback, or of `listen` (a test network's gateway). */
export async function startGearmand(opts: { listen?: string } = {}): Promise<GearmandHandle> {
  const listen = opts.listen ?? '127.0.0.1';
  let proc: GearmandProcess | null = await startGearmandProcess({ listen });
  const port = proc.port;
  return {
    host: listen,
    port,
    address: `${listen}:${port}`,
    async stop() {
      await proc?.stop();
      proc = null;
    },
    async restart() {
      await proc?.stop();
      proc = await startGearmandProcess({ port, listen });
    },
  };
}
