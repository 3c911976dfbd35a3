/**
 * The sandbox capabilities on this host, without Gearman: data-directory
 * templates, what builds are accepted, and that no password ever stands in a
 * process's argv (which every local user can read in /proc).
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/log.js';
import type { Capability } from '../../src/worker/capability.js';
import type { JobEvent } from '../../src/core/payload.js';
import { createSandboxCapabilities, stopAllSandboxes } from '../../src/worker/sandbox/index.js';
import { findBuilds } from '../../src/worker/sandbox/builds.js';
import { freePort } from '../../src/launch/free-port.js';
import { until } from '../helpers/wait.js';
import { seal } from '../../src/core/sealed.js';
import { DEMO_CREDENTIALS, type ClusterCredentials } from '../../src/core/ports/credentials.js';
import { randomUUID } from 'node:crypto';

const root = mkdtempSync(join(tmpdir(), 'gearops-sandbox-'));
const PASSWORD = 'Secret_pw.4711';

type StepEvent = Extract<JobEvent, { type: 'step' }>;

const SECRET = 'sandbox-test-job-secret-0123';

/** A job context as the daemon gives it; installs carry `creds` sealed for this job, as the bot sends them. */
function ctx(raw: unknown, events: StepEvent[] = [], creds: ClusterCredentials | null = DEMO_CREDENTIALS) {
  const id = `t-${randomUUID()}`;
  const args = creds ? { ...(raw as object), secrets: seal(SECRET, id, JSON.stringify(creds)) } : raw;
  return {
    job: {
      v: 1 as const,
      kind: 'job' as const,
      id,
      ts: Date.now(),
      host: 'h',
      capability: 'x',
      requester: { userId: 'U', channelId: 'C', roles: [] },
      args,
    },
    args,
    emit: (e: JobEvent) => void (e.type === 'step' && events.push(e)),
    signal: new AbortController().signal,
    logger: createSilentLogger(),
  };
}

/** Every process's argv on this machine, as /proc shows it to any user. */
function allCommandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // gone already
    }
  }
  return out;
}

