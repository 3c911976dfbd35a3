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
import type { ClusterCredentialStore } from './core/ports/credentials.js';
import { seal } from './core/sealed.js';
import { createFileCredentialStore } from './cluster-credentials.js';
import { createReplicaCommand } from '../commands/replica.js';
import { createPoolCommand } from '../commands/pool.js';

/** Builds /replica and /pool over the store; returns the probe too, for the monitor. */
export function createStoreCommands(d: {
  store: Store;
  policy: Policy;
  dispatcher: Dispatcher;
  chat: ChatSink;
  config: GearopsConfig;
  logger: Logger;
  probe?: ReplicationProbe;
  credentials?: ClusterCredentialStore;
}): CommandModule[] {
  const credentials = d.credentials ?? createFileCredentialStore(d.config.stateDir);
  const probe = d.probe ?? createReplicationProbe({ credentials, logger: d.logger });
  const secret = d.config.jobSecret ?? '';
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
