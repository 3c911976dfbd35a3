/** A real MariaDB for tests: random port, temp dir, removed on stop. */
import { startMariadbProcess, type MariadbProcess } from '../../src/launch/mariadb.js';

/** Starts MariaDB with a `common` database. */
export function startMariadb(opts: { database?: string } = {}): Promise<MariadbProcess> {
  return startMariadbProcess({ database: opts.database ?? 'common' });
}
