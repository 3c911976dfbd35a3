/**
 * `sandbox.install`: one node of a cluster (master or replica) in its own folder. Its args fit the contract's
 * schema before this runs; here come the checks that need the host (cancelled token, sealed passwords, build,
 * name, port), then the build itself (install-steps.ts). Whatever fails removes what was made.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GearopsError } from '../../errors.js';
import type { SandboxInstallArgs, SandboxInstallValue } from '../../core/capabilities.js';
import { defineCapability, type CapabilityContext } from '../capability.js';
import { pickBuild } from './builds.js';
import type { SandboxRecord } from './datadir.js';
import { openCredentials, secretsOf, type SandboxHost } from './host.js';
import { buildSandbox, type InstallJob } from './install-steps.js';
import { portFree } from './ports.js';

/**
 * Safe to run twice: gearmand re-sends a job whose worker disconnected, so a finished sandbox with the same
 * parameters answers "already installed" with its description; different parameters are a conflict.
 */
export function createInstallCapability(h: SandboxHost) {
  const { opts, builds, dirs } = h;
  return defineCapability('sandbox.install', async (ctx): Promise<SandboxInstallValue> => {
    const a = ctx.args;
    if (a.token && h.installs.isCancelled(a.token))
      throw new GearopsError(
        ErrorCode.Cancelled,
        `${opts.host}: install of ${a.name} not started: it was cancelled (another node of the cluster failed)`,
        { data: { host: opts.host, step: 'check' } },
      );
    const creds = openCredentials(h, ctx.job.id, a.secrets);
    const b = pickBuild(builds, a.version);
    if (!b)
      throw new GearopsError(
        ErrorCode.Sandbox,
        `version ${a.version} is not available on ${opts.host} (has: ${builds.map((x) => x.version).join(', ')})`,
        { data: { host: opts.host, step: 'check' } },
      );
    const dir = dirs.dirOf(a.name);
    const record: SandboxRecord = {
      name: a.name,
      cluster: a.cluster,
      role: a.role,
      version: b.version,
      flavour: b.flavour,
      address: opts.advertise,
      port: a.port,
      serverId: a.serverId,
      master: a.role === 'replica' ? { address: a.master!.address, port: a.master!.port } : null,
    };
    const value = { ...record, socket: join(dir, 'mysqld.sock'), dataDir: join(dir, 'data'), durationMs: 0 };
    if (existsSync(dir)) {
      const existing = dirs.readRecord(a.name);
      if (existing && JSON.stringify(existing) === JSON.stringify(record) && dirs.running(a.name))
        return { ...value, alreadyInstalled: true };
      throw new GearopsError(
        ErrorCode.Conflict,
        `${opts.host}: a sandbox named ${a.name} already exists${existing ? ` (port ${existing.port}, ${existing.role})` : ''}`,
        { data: { host: opts.host, step: 'check' } },
      );
    }
    const free = await portFree(opts.advertise, a.port);
    if (!free.free)
      throw new GearopsError(
        ErrorCode.Conflict,
        `${opts.host}: port ${a.port} on ${opts.advertise} is ${free.reason ?? 'taken'}`,
        {
          data: { host: opts.host, step: 'check', port: a.port },
        },
      );
    const started = Date.now();
    const stop = new AbortController();
    let end = () => {};
    const ended = new Promise<void>((r) => (end = r));
    h.installs.running.set(a.name, { token: a.token, stop, ended });
    const job = installJob(h, ctx, a, b, stop);
    mkdirSync(dir, { recursive: true });
    try {
      await buildSandbox(job, creds, record);
      return { ...value, durationMs: Date.now() - started };
    } catch (err) {
      job.step('cleanup', 'info', 'removing what was made');
      await dirs.stopServer(a.name).catch(() => undefined);
      dirs.removeDir(a.name);
      throw installError(h, err, secretsOf(creds));
    } finally {
      if (h.installs.running.get(a.name)?.stop === stop) h.installs.running.delete(a.name);
      end();
    }
  });
}

function installJob(
  h: SandboxHost,
  ctx: CapabilityContext<SandboxInstallArgs>,
  a: SandboxInstallArgs,
  b: InstallJob['b'],
  stop: AbortController,
): InstallJob {
  const { host } = h.opts;
  const dir = h.dirs.dirOf(a.name);
  return {
    h,
    a,
    b,
    dir,
    sock: join(dir, 'mysqld.sock'),
    rootCnf: join(dir, 'client.cnf'),
    step: (s, state, detail) => ctx.emit({ type: 'step', step: s, state, detail, node: `${host}:${a.port}` }),
    // Throws once sandbox.cancel asked this install to stop, or the worker is shutting down; the caller removes
    // what was made.
    goOn() {
      if (stop.signal.aborted)
        throw new GearopsError(
          ErrorCode.Cancelled,
          `${host}: install of ${a.name} stopped: another node of the cluster failed`,
          {
            data: { host, step: 'cancel' },
          },
        );
      if (ctx.signal.aborted)
        throw new GearopsError(
          ErrorCode.Cancelled,
          `${host}: the worker is shutting down; install of ${a.name} stopped`,
          {
            data: { host, step: 'cancel' },
          },
        );
    },
  };
}

/** A failure as the bot sees it: ours as they are; anything else as its one telling line, passwords masked. */
function installError(h: SandboxHost, err: unknown, secrets: string[]): GearopsError {
  if (err instanceof GearopsError) return err;
  const e = err as { stderr?: string; message: string };
  const lines = (e.stderr || e.message).split('\n').filter((l) => l.trim());
  const line =
    lines.find((l) => /ERROR/i.test(l)) ?? lines.find((l) => !/\[(Warning|Note)\]/.test(l)) ?? lines[0] ?? 'failed';
  return new GearopsError(
    ErrorCode.Sandbox,
    `${h.opts.host}: ${secrets.reduce((l, p) => l.replaceAll(p, '***'), line)}`,
    {
      data: { host: h.opts.host, step: 'install' },
    },
  );
}
