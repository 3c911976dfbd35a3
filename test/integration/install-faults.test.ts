/**
 * /replica install when a host's worker dies half-way: gearmand hands the
 * job to the worker that comes back, which first removes what the dead one
 * left half-made (its server included), so the install ends as if nothing
 * had happened: three servers, replicating, nothing else left over. And when
 * the master cannot start, the replicas building beside it are stopped at
 * once instead of waiting for it, and nothing is left anywhere. And when
 * the bot itself dies half-way, the cluster it was building stays known (it
 * is recorded as installing before anything is built) and /replica remove
 * from another bot stops what is left and removes it.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import { createReplicationProbe } from '../../src/mysql/replication.js';
import { findBuilds } from '../../src/worker/sandbox/builds.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { freePortRange } from '../helpers/gearmand.js';
import { until } from '../helpers/wait.js';
import { gearopsCommandArgs } from '../../src/package-info.js';

/** Pids of every server started from a my.cnf under `root`, as /proc shows them. */
function serversUnder(root: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (
        readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .some((a) => a.startsWith(`--defaults-file=${root}/`))
      )
        pids.push(Number(pid));
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
    const P = await freePortRange(3);
    const install = f.run(`/replica install demo master=server1 slaves=server2,server3 port=${P}`);
    // The replica's sandbox is there but not finished (sandbox.json is written last).
    await until(() => existsSync(join(half, 'my.cnf')), 30_000, { every: 10 });
    expect(existsSync(join(half, 'sandbox.json'))).toBe(false);
    const restarted = await f.restartWorker('server2');
    const r = await install;
    expect(r.outcome.status, r.text).toBe('ok');
    expect(r.text).toMatch(/cluster demo ready/);
    expect(restarted.logs()).toMatch(/"event":"sandbox_half_made_removed"/);
    // One server per node: the dead worker's half-made server was stopped, not left running beside the new one.
    expect(serversUnder(f.root)).toHaveLength(3);
    const probe = createReplicationProbe({
      credentials: { user: 'msandbox', password: 'msandbox' },
      logger: createSilentLogger(),
    });
    try {
      for (const port of [P + 1, P + 2])
        expect(await probe.status({ address: '127.0.0.1', port })).toMatchObject({
          reachable: true,
          ioRunning: 'Yes',
          sqlRunning: 'Yes',
        });
    } finally {
      await probe.close();
    }
    const removed = await f.run('/replica remove demo', { yes: true });
    expect(removed.outcome.status, removed.text).toBe('ok');
    await until(() => serversUnder(f.root).length === 0, 30_000);
    for (const h of ['server1', 'server2', 'server3'])
      expect(readdirSync(join(f.root, h)).filter((e) => !e.startsWith('.'))).toEqual([]);
  });
});

describe('an install whose master cannot start', () => {
  let f: Fleet;
  let bins: string;

  beforeAll(async () => {
    // server1 gets a build of the system's version (so it is the one picked there) whose server, bin/mariadbd,
    // exits at once; its install tool finds a working sbin/mariadbd, so the data directory is made and the
    // master fails half-way, when its server first runs (to lock the template's accounts), after every check
    // passed.
    const version = (await findBuilds()).builds[0]!.version;
    bins = mkdtempSync(join(tmpdir(), 'gearops-broken-build-'));
    const top = join(bins, version);
    for (const d of ['bin', 'sbin', 'scripts', 'share', 'lib/mysql']) mkdirSync(join(top, d), { recursive: true });
    symlinkSync('/usr/sbin/mariadbd', join(top, 'sbin', 'mariadbd'));
    writeFileSync(
      join(top, 'bin', 'mariadbd'),
      '#!/bin/sh\n[ "$1" = --version ] && exec /usr/sbin/mariadbd --version\necho "[ERROR] this build is broken on purpose" >&2\nexit 1\n',
    );
    chmodSync(join(top, 'bin', 'mariadbd'), 0o755);
    for (const tool of ['mariadb', 'my_print_defaults', 'resolveip'])
      symlinkSync(join('/usr/bin', tool), join(top, 'bin', tool));
    symlinkSync('/usr/bin/mariadb-install-db', join(top, 'scripts', 'mariadb-install-db'));
    symlinkSync('/usr/share/mysql', join(top, 'share', 'mysql'));
    symlinkSync('/usr/lib/mysql/plugin', join(top, 'lib', 'mysql', 'plugin'));
    f = await startFleet({ workerArgs: { server1: ['--binaries-dir', bins] } });
  });

  afterAll(async () => {
    await f?.stop();
    if (bins) rmSync(bins, { recursive: true, force: true });
  });

  it('stops the replicas at once, says which node failed and why, and leaves nothing behind', async () => {
    const P = await freePortRange(3);
    const r = await f.run(`/replica install demo master=server1 slaves=server2,server3 port=${P}`);
    expect(r.outcome.status, r.text).toBe('failed');
    const last =
      r.text
        .split('\n')
        .filter((l) => l.includes('failed'))
        .at(-1) ?? '';
    expect(last).toMatch(
      /^✗ failed: server1: preparing a data directory with mariadbd failed: \[ERROR\] this build is broken on purpose\. Removed every node that was made; nothing is left behind\.$/,
    );
    expect(r.text).toMatch(new RegExp(`replica +server2:${P + 1} +✗ stopped: another node failed`));
    expect(r.text).toMatch(new RegExp(`replica +server3:${P + 2} +✗ stopped: another node failed`));
    expect(await f.ctx.store!.clusters.get('demo')).toBeNull();
    await until(() => serversUnder(f.root).length === 0, 30_000);
    for (const h of ['server1', 'server2', 'server3'])
      expect(readdirSync(join(f.root, h)).filter((e) => !e.startsWith('.'))).toEqual([]);
    // A replica waits up to 60 s for its master: each was stopped while it waited (the cancel found its install
    // running), not left to run out its wait.
    for (const h of ['server2', 'server3'])
      expect(f.workers.get(h)!.logs()).toMatch(/"event":"sandbox_install_cancelled"[^\n]*"running":true/);
  });
});

