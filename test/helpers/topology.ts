/**
 * Replication built without gearops, for the tests of watching existing topologies. The launcher lives in
 * src/launch/plain-topology.ts because the demo (`demo cluster`) and the benchmark (discover_10) start the same
 * hand-wired servers; this module keeps the helpers' usual import path.
 */
export {
  createPlainTopology,
  type PlainAccounts,
  type PlainHost,
  type PlainServer,
  type PlainTopology,
} from '../../src/launch/plain-topology.js';
