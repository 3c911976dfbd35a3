/**
 * The Store contract against the in-memory store the unit tests use (test/unit/fakes/memory-store.ts, built of the
 * fakes in test/unit/fakes/ports.ts); test/integration/store-conformance.test.ts runs the same suite on MariaDB.
 */
import { createMemoryDatabase } from '../fakes/memory-store.js';
import { describeStoreConformance } from './store-conformance.js';

describeStoreConformance('in-memory store (test/unit/fakes)', async () => {
  const db = createMemoryDatabase();
  return { store: db.open(), peer: async () => db.open() };
});
