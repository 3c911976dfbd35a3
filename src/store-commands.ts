/** The commands that need the store: /replica and /pool, plus the incident buttons. */
import type { GearopsConfig } from './config.js';
import type { Logger } from './log.js';
import type { ChatSink } from './core/ports/chat.js';
import type { CommandModule } from './core/ports/commands.js';
import type { Dispatcher } from './core/ports/dispatcher.js';
import type { Policy } from './core/ports/policy.js';
import type { NodeAddress, ReplicationProbe } from './core/ports/replication.js';
import type { ReplicationControl } from './core/ports/replication-control.js';
import type { Store } from './core/ports/store.js';
import { createTopologyReader } from './mysql/topology-reader.js';
import { createRoutedTopologyReader } from './core/routed-probe.js';
import type { TopologyReader } from './core/topology.js';
import { DEMO_CREDENTIALS, type ClusterCredentialStore } from './core/ports/credentials.js';
import { seal } from './core/sealed.js';
import { loadCredentialsFile, type CredentialsDirectory } from './credentials-file.js';
import { createReplicaCommand } from '../commands/replica/index.js';
import { createPoolCommand } from '../commands/pool.js';
import type { FailoverDeps } from './cluster/failover.js';
import { poolChangeMessage } from './core/pool-message.js';
import { storeTopologyLocks } from './cluster/topology-lock.js';

/**
 * The named credentials for watched clusters (GEAROPS_CREDENTIALS_FILE), refused at start-up when others can read
 * the file. The entry `sandbox` is what /replica watch uses when none is named; with the demo setting it falls
 * back to the well-known sandbox account.
 */
export function loadWatchCredentials(config: GearopsConfig): CredentialsDirectory {
  return loadCredentialsFile(
    config.credentialsFile,
    config.sandboxDemoCredentials
      ? { sandbox: { ...DEMO_CREDENTIALS.admin, replication: DEMO_CREDENTIALS.replication } }
      : {},
  );
}

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

/**
 * The ports of the failover and rejoin sequences (/replica failover and rejoin, the Promote button, the monitor's
 * automatic failover). `failcount` is read from the policy each time (a reload applies to the next failover); the
 * command's probes are the monitor's interval apart, at most a second.
 */
export function failoverDeps(d: {
  store: Store;
  policy: Policy;
  probe: ReplicationProbe;
  control: ReplicationControl;
  chat: ChatSink;
  config: GearopsConfig;
  logger: Logger;
}): FailoverDeps | undefined {
  const journal = d.store.changes;
  if (!journal) return undefined;
  const { chat, config } = d;
  return {
    clusters: d.store.clusters,
    probe: d.probe,
    control: d.control,
    journal,
    // Every instance's failovers and rejoins of one cluster exclude each other (and its switchovers).
    locks: storeTopologyLocks(d.store, { logger: d.logger }),
    pool: d.store.pool,
    announcePool: async (ch) => {
      if (config.poolChannel) await chat.post(config.poolChannel, poolChangeMessage(ch)).catch(() => undefined);
    },
    get failcount() {
      return (d.policy.settings as { failcount?: number }).failcount ?? 3;
    },
    intervalMs: Math.min(1000, config.monitorIntervalMs),
    logger: d.logger.child({ component: 'failover' }),
  };
}

/** Builds /replica and /pool over the store. */
export function createStoreCommands(d: {
  store: Store;
  policy: Policy;
  dispatcher: Dispatcher;
  chat: ChatSink;
  config: GearopsConfig;
  logger: Logger;
  /** The app's one probe for commands (src/app.ts makes it; the monitor has its own connections). */
  probe: ReplicationProbe;
  /** Topology changes (switchover, failover, rejoin) on the nodes themselves. */
  control?: ReplicationControl;
  /** Each built cluster's own passwords (the bot's state dir). */
  credentials: ClusterCredentialStore;
  /** Named credentials of watched clusters. */
  named: CredentialsDirectory;
}): CommandModule[] {
  const { credentials, named, probe } = d;
  const secret = d.config.jobSecret ?? '';
  const sequence = d.control ? failoverDeps({ ...d, probe, control: d.control }) : undefined;
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
      credentialsName: `the bot's state dir (GEAROPS_STATE_DIR)`,
      credentials: {
        store: credentials,
        seal: (jobId, plaintext) => seal(secret, jobId, plaintext),
        demo: d.config.sandboxDemoCredentials,
      },
      watch: {
        ...watchReaders(named, d.dispatcher),
        defaultCredentials: 'sandbox',
        incidents: d.store.incidents,
      },
      sqlLimits: d.config.sql,
      ...(d.control
        ? {
            switchover: {
              control: d.control,
              journal: d.store.changes,
              locks: storeTopologyLocks(d.store, { logger: d.logger }),
              lagThresholdS: d.config.lagThresholdS,
            },
          }
        : {}),
      ...(sequence ? { failover: { sequence, incidents: d.store.incidents, chat: d.chat } } : {}),
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
