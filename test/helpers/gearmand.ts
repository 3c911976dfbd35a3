/** A real gearmand for tests: random loopback port, temp dir, killed and restarted on demand. */
import { execFileSync } from 'node:child_process';
import { freePort, startGearmandProcess, type GearmandProcess } from '../../src/demo/gearmand-process.js';

/** A gearmand under test. */
export interface GearmandHandle {
  host: '127.0.0.1';
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

export { freePort };

/** Starts gearmand on a free port. */
export async function startGearmand(): Promise<GearmandHandle> {
  let proc: GearmandProcess | null = await startGearmandProcess();
  const port = proc.port;
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    async stop() {
      await proc?.stop();
      proc = null;
    },
    async restart() {
      await proc?.stop();
      proc = await startGearmandProcess({ port });
    },
  };
}
