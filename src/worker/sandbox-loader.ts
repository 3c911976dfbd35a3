/** Loads the sandbox capabilities when this build has them and the host has a usable server build. */
import type { Capability } from './capability.js';
import type { SandboxOptions } from './sandbox/host.js';

export type { SandboxOptions };

/** The sandbox capabilities for this host, or none with the reasons. */
export async function loadSandboxCapabilities(
  opts: SandboxOptions,
): Promise<{ capabilities: Capability[]; problems: string[] }> {
  try {
    // A variable specifier: builds without the sandbox module still type-check and run.
    const spec = './sandbox/index.js';
    const mod = (await import(spec)) as {
      createSandboxCapabilities(o: SandboxOptions): Promise<{ capabilities: Capability[]; problems: string[] }>;
    };
    return await mod.createSandboxCapabilities(opts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND') return { capabilities: [], problems: ['this build has no sandbox support'] };
    return { capabilities: [], problems: [e.message] };
  }
}
