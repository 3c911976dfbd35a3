/**
 * Group markers: `gearops worker --groups replicas,ams` registers
 * `group.replicas@<host>` and `group.ams@<host>` next to its capabilities, so
 * the bot learns the groups from gearmand's admin `status` as it learns hosts.
 * A marker runs nothing: a job sent to it is refused.
 */
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Capability } from '../capability.js';
import { GROUP_CAPABILITY_PREFIX } from '../../core/targets.js';

/** The marker capability for group `name`. */
export function groupMarker(name: string): Capability {
  return {
    name: `${GROUP_CAPABILITY_PREFIX}${name}`,
    async handler() {
      throw new GearopsError(
        ErrorCode.JobRejected,
        `${GROUP_CAPABILITY_PREFIX}${name} only says this host is in group @${name}; it runs nothing`,
      );
    },
  };
}
