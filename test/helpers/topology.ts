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

import type { ClusterRecord } from '../../src/core/ports/store.js';
import type { PlainServer as Server } from '../../src/launch/plain-topology.js';
import { until } from './wait.js';

/** A built-style cluster record over hand-wired servers: the first is the master, named `<name>1`, `<name>2`… */
export function plainClusterRecord(name: string, servers: Server[]): ClusterRecord {
  return {
    name,
    version: '10.11',
    credentials: name,
    createdBy: 'U0',
    state: 'ready',
    nodes: servers.map((s, i) => ({
      host: `${name}${i + 1}`,
      address: s.address,
      port: s.port,
      role: i === 0 ? 'master' : 'replica',
      serverId: s.serverId,
      sandbox: '',
    })),
  };
}

/**
 * A master lost for real: one row written on the master (app.t) and seen on every replica, then the master
 * SIGKILLed, until every replica's IO thread has failed to reach it.
 */
export async function seedThenKillMaster(servers: Server[]): Promise<void> {
  await servers[0]!.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1)');
  for (const s of servers.slice(1))
    await until(async () => (await s.sql('SELECT COUNT(*) FROM app.t')).trim() === '1', 30_000);
  await servers[0]!.kill('SIGKILL');
  await until(async () => {
    const st = await Promise.all(servers.slice(1).map((s) => s.slaveStatus()));
    return st.every((x) => x.Slave_IO_Running !== 'Yes' && Number(x.Last_IO_Errno ?? 0) > 0);
  }, 30_000);
}
