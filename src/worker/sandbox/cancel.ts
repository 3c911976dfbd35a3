/** `sandbox.cancel`: stops the install of a sandbox that belongs to one /replica install (its token). */
import { defineCapability } from '../capability.js';
import type { SandboxHost } from './host.js';

/**
 * Stops the install of `name` that belongs to /replica install `token` (another node of that cluster failed): it
 * removes what it made and fails. An install of that token not started yet never starts. Safe to run twice; an
 * install of another token is never touched.
 */
export function createCancelCapability(h: SandboxHost) {
  return defineCapability('sandbox.cancel', async (ctx) => {
    const { name, token } = ctx.args;
    h.installs.cancel(token);
    const r = h.installs.running.get(name);
    const stopped = !!r && r.token === token && !r.stop.signal.aborted;
    if (stopped) r.stop.abort();
    h.log.info(
      { event: 'sandbox_install_cancelled', name, running: stopped },
      stopped ? 'install stopped on request' : 'cancel noted; no such install running',
    );
    return { name, stopped };
  });
}
