/** The commands that need the store: /replica and /pool, plus the incident buttons. */
import type { GearopsConfig } from './config.js';
import type { Logger } from './log.js';
import type { ChatSink } from './core/ports/chat.js';
import type { CommandModule } from './core/ports/commands.js';
import type { Dispatcher } from './core/ports/dispatcher.js';
import type { Policy } from './core/ports/policy.js';
import type { ReplicationProbe } from './core/ports/replication.js';
import type { Store } from './core/ports/store.js';
import { createReplicationProbe } from './mysql/replication.js';
import { createTopologyReader } from './mysql/topology-reader.js';
import { createRoutedTopologyReader } from './core/routed-probe.js';
import type { TopologyReader } from './core/topology.js';
import type { NodeAddress } from './core/ports/replication.js';
import { loadCredentialsFile, type CredentialsDirectory } from './credentials-file.js';
import { createReplicaCommand } from '../commands/replica.js';
import { createPoolCommand } from '../commands/pool.js';

/**
 * How the bot reads watched servers for discovery: directly with the named credentials (looked up when a server is
 * read, so a cluster read only through workers needs no password here), or through the worker a server names.
 */
export function watchReaders(credentials: CredentialsDirectory, dispatcher: Dispatcher) {
  const direct = (name: string): TopologyReader => ({
    facts: (n) => createTopologyReader({ credentials: credentials.get(name) }).facts(n),
  });
  return {
    topologyReader: (name: string, viaFor: (n: NodeAddress) => string | undefined) =>
      createRoutedTopologyReader(direct(name), dispatcher, { credentials: name, viaFor }),
    statusHosts: async () =>
      (await dispatcher.hosts()).filter((h) => h.capabilities.includes('mysql.status')).map((h) => h.host),
  };
}

/** Builds /replica and /pool over the store; returns the probe too, for the monitor. */
export function createStoreCommands(d: {
  store: Store;
  policy: Policy;
  dispatcher: Dispatcher;
  chat: ChatSink;
  config: GearopsConfig;
  logger: Logger;
  probe?: ReplicationProbe;
  credentials?: CredentialsDirectory;
}): CommandModule[] {
  // Refused here, at start-up, when others can read it: the path and the fix are in the error.
  const credentials =
    d.credentials ?? loadCredentialsFile(d.config.credentialsFile, { sandbox: d.config.sandboxCredentials });
  const probe =
    d.probe ??
    createReplicationProbe({ credentials: d.config.sandboxCredentials, named: credentials.get, logger: d.logger });
  return [
    createReplicaCommand({
      dispatcher: d.dispatcher,
      policy: d.policy,
      clusters: d.store.clusters,
      probe,
      logger: d.logger,
      pool: d.store.pool,
      chat: d.chat,
      poolChannel: d.config.poolChannel,
      credentialsName: `GEAROPS_SANDBOX_USER (${d.config.sandboxCredentials.user})`,
      watch: {
        ...watchReaders(credentials, d.dispatcher),
        defaultCredentials: 'sandbox',
        incidents: d.store.incidents,
      },
      sqlLimits: d.config.sql,
    }),
    createPoolCommand({
      policy: d.policy,
      pool: d.store.pool,
      chat: d.chat,
      poolChannel: d.config.poolChannel,
      logger: d.logger,
    }),
  ];
}
