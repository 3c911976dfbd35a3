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
}): CommandModule[] {
  const probe = d.probe ?? createReplicationProbe({ credentials: d.config.sandboxCredentials, logger: d.logger });
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
