/**
 * What the sandbox capabilities of one host share: its options and server builds, its sandboxes' folders, the
 * installs running now (with the /replica install token each belongs to) and the tokens sandbox.cancel was sent
 * for, so that an install whose cancel arrived first never starts.
 */
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { ErrorCode, GearopsError } from '../../errors.js';
import { unseal } from '../../core/sealed.js';
import { isLoopbackAddress, usesDemoPassword, type ClusterCredentials } from '../../core/ports/credentials.js';
import type { ClusterCredentialStore } from '../../core/ports/credentials.js';
import { createFileCredentialStore, isClusterCredentials } from '../../cluster-credentials.js';
import type { ServerBuild } from './builds.js';
import { createTemplates } from './template.js';
import { createSandboxDirs, type SandboxDirs } from './datadir.js';

/** Options of the sandbox capabilities. */
export interface SandboxOptions {
  host: string;
  sandboxDir: string;
  binariesDir?: string;
  advertise: string;
  /** The job secret: installs carry the cluster's passwords sealed with it (src/core/sealed.ts). */
  jobSecret: string;
  /** Where this worker keeps each sandbox's accounts for later jobs (0600 files); none kept when unset. */
  stateDir?: string;
  logger: Logger;
}

const CANCEL_MEMORY_MS = 10 * 60_000;

/** The installs running here, by sandbox name, and the install tokens cancelled lately. */
export interface InstallRegistry {
  /** `ended` resolves once the install is over, what it made removed if it failed or was stopped. */
  running: Map<string, { token?: string; stop: AbortController; ended: Promise<void> }>;
  /** Notes that `token`'s installs stop (remembered 10 minutes). */
  cancel(token: string): void;
  isCancelled(token: string): boolean;
}

function createInstallRegistry(): InstallRegistry {
  const cancelled = new Map<string, number>();
  const forget = (now: number) => {
    for (const [t, until] of cancelled) if (until < now) cancelled.delete(t);
  };
  return {
    running: new Map(),
    cancel(token) {
      const now = Date.now();
      forget(now);
      cancelled.set(token, now + CANCEL_MEMORY_MS);
    },
    isCancelled(token) {
      forget(Date.now());
      return cancelled.has(token);
    },
  };
}

/** One host's sandbox state, shared by check, install, remove and cancel. */
export interface SandboxHost {
  opts: SandboxOptions;
  builds: ServerBuild[];
  /** What finding the builds reported (builds that did not qualify): sandbox.check tells them. */
  problems: string[];
  log: Logger;
  dirs: SandboxDirs;
  templates: ReturnType<typeof createTemplates>;
  /** Each sandbox's accounts, for later jobs; null without a state dir. */
  kept: ClusterCredentialStore | null;
  installs: InstallRegistry;
}

/** The shared state of `opts.sandboxDir` (which exists). */
export function createSandboxHost(opts: SandboxOptions, builds: ServerBuild[], problems: string[]): SandboxHost {
  return {
    opts,
    builds,
    problems,
    log: opts.logger.child({ component: 'sandbox' }),
    dirs: createSandboxDirs(opts.sandboxDir),
    templates: createTemplates(opts.sandboxDir),
    kept: opts.stateDir ? createFileCredentialStore(join(opts.stateDir, 'sandboxes')) : null,
    installs: createInstallRegistry(),
  };
}

/** A usage error in the capability's words. */
export function bad(message: string): GearopsError {
  return new GearopsError(ErrorCode.Usage, message);
}

/** The cluster's accounts, opened from the install job (sealed for job `jobId`); never from anywhere else. */
export function openCredentials(h: SandboxHost, jobId: string, sealed: unknown): ClusterCredentials {
  const { host, jobSecret, advertise } = h.opts;
  if (typeof sealed !== 'string')
    throw new GearopsError(
      ErrorCode.Usage,
      `${host}: this install carries no passwords for the cluster ` +
        '(a bot older than this worker?); nothing was made',
      { data: { host, step: 'check' } },
    );
  let c: unknown;
  try {
    c = JSON.parse(unseal(jobSecret, jobId, sealed));
  } catch (err) {
    throw new GearopsError(ErrorCode.BadSignature, `${host}: the install's sealed passwords do not open`, {
      cause: err,
      data: { host, step: 'check' },
    });
  }
  if (!isClusterCredentials(c))
    throw bad('the cluster accounts may only use letters, digits and _.@%+- (1 to 64 of them)');
  // The well-known demo passwords stay on this machine: never on an address other hosts reach.
  if (usesDemoPassword(c) && !isLoopbackAddress(advertise))
    throw new GearopsError(
      ErrorCode.Usage,
      `${host}: refusing the well-known demo passwords on ${advertise}, which is not a loopback address`,
      { data: { host, step: 'check' } },
    );
  return c;
}

/** The passwords of a cluster's accounts, to mask in any error text. */
export const secretsOf = (c: ClusterCredentials) => [c.admin.password, c.replication.password, c.readOnly.password];
