/**
 * The local launchers (src/launch/) on real mariadbd and gearmand: a server is ready only when *it* answers.
 * A port taken by another process between freePort() and the server's bind used to look ready (the other process
 * answered on TCP): MariaDB's launch then failed later, confusingly, on the server's socket, and gearmand's
 * "started" while it was still retrying its bind, with jobs going to whatever held the port.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startMariadbProcess, type MariadbProcess } from '../../src/launch/mariadb.js';
import { startGearmandProcess } from '../../src/launch/gearmand.js';

describe('the MariaDB launcher', () => {
  const started: MariadbProcess[] = [];
  let squatter: Server | undefined;
  afterAll(async () => {
    squatter?.close();
    for (const m of started) await m.stop();
  });

  /** A TCP listener that is not the server: it accepts and hangs up. */
  async function squat(): Promise<number> {
    squatter = createServer((s) => s.destroy());
    await new Promise<void>((r) => squatter!.listen(0, '127.0.0.1', () => r()));
    return (squatter.address() as { port: number }).port;
  }

  it('gearmand: refuses a port another process listens on instead of taking it for ready', async () => {
    const port = await squat();
    const err = await startGearmandProcess({ port }).then(
      async (g) => {
        await g.stop();
        return null;
      },
      (e: Error) => e,
    );
    squatter?.close();
    expect(err?.message).toMatch(/taken by another process/);
  });

  it('gearmand: starts on a port of its own and answers as itself', async () => {
    const g = await startGearmandProcess();
    await g.stop();
    expect(g.port).toBeGreaterThan(0);
  });

  it('mariadb: refuses a port another process listens on, naming the bind failure, instead of taking it for ready', async () => {
    const port = await squat();
    const err = await startMariadbProcess({ port }).then(
      (m) => {
        started.push(m);
        return null;
      },
      (e: Error) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/mariadbd exited .*during start-up: .*(Address already in use|Bind on TCP\/IP port)/);
  });

  it('mariadb: starts on a port of its own and answers on it', async () => {
    const m = await startMariadbProcess();
    started.push(m);
    const { createConnection } = await import('mysql2/promise');
    const c = await createConnection({ host: m.host, port: m.port, user: m.user, password: m.password });
    const [rows] = await c.query('SELECT 1 AS one');
    await c.end();
    expect(rows).toEqual([{ one: 1 }]);
  });
});
