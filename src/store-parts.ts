/**
 * The parts of the app that need the store: its commands (/replica, /pool), the alert buttons, and the monitor,
 * over one probe, one monitor probe and one topology control made here once. Composed by src/app.ts.
 */
import type { GearopsConfig } from './config.js';
import type { Logger } from './log.js';
import { textMessage } from './core/message.js';
import type { ChatSink } from './core/ports/chat.js';
import type { CommandModule } from './core/ports/commands.js';
import type { Dispatcher } from './core/ports/dispatcher.js';
import type { Policy } from './core/ports/policy.js';
import type { Store } from './core/ports/store.js';
import type { ReplicationProbe } from './core/ports/replication.js';
import type { ReplicationControl } from './core/ports/replication-control.js';
import type { CredentialsDirectory } from './credentials-file.js';
import type { FailoverDeps } from './cluster/failover.js';
import type { Metrics } from './core/ports/metrics.js';
import { createFileCredentialStore } from './cluster-credentials.js';

/** Opens the MySQL store (module loaded only when a store is configured). */
export async function openMysqlStore(url: string, logger: Logger): Promise<Store> {
  const { createMysqlStore } = await import('./mysql/store.js');
  return createMysqlStore({ url, logger });
}

/** What the store's commands, buttons and monitor are made from. */
export interface StorePartsDeps {
  store: Store;
  policy: Policy;
  dispatcher: Dispatcher;
  chat: ChatSink;
  config: GearopsConfig;
  logger: Logger;
  metrics: Metrics;
}

/** The replication monitor, with the topology changes of watched clusters and, when configured, failover. */
async function monitorPart(
  d: StorePartsDeps & {
    alertChannel: string;
    named: CredentialsDirectory;
    probe: ReplicationProbe;
    sequence: FailoverDeps | null | undefined;
    control: ReplicationControl;
  },
) {
  const [{ createReplicationMonitor }, { createTopologyChanges }, { watchReaders }, { monitorFailoverPorts }] =
    await Promise.all([
      import('./monitor/monitor.js'),
      import('./monitor/topology-changes.js'),
      import('./store-commands.js'),
      import('./monitor/failover-ports.js'),
    ]);
  return createReplicationMonitor({
    topology: createTopologyChanges({
      clusters: d.store.clusters,
      ...watchReaders(d.named, d.dispatcher),
      chat: d.chat,
      alertChannel: d.alertChannel,
      logger: d.logger,
    }),
    store: d.store,
    probe: d.probe,
    chat: d.chat,
    alertChannel: d.alertChannel,
    poolChannel: d.config.poolChannel,
    policy: d.policy,
    logger: d.logger,
    intervalMs: d.config.monitorIntervalMs,
    lagThresholdS: d.config.lagThresholdS,
    lagStepS: d.config.lagStepS,
    metrics: d.metrics,
    // Automatic failover (auto_failover in the policy) and fencing of returning old masters.
    ...(d.sequence && d.store.changes
      ? monitorFailoverPorts({ sequence: d.sequence, journal: d.store.changes, control: d.control })
      : {}),
  });
}

/** The commands, buttons and monitor that need the store. */
export async function storeParts(d: StorePartsDeps) {
  const [
    { createStoreCommands, loadWatchCredentials, failoverDeps },
    { createReplicationProbe },
    { createIncidentActions },
    { createRoutedProbe },
    { createRoutedControl },
    { createReplicationControl },
  ] = await Promise.all([
    import('./store-commands.js'),
    import('./mysql/replication.js'),
    import('./monitor/incident-actions.js'),
    import('./core/routed-probe.js'),
    import('./core/routed-control.js'),
    import('./mysql/replication-control.js'),
  ]);
  // Each built cluster's own passwords, from the bot's state dir (0600 files), never from the store.
  const credentials = createFileCredentialStore(d.config.stateDir);
  // Watched clusters' named credentials: refused at start-up when others can read the file (path and fix named).
  const named = loadWatchCredentials(d.config);
  // Watched servers whose port the bot cannot reach are read through their host's worker (mysql.status).
  // The ids of every connection this bot holds on a node: ending a node's writers (switchover) spares them.
  const ownThreads = new Map<string, Set<number>>();
  const probe = createRoutedProbe(
    createReplicationProbe({ credentials, named: named.get, logger: d.logger, ownThreads }),
    d.dispatcher,
  );
  // The monitor's own connections: commands' statements (/replica sql, status, repairs) never take them.
  const monitorProbe = createRoutedProbe(
    createReplicationProbe({ credentials, named: named.get, logger: d.logger, connectionLimit: 2, ownThreads }),
    d.dispatcher,
  );
  // Topology changes (switchover, failover, rejoin): direct connections of their own, never the monitor's; a node
  // read through its host's worker is changed there (mysql.control), for whoever each command names.
  const control = createRoutedControl(
    createReplicationControl({ credentials, named: named.get, ownThreads }),
    d.dispatcher,
  );
  const commands = createStoreCommands({ ...d, probe, control, credentials, named });
  const sequence = failoverDeps({ ...d, probe, control });
  const actions = createIncidentActions({
    store: d.store,
    probe,
    ...(sequence ? { failover: sequence } : {}),
    policy: d.policy,
    chat: d.chat,
    poolChannel: d.config.poolChannel,
    logger: d.logger,
  });
  const monitor = d.config.alertChannel
    ? await monitorPart({ ...d, alertChannel: d.config.alertChannel, named, probe: monitorProbe, sequence, control })
    : null;
  return { probe, monitorProbe, control, commands, actions, monitor };
}

/** A stand-in for a command that needs the store when none is configured: it says so. */
export function needsStore(name: string, description: string, usage: string): CommandModule {
  return {
    name,
    description,
    usage,
    async handle(inv) {
      await inv.reply.ephemeral(
        textMessage(
          `/${name} needs the store: set GEAROPS_MYSQL_URL (mysql://user:password@host:3306/common) and start again.`,
        ),
      );
      return { status: 'refused', summary: 'no store configured' };
    },
  };
}
