/**
 * The Store contract (test/unit/ports/store-conformance.ts) on a real MariaDB: each test gets a database of its
 * own on one server, migrated by the store as at start-up; its peer is a second store on that database.
 */
import { afterAll, beforeAll } from 'vitest';
import type { MariadbProcess } from '../../src/launch/mariadb.js';
import { createSilentLogger } from '../../src/log.js';
import { createMysqlStore, STORE_PRESETS } from '../../src/mysql/store.js';
import { startMariadb } from '../helpers/mariadb.js';
import { describeStoreConformance } from '../unit/ports/store-conformance.js';

const logger = createSilentLogger();
let db: MariadbProcess;
let n = 0;

beforeAll(async () => {
  db = await startMariadb();
});
afterAll(async () => {
  await db?.stop();
});

describeStoreConformance('MariaDB store (src/mysql)', async () => {
  const url = db.url.replace(/\/[^/]*$/, `/conform_${++n}`);
  const open = () => createMysqlStore({ url, logger, preset: STORE_PRESETS.fast });
  return { store: await open(), peer: open };
});
