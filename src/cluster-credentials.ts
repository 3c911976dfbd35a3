/**
 * The bot's (and a worker's) file of cluster credentials: one JSON file per
 * cluster under `<stateDir>/clusters/`, the folder 0700 and each file 0600,
 * so only the user the process runs as reads them.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GearopsError } from './errors.js';
import { NAME_RE } from './core/capabilities.js';
import type { ClusterCredentialStore, ClusterCredentials, DbAccount } from './core/ports/credentials.js';

const isAccount = (a: unknown): a is DbAccount =>
  !!a &&
  typeof (a as DbAccount).user === 'string' &&
  typeof (a as DbAccount).password === 'string' &&
  /^[A-Za-z0-9_.@%+-]{1,64}$/.test((a as DbAccount).user) &&
  /^[A-Za-z0-9_.@%+-]{1,64}$/.test((a as DbAccount).password);

/** True when `c` has the three accounts, each with a name and password sandboxes accept. */
export function isClusterCredentials(c: unknown): c is ClusterCredentials {
  const x = c as ClusterCredentials;
  return !!x && isAccount(x.admin) && isAccount(x.replication) && isAccount(x.readOnly);
}

/** A credential store in `<dir>/clusters/`; made (0700) on first use. */
export function createFileCredentialStore(dir: string): ClusterCredentialStore {
  const root = join(dir, 'clusters');
  const fileOf = (cluster: string) => {
    if (!NAME_RE.test(cluster))
      throw new GearopsError(ErrorCode.Usage, `${cluster.slice(0, 40)} is not a cluster name`);
    return join(root, `${cluster}.json`);
  };
  const cache = new Map<string, ClusterCredentials>();
  return {
    get(cluster) {
      const hit = cache.get(cluster);
      if (hit) return hit;
      try {
        const c: unknown = JSON.parse(readFileSync(fileOf(cluster), 'utf8'));
        if (!isClusterCredentials(c)) return null;
        cache.set(cluster, c);
        return c;
      } catch {
        return null;
      }
    },
    save(cluster, credentials) {
      const file = fileOf(cluster);
      mkdirSync(root, { recursive: true, mode: 0o700 });
      chmodSync(root, 0o700);
      // Written whole, then renamed: a crash never leaves half a file.
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
      renameSync(tmp, file);
      cache.set(cluster, credentials);
    },
    remove(cluster) {
      cache.delete(cluster);
      rmSync(fileOf(cluster), { force: true });
    },
  };
}
