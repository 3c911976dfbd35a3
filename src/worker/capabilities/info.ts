/**
 * The `gearops.info` capability: the worker's version, capabilities and policy digest, so that `/run hosts`
 * can show which hosts run another version than the bot, or another policy. Read-only and safe to run twice.
 */
import { defineCapability, type Capability } from '../capability.js';
import type { WorkerInfo } from '../../core/worker-info.js';
import { INFO_CAPABILITY } from '../../core/worker-info.js';

/** Creates the info capability; `capabilities` and `policyDigest` are read at each job (a reload changes them). */
export function createInfoCapability(deps: {
  version: string;
  capabilities: () => string[];
  policyDigest: () => string;
}): Capability<Record<string, never>, WorkerInfo> {
  return defineCapability(INFO_CAPABILITY, async () => ({
    version: deps.version,
    capabilities: [...deps.capabilities()].sort(),
    policyDigest: deps.policyDigest(),
  }));
}
