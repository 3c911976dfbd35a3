/**
 * The `gearops.info@<host>` contract shared by the bot and the worker: what a worker says about itself.
 * Small and read-only: no paths, no host details beyond what gearmand's `status` already shows.
 */

/** The capability's name (registered as `gearops.info@<host>`). */
export const INFO_CAPABILITY = 'gearops.info';

/** The policy actions that let a requester ask a worker about itself (any one of them): its own report. */
export const INFO_ACTIONS = ['replica.diagnose'] as const;

/** What `gearops.info` returns. */
export interface WorkerInfo {
  /** The gearops package version the worker runs. */
  version: string;
  /** The capabilities it registered, sorted (gearops.info included). */
  capabilities: string[];
  /** `sha256:` and the first 16 hex digits of the policy file the worker last loaded (changes on SIGHUP). */
  policyDigest: string;
}

/** The digest of a policy file's bytes, as WorkerInfo.policyDigest shows it. */
export function policyDigestOf(sha256Hex: string): string {
  return `sha256:${sha256Hex.slice(0, 16)}`;
}
