/** `sandbox.check`: what this host has for sandboxes: server builds, the given ports, free disk, its sandboxes. */
import { statfsSync } from 'node:fs';
import { defineCapability } from '../capability.js';
import type { SandboxHost } from './host.js';
import { portFree } from './ports.js';

/** Read-only, and safe to run twice. */
export function createCheckCapability(h: SandboxHost) {
  const { opts, builds, dirs, problems } = h;
  return defineCapability('sandbox.check', async (ctx) => {
    const ports = ctx.args.ports ?? [];
    const sandboxes = dirs.records().map((r) => ({
      name: r.name,
      version: r.version,
      port: r.port,
      running: dirs.running(r.name),
      role: r.role,
      cluster: r.cluster,
    }));
    const fs = statfsSync(opts.sandboxDir);
    return {
      host: opts.host,
      address: opts.advertise,
      versions: builds.map((b) => ({ version: b.version, flavour: b.flavour })),
      ports: await Promise.all(ports.map(async (port) => ({ port, ...(await portFree(opts.advertise, port)) }))),
      freeDiskBytes: Number(fs.bavail) * Number(fs.bsize),
      sandboxes,
      problems: problems.length ? problems : undefined,
    };
  });
}
