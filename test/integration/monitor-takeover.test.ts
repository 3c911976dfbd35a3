/**
 * Several bot instances, one monitor: two interactive consoles (each runs
 * the monitor, as the bot does) watch the same store; only the holder of
 * the store lock alerts. When it dies (SIGKILL: its MySQL sessions vanish
 * with it and the lock with them), the other takes over: it alerts on new
 * faults and goes on with the dead one's open incidents.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { freePortRange } from '../helpers/gearmand.js';
import { newLines, until } from '../helpers/wait.js';
import { gearopsCommandArgs } from '../../src/package-info.js';

// The master's port (its replicas: the next two), free on this run.
let MASTER = 0;

interface Console {
  name: string;
  child: ChildProcess;
  out(): string;
}

describe('monitor takeover between bot instances', () => {
  let f: Fleet;
  let probe: ReplicationProbe;
  let home: string;
  const consoles: Console[] = [];

  const startConsole = (name: string): Console => {
    const child = spawn(process.execPath, [...gearopsCommandArgs(), 'console', '--user', name], {
      env: {
        ...process.env,
        ...f.env,
        GEAROPS_ALERT_CHANNEL: 'CALERTS',
        GEAROPS_MONITOR_INTERVAL_MS: '300',
        // Debug: each poll cycle logs a line, which is how the test gives the other instance its chances.
        GEAROPS_LOG_LEVEL: 'debug',
        HOME: home,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const c = { name, child, out: () => out };
    consoles.push(c);
    return c;
  };
  const alerted = (c: Console, node: string) =>
    c
      .out()
      .split('\n')
      .some((l) => l.includes('[#CALERTS]') && l.includes('🔴') && l.includes(node));

  beforeAll(async () => {
    f = await startFleet();
    MASTER = await freePortRange(3);
    home = mkdtempSync(join(tmpdir(), 'gearops-takeover-home-'));
    const r = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${MASTER}`);
    expect(r.outcome.status, r.text).toBe('ok');
    probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
  });

  afterAll(async () => {
    for (const c of consoles) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        const gone = new Promise((r) => c.child.once('exit', r));
        c.child.kill('SIGKILL');
        await gone;
      }
    }
    await probe?.close();
    await f?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('alerts from one instance only, and from the other once the first is killed, carrying on its open incident', async () => {
    const a = startConsole('alice');
    const b = startConsole('bob');
    await until(() => [a, b].every((c) => c.out().includes('gearops console as')), 30_000);
    await probe.stopReplication({ address: '127.0.0.1', port: MASTER + 1 }, 'io');
    await until(() => alerted(a, `server2:${MASTER + 1}`) || alerted(b, `server2:${MASTER + 1}`), 20_000);
    const holder = alerted(a, `server2:${MASTER + 1}`) ? a : b;
    const other = holder === a ? b : a;
    // Give the other one a few cycles: it must stay silent.
    await newLines(other.out, /"event":"monitor_cycle"/, 3);
    expect(alerted(other, `server2:${MASTER + 1}`)).toBe(false);

    const gone = new Promise((r) => holder.child.once('exit', r));
    holder.child.kill('SIGKILL');
    await gone;
    await probe.stopReplication({ address: '127.0.0.1', port: MASTER + 2 }, 'io');
    await until(() => alerted(other, `server3:${MASTER + 2}`), 20_000);
    // The dead instance's incident is the survivor's now: it resolves it in the same thread, without a second alert.
    await probe.exec({ address: '127.0.0.1', port: MASTER + 1 }, 'START SLAVE IO_THREAD');
    await until(() => other.out().includes(`Resolved: IO thread stopped on server2:${MASTER + 1}`), 20_000);
    expect(alerted(other, `server2:${MASTER + 1}`)).toBe(false);
    const open = await f.ctx.store!.incidents.listOpen();
    expect(open.map((i) => `${i.host}:${i.kind}`)).toEqual(['server3:io_stopped']);
  });
});