describe('an install whose bot dies half-way', () => {
  let f: Fleet;

  beforeAll(async () => {
    f = await startFleet();
  });

  afterAll(async () => {
    await f?.stop();
  });

  it('stays listed as installing, refuses a second install of that name, and /replica remove leaves nothing', async () => {
    const P = await freePortRange(3);
    // Another bot process (a console) starts the install and is killed while the workers are building.
    const other = spawn(
      process.execPath,
      [
        ...gearopsCommandArgs(),
        'console',
        '--user',
        'U9',
        '-e',
        `/replica install crash master=server1 slaves=server2,server3 port=${P}`,
      ],
      {
        env: { ...process.env, ...f.env, GEAROPS_LOG_LEVEL: 'silent', GEAROPS_ALERT_CHANNEL: '' },
        stdio: 'ignore',
      },
    );
    try {
      await until(() => existsSync(join(f.root, 'server2', 'crash', 'my.cnf')), 30_000, { every: 10 });
    } finally {
      const gone = new Promise((r) => other.once('exit', r));
      other.kill('SIGKILL');
      await gone;
    }
    const record = await f.ctx.store!.clusters.get('crash');
    expect(record).toMatchObject({ state: 'installing', createdBy: 'U9' });
    expect(record?.nodes.map((n) => `${n.host}:${n.port}`)).toEqual([
      `server1:${P}`,
      `server2:${P + 1}`,
      `server3:${P + 2}`,
    ]);

    const listed = await f.run('/replica list');
    expect(listed.text).toMatch(/crash +installing \(started [\d.]+ (ms|s) ago\)/);
    const again = await f.run(
      `/replica install crash master=server1 slaves=server2,server3 port=${await freePortRange(3)}`,
    );
    expect(again.outcome.status).toBe('refused');
    expect(again.text).toMatch(
      /cluster crash is being installed \(started .* ago\); if that install was interrupted, \/replica remove crash stops what is left of it/,
    );
    expect((await f.run('/replica status crash')).text).toMatch(
      /\*crash\* — being installed \(started .* by <@U9>\); if that install was interrupted/,
    );

    const removed = await f.run('/replica remove crash', { yes: true });
    expect(removed.outcome.status, removed.text).toBe('ok');
    expect(removed.text).toMatch(/install did not finish \(started .* by <@U9>/);
    expect(await f.ctx.store!.clusters.get('crash')).toBeNull();
    await until(() => serversUnder(f.root).length === 0, 30_000);
    await until(() => ['server1', 'server2', 'server3'].every((h) => !existsSync(join(f.root, h, 'crash'))), 30_000);
    // The name is free again.
    const fresh = await f.run(`/replica install crash master=server1 slaves=server2 port=${await freePortRange(2)}`);
    expect(fresh.outcome.status, fresh.text).toBe('ok');
    expect(await f.ctx.store!.clusters.get('crash')).toMatchObject({ state: 'ready' });
    expect((await f.run('/replica remove crash', { yes: true })).outcome.status).toBe('ok');
  });
});
