/** Gearman function names are `<capability>@<host>`: the contract between the bot and its workers. */
import { HOST_RE } from '../core/capabilities.js';

// `_` and `-` for group markers such as `group.eu-west@db1`.
const CAPABILITY_RE = /^[a-z][a-z0-9._-]{0,62}$/;

/** True for a host name a worker may register under. */
export function isValidHostName(h: string): boolean {
  return HOST_RE.test(h);
}

/** `run@server1` from ('run', 'server1'). */
export function functionName(capability: string, host: string): string {
  if (!CAPABILITY_RE.test(capability) || !HOST_RE.test(host))
    throw new Error(`invalid function name parts: ${capability}@${host}`);
  return `${capability}@${host}`;
}

/** ('run', 'server1') from `run@server1`; null for any other function. */
export function parseFunctionName(name: string): { capability: string; host: string } | null {
  const at = name.lastIndexOf('@');
  if (at <= 0) return null;
  const capability = name.slice(0, at);
  const host = name.slice(at + 1);
  return CAPABILITY_RE.test(capability) && HOST_RE.test(host) ? { capability, host } : null;
}
