/** The values the worker's sandbox capabilities answer, as the bot reads them. */

/** What `sandbox.check@host` answers. */
export interface SandboxCheckValue {
  host: string;
  /** The address other hosts use to reach this host's sandboxes (the worker's --advertise). */
  address?: string;
  versions: Array<{ version: string; flavour: string }>;
  ports: Array<{ port: number; free: boolean; reason?: string }>;
  freeDiskBytes: number;
  sandboxes: Array<{ name: string; version: string; port: number; running: boolean; role?: string; cluster?: string }>;
  problems?: string[];
}

/** What `sandbox.install@host` answers (never a password). */
export interface SandboxInstallValue {
  name: string;
  version: string;
  flavour: string;
  address: string;
  port: number;
  serverId: number;
}
