/**
 * What `/run hosts` shows about each worker's version: asked through `gearops.info@<host>` (signed, and
 * checked by the worker's policy like any job), compared with the bot's own version.
 */
import { isGearopsError } from '../src/errors.js';
import type { Dispatcher, HostInfo, Requester } from '../src/core/ports/dispatcher.js';
import { INFO_CAPABILITY } from '../src/core/worker-info.js';

/** A host's version as the table shows it, and whether it differs from the bot's. */
export interface HostVersion {
  host: string;
  /** The version, or why it is not known (`?` and a reason). */
  label: string;
  mismatch: boolean;
}

/** Asks every host that registers gearops.info, at once, within `timeoutMs`; never throws. */
export async function hostVersions(
  deps: { dispatcher: Dispatcher; botVersion: string },
  hosts: HostInfo[],
  requester: Requester,
  timeoutMs = 5000,
): Promise<HostVersion[]> {
  return Promise.all(
    hosts.map(async (h): Promise<HostVersion> => {
      if (!h.capabilities.includes(INFO_CAPABILITY)) return { host: h.host, label: '? (older worker)', mismatch: true };
      try {
        const r = await deps.dispatcher.submit({
          capability: INFO_CAPABILITY,
          host: h.host,
          args: {},
          requester,
          timeoutMs,
        });
        if (!r.ok || !r.value) return { host: h.host, label: `? (${r.error?.code ?? 'no answer'})`, mismatch: false };
        const mismatch = r.value.version !== deps.botVersion;
        return { host: h.host, label: mismatch ? `${r.value.version} ⚠` : r.value.version, mismatch };
      } catch (err) {
        return { host: h.host, label: `? (${isGearopsError(err) ? err.code : 'error'})`, mismatch: false };
      }
    }),
  );
}

/** The line under the table when some workers run another version than the bot (null when none do). */
export function versionMismatchNote(versions: HostVersion[], botVersion: string): string | null {
  const off = versions.filter((v) => v.mismatch);
  if (!off.length) return null;
  return `⚠ version mismatch: the bot runs ${botVersion}; ${off.map((v) => `${v.host} ${v.label.replace(' ⚠', '')}`).join(', ')}`;
}
