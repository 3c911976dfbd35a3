/**
 * /replica install when a host's worker dies half-way: gearmand hands the
 * job to the worker that comes back, which first removes what the dead one
 * left half-made (its server included), so the install ends as if nothing
 * had happened: three servers, replicating, nothing else left over.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { until } from '../helpers/wait.js';

/** Pids of every server started from a my.cnf under `root`, as /proc shows them. */
function serversUnder(root: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(`--defaults-file=${root}/`))) pids.push(Number(pid));
    } catch {
      // gone already
    }
  }
  return pids;
}

describe('an install whose worker is killed half-way', () => {
  let f: Fleet;

  beforeAll(async () => {
    f = await startFleet();
  });

  afterAll(async () => {
    await f?.stop();
  });

  it('completes once the worker is back, after it removed the half-made sandbox and its server', async () => {
    const half = join(f.root, 'server2', 'demo');
    const install = f.run('/replica install demo master=server1 slaves=server2,server3 port=24700');
    // The replica's sandbox is there but not finished (sandbox.json is written last).
    await until(() => existsSync(join(half, 'my.cnf')), 30_000, 10);
    expect(existsSync(join(half, 'sandbox.json'))).toBe(false);
    const restarted = await f.restartWorker('server2');
    const r = await install;
    expect(r.outcome.status, r.text).toBe('ok');
    expect(r.text).toMatch(/cluster demo ready/);
    expect(restarted.logs()).toMatch(/"event":"sandbox_half_made_removed"/);
    // One server per node: the dead worker's half-made server was stopped, not left running beside the new one.
    expect(serversUnder(f.root)).toHaveLength(3);
    const probe = createReplicationProbe({ credentials: { user: 'msandbox', password: 'msandbox' }, logger: createSilentLogger() });
    try {
      for (const port of [24701, 24702]) expect(await probe.status({ address: '127.0.0.1', port })).toMatchObject({ reachable: true, ioRunning: 'Yes', sqlRunning: 'Yes' });
    } finally {
      await probe.close();
    }
    const removed = await f.run('/replica remove demo', { yes: true });
    expect(removed.outcome.status, removed.text).toBe('ok');
    await until(() => serversUnder(f.root).length === 0, 30_000);
    for (const h of ['server1', 'server2', 'server3']) expect(readdirSync(join(f.root, h)).filter((e) => !e.startsWith('.'))).toEqual([]);
  });
});
