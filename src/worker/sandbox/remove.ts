/** `sandbox.remove`: stops a sandbox's server and deletes its folder and kept accounts. */
import { existsSync } from 'node:fs';
import { ErrorCode, GearopsError } from '../../errors.js';
import { defineCapability } from '../capability.js';
import type { SandboxHost } from './host.js';

/** Idempotent: removing what is already gone is NotFound, and changes nothing. */
export function createRemoveCapability(h: SandboxHost) {
  const { opts, dirs } = h;
  return defineCapability('sandbox.remove', async (ctx) => {
    const { name } = ctx.args;
    // An install of this name told to stop (sandbox.cancel) stops at its next step and removes what it made: until
    // it has, it may still be writing there (copying its data directory), and removing the folder under it fails
    // (ENOTEMPTY). Wait for it; then there is usually nothing left to remove.
    const stopping = h.installs.running.get(name);
    if (stopping?.stop.signal.aborted) await stopping.ended;
    if (!existsSync(dirs.dirOf(name)))
      throw new GearopsError(ErrorCode.NotFound, `${opts.host}: no sandbox named ${name}`, {
        data: { host: opts.host },
      });
    await dirs.stopServer(name);
    dirs.removeDir(name);
    h.kept?.remove(name);
    h.log.info({ event: 'sandbox_removed', name }, 'sandbox removed');
    return { name, removed: true as const };
  });
}
