/**
 * The worker's run-time look at path arguments. The policy matches a path by its text (`<path:/var/log/mysql/>`),
 * which the bot can check without the host's filesystem; but a symlink under that directory may point anywhere
 * (/etc/shadow, /proc/<pid>/environ). Here, on the host, each path argument is resolved to its real path, which
 * must still be under the rule's (resolved) prefix and must be a regular file outside /proc, /sys and /dev; the
 * program is then given the real path, so a link swapped after the check is not followed either.
 */
import { realpath, stat } from 'node:fs/promises';

/** A path argument of a pipeline's first stage: its index in argv and the rule's prefix. */
export interface PathArg {
  index: number;
  prefix: string;
}

/** Pseudo-filesystems whose "regular files" are a process's memory, environment or a device's state. */
const NEVER = ['/proc/', '/sys/', '/dev/'];

/**
 * Resolves every path argument of `argv`; on success `argv` with each replaced by its real path, else why not
 * (the caller names the rule).
 */
export async function resolvePathArgs(
  argv: string[],
  paths: PathArg[],
): Promise<{ ok: true; argv: string[] } | { ok: false; reason: string }> {
  const out = [...argv];
  for (const p of paths) {
    const given = argv[p.index];
    if (given === undefined) return { ok: false, reason: `argument ${p.index} is missing` };
    let real: string;
    let prefix: string;
    try {
      real = await realpath(given);
    } catch (err) {
      return { ok: false, reason: `\`${given}\` cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    try {
      // The prefix may itself be a link the host's owner made (/var/log/mysql -> /data/logs): that one is theirs.
      prefix = `${(await realpath(p.prefix)).replace(/\/$/, '')}/`;
    } catch {
      prefix = p.prefix;
    }
    if (NEVER.some((d) => `${real}/`.startsWith(d)))
      return { ok: false, reason: `\`${given}\` resolves to ${real}: /proc, /sys and /dev are never read` };
    if (!real.startsWith(prefix) || real === prefix.slice(0, -1))
      return { ok: false, reason: `\`${given}\` resolves to ${real}, which is not a file under ${p.prefix}` };
    let kind: string;
    try {
      const s = await stat(real);
      kind = s.isFile()
        ? 'file'
        : s.isFIFO()
          ? 'a FIFO'
          : s.isDirectory()
            ? 'a directory'
            : s.isSocket()
              ? 'a socket'
              : 'a device';
    } catch (err) {
      return { ok: false, reason: `\`${given}\` cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    if (kind !== 'file') return { ok: false, reason: `\`${given}\` is ${kind}, not a regular file` };
    out[p.index] = real;
  }
  return { ok: true, argv: out };
}