describe('sandboxes on one host', () => {
  afterAll(async () => {
    await stopAllSandboxes(root);
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  it('makes one data-directory template per version, even for installs at once, and copies it afterwards', async () => {
    const dir = join(root, 'h1');
    const { capabilities } = await createSandboxCapabilities({
      host: 'h1',
      sandboxDir: dir,
      advertise: '127.0.0.1',
      jobSecret: SECRET,
      logger: createSilentLogger(),
    });
    const cap = (n: string) => capabilities.find((c) => c.name === n) as Capability;
    const ev: StepEvent[][] = [[], [], []];
    await Promise.all(
      ['a', 'b'].map(async (name, i) =>
        cap('sandbox.install').handler(
          ctx({ name, cluster: name, port: await freePort(), serverId: i + 1, role: 'master' }, ev[i]),
        ),
      ),
    );
    const templates = readdirSync(join(dir, '.templates'));
    expect(templates).toHaveLength(1);
    expect(existsSync(join(dir, '.templates', templates[0]!, 'ready'))).toBe(true);
    await cap('sandbox.install').handler(
      ctx({ name: 'c', cluster: 'c', port: await freePort(), serverId: 3, role: 'master' }, ev[2]),
    );
    const initDetail = (e: StepEvent[]) => e.find((x) => x.step === 'init' && x.state === 'ok')?.detail ?? '';
    expect(initDetail(ev[0]!)).toMatch(/initialised/);
    expect(initDetail(ev[1]!)).toMatch(/initialised/);
    expect(initDetail(ev[2]!)).toMatch(/copied from this version's template/);
    // Three servers from one template are three independent servers.
    const check = (await cap('sandbox.check').handler(ctx({}))) as {
      sandboxes: Array<{ name: string; running: boolean }>;
    };
    expect(check.sandboxes.map((s) => [s.name, s.running]).sort()).toEqual([
      ['a', true],
      ['b', true],
      ['c', true],
    ]);
    for (const n of ['a', 'b', 'c']) await cap('sandbox.remove').handler(ctx({ name: n }));
    expect(readdirSync(dir)).toEqual(['.templates']);
  });

  it('keeps passwords out of every process argv while it installs a master and a replica', async () => {
    const caps = await Promise.all(
      ['m', 'r'].map((h) =>
        createSandboxCapabilities({
          host: h,
          sandboxDir: join(root, h),
          advertise: '127.0.0.1',
          jobSecret: SECRET,
          stateDir: join(root, `${h}.state`),
          logger: createSilentLogger(),
        }),
      ),
    );
    const install = (i: number) => caps[i]!.capabilities.find((c) => c.name === 'sandbox.install') as Capability;
    const creds: ClusterCredentials = {
      admin: { user: 'admin_u', password: PASSWORD },
      replication: { user: 'repl_u', password: `${PASSWORD}r` },
      readOnly: { user: 'ro_u', password: `${PASSWORD}o` },
    };
    const seen = { clients: 0, leaks: [] as string[] };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const line of allCommandLines()) {
          if (/\bmariadb(d)?\b|\bmysql\b/.test(line) && /defaults-file|--no-defaults/.test(line)) seen.clients++;
          if (line.includes(PASSWORD)) seen.leaks.push(line);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const [mp, rp] = [await freePort(), await freePort()];
    // Stands in for what a worker's environment holds (its job secret): the servers must not inherit it.
    const canary = `canary-${randomUUID()}`;
    process.env.GEAROPS_JOB_SECRET_CANARY = canary;
    try {
      await Promise.all([
        install(0).handler(ctx({ name: 'pw', cluster: 'pw', port: mp, serverId: 1, role: 'master' }, [], creds)),
        install(1).handler(
          ctx(
            {
              name: 'pw',
              cluster: 'pw',
              port: rp,
              serverId: 2,
              role: 'replica',
              master: { address: '127.0.0.1', port: mp },
            },
            [],
            creds,
          ),
        ),
      ]);
    } finally {
      delete process.env.GEAROPS_JOB_SECRET_CANARY;
      sampling = false;
      await sampler;
    }
    // The sampler did see the install's processes (so it could have seen a password), and never a password.
    expect(seen.clients).toBeGreaterThan(0);
    expect(seen.leaks).toEqual([]);
    // The client option file holds the sandbox's own root password (not the admin's), for its owner only.
    expect(readFileSync(join(root, 'r', 'pw', 'client.cnf'), 'utf8')).toMatch(/^user=root\npassword=\S{20,}$/m);
    expect(statSync(join(root, 'r', 'pw', 'client.cnf')).mode & 0o077).toBe(0);
    expect(existsSync(join(root, 'r', 'pw', 'master.cnf'))).toBe(false);
    // The worker keeps the cluster's accounts for later jobs in its state dir, for its owner only.
    const kept = join(root, 'r.state', 'sandboxes', 'clusters', 'pw.json');
    expect(JSON.parse(readFileSync(kept, 'utf8'))).toEqual(creds);
    expect(statSync(kept).mode & 0o077).toBe(0);
    // The servers run with a minimal environment: nothing of the worker's (job secret, store URL, tokens).
    for (const h of ['m', 'r']) {
      const pid = readFileSync(join(root, h, 'pw', 'mysqld.pid'), 'utf8').trim();
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      expect(env.map((e) => e.split('=')[0]).sort()).toEqual(['LANG', 'LC_ALL', 'PATH']);
      expect(env.join('\n')).not.toContain(canary);
    }
  });

  it('installs only with passwords sealed for that very job, and keeps the demo ones off other addresses', async () => {
    const make = (advertise: string) =>
      createSandboxCapabilities({
        host: 'hseal',
        sandboxDir: join(root, 'hseal'),
        advertise,
        jobSecret: SECRET,
        logger: createSilentLogger(),
      });
    const install = async (advertise: string) =>
      (await make(advertise)).capabilities.find((c) => c.name === 'sandbox.install') as Capability;
    const args = { name: 'sl', cluster: 'sl', port: await freePort(), serverId: 1, role: 'master' };
    const local = await install('127.0.0.1');
    await expect(local.handler(ctx(args, [], null))).rejects.toThrow(/carries no passwords/);
    // Sealed for another job (a copy from a captured install): it does not open.
    const other = ctx(args);
    const replayed = { ...ctx(args), args: other.args };
    await expect(local.handler(replayed)).rejects.toThrow(/sealed passwords do not open/);
    await expect((await install('10.99.0.1')).handler(ctx(args))).rejects.toThrow(
      /refusing the well-known demo passwords on 10\.99\.0\.1/,
    );
    expect(existsSync(join(root, 'hseal', 'sl'))).toBe(false);
  });

  it('never lets a client on the network log in without a password during an install, nor after it', async () => {
    const dir = join(root, 'hwin');
    const { capabilities } = await createSandboxCapabilities({
      host: 'hwin',
      sandboxDir: dir,
      advertise: '127.0.0.1',
      jobSecret: SECRET,
      logger: createSilentLogger(),
    });
    const install = capabilities.find((c) => c.name === 'sandbox.install') as Capability;
    const port = await freePort();
    // What an attacker on the network tries, as fast as it can, from before the install until after it.
    const tries = [
      { user: 'root', password: '' },
      { user: 'root', password: undefined },
      { user: '', password: '' },
      { user: 'mariadb.sys', password: '' },
    ];
    const seen = { attempts: 0, refusedLogins: 0, loggedIn: [] as string[] };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        for (const t of tries) {
          seen.attempts++;
          try {
            const c = await mysql.createConnection({ host: '127.0.0.1', port, ...t, connectTimeout: 1000 });
            seen.loggedIn.push(t.user || '(anonymous)');
            await c.end().catch(() => undefined);
          } catch (err) {
            // A server answered and refused the login (not "nothing listens"): the poller saw it listening.
            if ((err as { code?: string }).code === 'ER_ACCESS_DENIED_ERROR') seen.refusedLogins++;
          }
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      await install.handler(ctx({ name: 'win', cluster: 'win', port, serverId: 1, role: 'master' }));
      // Keep trying a little while it runs after "ready", until it has refused some logins.
      await until(() => seen.refusedLogins >= tries.length * 3);
    } finally {
      polling = false;
      await poller;
    }
    expect(seen.loggedIn).toEqual([]);
    expect(seen.attempts).toBeGreaterThan(seen.refusedLogins);
    // No account is left without a password (checked as root over the socket, through the worker's client.cnf).
    const open = await new Promise<string>((resolve, reject) => {
      const c = spawn('mariadb', [`--defaults-file=${join(dir, 'win', 'client.cnf')}`, '-N', '-B']);
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`mariadb exited ${code}`))));
      c.stdin.end(
        [
          "SELECT CONCAT(u.User, '@', u.Host) FROM mysql.user u WHERE u.Password = '' AND u.authentication_string = ''",
          "AND u.is_role = 'N' AND NOT EXISTS (SELECT 1 FROM mysql.global_priv g WHERE g.User = u.User",
          "AND g.Host = u.Host AND JSON_EXTRACT(g.Priv, '$.account_locked') = true);",
        ].join(' '),
      );
    });
    expect(open).toBe('');
    // The template it was copied from holds none either.
    const tpl = readdirSync(join(dir, '.templates'))[0]!;
    expect(statSync(join(dir, '.templates', tpl, 'root.pw')).mode & 0o077).toBe(0);
    await (capabilities.find((c) => c.name === 'sandbox.remove') as Capability).handler(ctx({ name: 'win' }));
  });

  it('removes what an interrupted install left half-made when the worker starts, and nothing else', async () => {
    const dir = join(root, 'crashed');
    const server = (name: string) => {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'my.cnf'), '[mysqld]\n');
      // Stands in for the sandbox's mariadbd: a process started with its my.cnf.
      return spawn(
        process.execPath,
        ['-e', 'setTimeout(() => {}, 60000)', '--', `--defaults-file=${join(dir, name, 'my.cnf')}`],
        { stdio: 'ignore' },
      );
    };
    const half = server('half');
    const whole = server('whole');
    writeFileSync(join(dir, 'whole', 'sandbox.json'), '{}');
    mkdirSync(join(dir, '.templates', '10.11.19-x.build-1-ab'), { recursive: true });
    const exited = new Promise((r) => half.once('exit', r));
    try {
      await createSandboxCapabilities({
        host: 'crashed',
        sandboxDir: dir,
        advertise: '127.0.0.1',
        jobSecret: SECRET,
        logger: createSilentLogger(),
      });
      await exited;
      expect(existsSync(join(dir, 'half'))).toBe(false);
      expect(existsSync(join(dir, 'whole', 'sandbox.json'))).toBe(true);
      expect(whole.exitCode).toBeNull();
      expect(readdirSync(join(dir, '.templates'))).toEqual([]);
    } finally {
      half.kill('SIGKILL');
      whole.kill('SIGKILL');
    }
  });

  it('installs from an unpacked tarball under --binaries-dir, running its own server with its folder as basedir', async () => {
    // A tarball's layout (dbdeployer's: one folder per version), made of this machine's MariaDB files, since the
    // only packages here are Debian's. What is under test is the worker's side: finding the folder, preferring
    // it, and running the tools and the server with --basedir so they find their files there.
    const { builds: system } = await findBuilds();
    const version = system[0]!.version;
    const bins = join(root, 'tarballs');
    const top = join(bins, version);
    const link = (target: string, path: string) => {
      mkdirSync(join(path, '..'), { recursive: true });
      symlinkSync(target, path);
    };
    link('/usr/sbin/mariadbd', join(top, 'bin', 'mariadbd'));
    link('/usr/sbin/mariadbd', join(top, 'sbin', 'mariadbd'));
    for (const tool of ['mariadb', 'my_print_defaults', 'resolveip'])
      link(join('/usr/bin', tool), join(top, 'bin', tool));
    link('/usr/bin/mariadb-install-db', join(top, 'scripts', 'mariadb-install-db'));
    link('/usr/share/mysql', join(top, 'share', 'mysql'));
    link('/usr/lib/mysql/plugin', join(top, 'lib', 'mysql', 'plugin'));

    const { builds } = await findBuilds(bins);
    expect(builds.find((b) => b.source === 'tarball')).toMatchObject({
      version,
      basedir: top,
      server: join(top, 'bin', 'mariadbd'),
    });
    const dir = join(root, 'htar');
    const { capabilities } = await createSandboxCapabilities({
      host: 'htar',
      sandboxDir: dir,
      advertise: '127.0.0.1',
      binariesDir: bins,
      jobSecret: SECRET,
      logger: createSilentLogger(),
    });
    const cap = (n: string) => capabilities.find((c) => c.name === n) as Capability;
    const port = await freePort();
    await cap('sandbox.install').handler(
      ctx({ name: 'tar', cluster: 'tar', port, serverId: 1, role: 'master', version }),
    );
    expect(readFileSync(join(dir, 'tar', 'my.cnf'), 'utf8')).toContain(`basedir=${top}\n`);
    const pid = readFileSync(join(dir, 'tar', 'mysqld.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe(join(top, 'bin', 'mariadbd'));
    const basedir = await new Promise<string>((resolve, reject) => {
      const c = spawn('mariadb', [
        `--defaults-file=${join(dir, 'tar', 'client.cnf')}`,
        '-N',
        '-B',
        '-e',
        'SELECT @@basedir',
      ]);
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`mariadb exited ${code}`))));
    });
    expect(basedir.replace(/\/$/, '')).toBe(top);
    await cap('sandbox.remove').handler(ctx({ name: 'tar' }));
    expect(existsSync(join(dir, 'tar'))).toBe(false);
  });

  it('reports a MySQL build with the reason instead of offering it', async () => {
    const bins = join(root, 'binaries');
    const bin = join(bins, '8.0.36', 'bin');
    mkdirSync(bin, { recursive: true });
    for (const [name, out] of [
      ['mysqld', '/x/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)'],
      ['mysql', 'mysql  Ver 8.0.36'],
    ]) {
      writeFileSync(join(bin, name!), `#!/bin/sh\necho '${out}'\n`);
      chmodSync(join(bin, name!), 0o755);
    }
    const { builds, problems } = await findBuilds(bins);
    expect(builds.some((b) => b.version === '8.0.36')).toBe(false);
    expect(problems).toContainEqual(
      expect.stringMatching(/MySQL 8\.0\.36 found, but sandboxes support MariaDB builds only/),
    );
  });
});
