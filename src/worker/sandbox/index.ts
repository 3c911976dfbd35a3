/**
 * Replication sandboxes on this host (the MySQL Sandbox idea): check, install (master or replica), remove and
 * cancel self-contained server instances, each in `<sandboxDir>/<name>/` with its data, my.cnf, socket, pid and a
 * sandbox.json. One module per capability over shared process (process.ts), port (ports.ts) and data-directory
 * (datadir.ts) helpers; what they share on one host is in host.ts.
 */
import { mkdirSync } from 'node:fs';
import { ADDR_RE } from '../../core/capabilities.js';
import type { Capability } from '../capability.js';
import { findBuilds, type ServerBuild } from './builds.js';
import { removeHalfMade } from './datadir.js';
import { createSandboxHost, type SandboxOptions } from './host.js';
import { createCheckCapability } from './check.js';
import { createInstallCapability } from './install.js';
import { createRemoveCapability } from './remove.js';
import { createCancelCapability } from './cancel.js';

export type { SandboxOptions } from './host.js';
export { PASSWORDLESS_ACCOUNTS_SQL } from './install-steps.js';
export { pidAlive, stopAllSandboxes } from './process.js';

/** Builds the sandbox capabilities; none (with the reasons) when this host has no usable server build. */
export async function createSandboxCapabilities(
  opts: SandboxOptions,
): Promise<{ capabilities: Capability[]; versions: ServerBuild[]; problems: string[] }> {
  const { builds, problems } = await findBuilds(opts.binariesDir);
  if (builds.length === 0) return { capabilities: [], versions: [], problems };
  if (!ADDR_RE.test(opts.advertise))
    return { capabilities: [], versions: builds, problems: [`--advertise ${opts.advertise} is not an address`] };
  mkdirSync(opts.sandboxDir, { recursive: true });
  const h = createSandboxHost(opts, builds, problems);
  await removeHalfMade(h.dirs, h.log);
  const capabilities = [
    createCheckCapability(h),
    createInstallCapability(h),
    createRemoveCapability(h),
    createCancelCapability(h),
  ] as Capability[];
  return { capabilities, versions: builds, problems: [] };
}
