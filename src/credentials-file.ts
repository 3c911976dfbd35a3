/**
 * Named MySQL credentials from a file only its owner can read (GEAROPS_CREDENTIALS_FILE, a worker's
 * --credentials-file). Clusters and commands name an entry; the password itself never enters the store, a job
 * payload, a log or a message. An entry holds a user and password, or points at a client option file
 * (`defaults_file`, the [client] section of a my.cnf), which must be owner-only too.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, GearopsError } from './errors.js';

/** One set of credentials. */
export interface MysqlCredentials {
  user: string;
  password: string;
  /**
   * The account replicas of this entry's servers log in to their master with: what a topology change gives a
   * server that never replicated (an old master made a replica). Optional; never sent anywhere but CHANGE MASTER.
   */
  replication?: { user: string; password: string };
}

/** Looks credentials up by name. */
export interface CredentialsDirectory {
  /** The entry's credentials; throws gearops_config naming the entry and the file when there is none. */
  get(name: string): MysqlCredentials;
  has(name: string): boolean;
  names(): string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const replication = z.strictObject({ user: z.string().min(1), password: z.string() }).optional();
const entrySchema = z.union([
  z.strictObject({ user: z.string().min(1), password: z.string(), replication }),
  z.strictObject({ defaults_file: z.string().min(1), replication }),
]);
const fileSchema = z.record(z.string().regex(NAME, 'entry names are letters, digits, _ . -'), entrySchema);

/** Refuses a file that anyone but its owner may read or write, naming it and the fix. */
export function assertOwnerOnly(path: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new GearopsError(ErrorCode.Config, `${what} ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if ((mode & 0o077) !== 0)
    throw new GearopsError(
      ErrorCode.Config,
      `${what} ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): it holds passwords; ` +
        `run chmod 600 ${path}`,
    );
}

/** The user and password of a client option file's [client] (or [mysql]) section. */
function readDefaultsFile(path: string, entry: string): MysqlCredentials {
  assertOwnerOnly(path, `defaults_file of credentials entry '${entry}',`);
  const values: Record<string, string> = {};
  let section = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[([^\]]+)\]$/.exec(line);
    if (s) {
      section = s[1]!.trim().toLowerCase();
      continue;
    }
    if (section !== 'client' && section !== 'mysql') continue;
    const kv = /^([A-Za-z_-]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    let v = kv[2]!.trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    values[kv[1]!.toLowerCase().replace(/-/g, '_')] = v;
  }
  if (!values.user)
    throw new GearopsError(ErrorCode.Config, `defaults_file ${path} (entry '${entry}') has no user in [client]`);
  return { user: values.user, password: values.password ?? '' };
}

/** Reads, checks and parses a credentials file into `into`. */
function readCredentialsFile(path: string, into: Map<string, MysqlCredentials>): void {
  assertOwnerOnly(path, 'credentials file');
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GearopsError(ErrorCode.Config, `credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = fileSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const inner = issue && 'issues' in issue ? (issue.issues as Array<{ message: string }>)[0]?.message : undefined;
    throw new GearopsError(
      ErrorCode.Config,
      `credentials file ${path}: ${issue?.path.join('.') || '(top)'}: ${inner ?? issue?.message ?? 'invalid'} ` +
        '(each entry is { user, password } or { defaults_file }, with an optional replication: { user, password })',
    );
  }
  for (const [name, e] of Object.entries(parsed.data))
    into.set(name, {
      ...('defaults_file' in e ? readDefaultsFile(e.defaults_file, name) : { user: e.user, password: e.password }),
      ...(e.replication ? { replication: e.replication } : {}),
    });
}

/**
 * Loads and checks a credentials file; `fallback` entries (the sandbox credentials) answer names it lacks. A name
 * the file does not have makes it read again when it changed since (an entry added without a restart), with the
 * same checks as at start-up.
 */
export function loadCredentialsFile(
  path: string | undefined,
  fallback: Record<string, MysqlCredentials> = {},
): CredentialsDirectory {
  let entries = new Map<string, MysqlCredentials>(Object.entries(fallback));
  let readAt = 0;
  const mtime = (p: string) => {
    try {
      return statSync(p).mtimeMs;
    } catch {
      return -1;
    }
  };
  const read = () => {
    if (!path) return;
    const next = new Map<string, MysqlCredentials>(Object.entries(fallback));
    const at = mtime(path);
    readCredentialsFile(path, next);
    entries = next;
    readAt = at;
  };
  read();
  const refresh = () => {
    if (path && mtime(path) !== readAt) read();
  };
  return {
    get(name) {
      if (!entries.has(name)) refresh();
      const c = entries.get(name);
      if (!c)
        throw new GearopsError(
          ErrorCode.Config,
          `no credentials named '${name}'${path ? ` in ${path}` : ' (GEAROPS_CREDENTIALS_FILE is not set)'}`,
        );
      return c;
    },
    has(name) {
      if (!entries.has(name))
        try {
          refresh();
        } catch {
          return false;
        }
      return entries.has(name);
    },
    names: () => [...entries.keys()].sort(),
  };
}
