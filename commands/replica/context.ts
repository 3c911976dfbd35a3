/** What every `/replica` subcommand shares: its dependencies, the state kept between invocations, and the gates. */
import type { Logger } from '../../src/log.js';
import type { ChatSink } from '../../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import type { Dispatcher } from '../../src/core/ports/dispatcher.js';
import type { Policy, PolicyAction } from '../../src/core/ports/policy.js';
import type { ReplicationProbe } from '../../src/core/ports/replication.js';
import type { ClusterRecord, ClusterStore, PoolChange, PoolStore } from '../../src/core/ports/store.js';
import { poolChangeMessage } from '../../src/core/pool-message.js';
import { createSqlSlots, type SqlSlotLimits, type SqlSlots } from '../../src/core/sql-slots.js';
import { createJobRunner, type RunJob } from '../../src/cluster/jobs.js';
import type { CredentialPorts } from '../../src/cluster/install.js';
import type { PortRange } from '../../src/cluster/preflight.js';
import { policyPrincipal, requesterOf } from '../shared.js';
import type { WatchDeps } from './watch.js';
import { authorize, policyDenied } from '../../src/core/authorize.js';
import type { SwitchoverCommandDeps } from '../replica-switchover.js';
import type { FailoverCommandDeps } from '../replica-failover.js';

/** Dependencies of `/replica`. */
export interface ReplicaCommandDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  clusters: ClusterStore;
  probe: ReplicationProbe;
  logger: Logger;
  /** For `pool=yes` and removing a cluster's nodes from the pool. */
  pool?: PoolStore;
  chat?: ChatSink;
  poolChannel?: string;
  /** Name recorded as where the sandbox credentials live (never the password). */
  credentialsName?: string;
  /**
   * Each cluster's own passwords: made at install, kept in `store`, sent to the workers sealed for each job.
   * `demo`: sandboxes whose every address is loopback get the well-known demo accounts instead.
   */
  credentials?: CredentialPorts;
  /** Ports tried when `port=` is not given. */
  portRange?: PortRange;
  installTimeoutMs?: number;
  /** For /replica watch: reads servers with named credentials. Without it, watch is not offered. */
  watch?: Pick<WatchDeps, 'topologyReader' | 'statusHosts' | 'defaultCredentials' | 'incidents'>;
  /**
   * /replica sql: statements running at once per user and per cluster, and each statement's time-out (ended on
   * the server with KILL QUERY). Defaults: 2, 4, 30 s.
   */
  sqlLimits?: Partial<SqlSlotLimits> & { timeoutMs?: number };
  /** For /replica switchover (commands/replica-switchover.ts). Without it, switchover is not offered. */
  switchover?: Pick<SwitchoverCommandDeps, 'control' | 'journal' | 'locks' | 'lagThresholdS'>;
  /** For /replica failover and rejoin (the sequences' ports); without it they say what is missing. */
  failover?: Omit<FailoverCommandDeps, 'policy'>;
}

/** A gate's answer: go on, or the outcome of the denial already told to the user. */

/** The subcommands' shared state and helpers. */
export interface ReplicaContext {
  deps: ReplicaCommandDeps;
  range: PortRange;
  installTimeoutMs: number;
  /** Installs this process is running (their tokens): /replica remove leaves those alone. */
  installingHere: Set<string>;
  sqlLimits: SqlSlotLimits & { timeoutMs: number };
  sqlSlots: SqlSlots;
  /** Jobs signed for the user who typed `inv`. */
  runner(inv: CommandInvocation): RunJob;
  /** Posts one pool change in the pool channel (a failed post is never fatal: the change is made). */
  announcePool(ch: PoolChange): Promise<void>;
}

/** Makes the context of one `/replica` command. */
export function createReplicaContext(deps: ReplicaCommandDeps): ReplicaContext {
  const sqlLimits = { perUser: 2, perCluster: 4, timeoutMs: 30_000, ...deps.sqlLimits };
  return {
    deps,
    range: deps.portRange ?? { from: 21000, to: 29000 },
    installTimeoutMs: deps.installTimeoutMs ?? 180_000,
    installingHere: new Set<string>(),
    sqlLimits,
    sqlSlots: createSqlSlots(sqlLimits),
    runner: (inv) => createJobRunner(deps.dispatcher, requesterOf(inv.principal)),
    async announcePool(ch) {
      if (deps.chat && deps.poolChannel)
        await deps.chat.post(deps.poolChannel, poolChangeMessage(ch)).catch(() => undefined);
    },
  };
}

/** Authorizes `action` on every one of `hosts` (or on no host); a denial is thrown (the router answers it). */
export function authorizeOn(ctx: ReplicaContext, inv: CommandInvocation, action: PolicyAction, hosts: string[] = []) {
  for (const host of hosts.length ? hosts : [undefined]) authorize(ctx.deps.policy, inv.principal, { action, host });
}

/**
 * The clusters `action` may show: all of them under a rule for every host; else those all of whose nodes'
 * hosts the user's host-scoped rules cover (a rule for test-* shows the test clusters, not the others).
 */
export async function visibleClusters(
  ctx: ReplicaContext,
  inv: CommandInvocation,
  action: PolicyAction,
  clusters: ClusterRecord[],
): Promise<{ ok: true; shown: ClusterRecord[]; hidden: number } | { ok: false; outcome: CommandOutcome }> {
  const { policy } = ctx.deps;
  const principal = policyPrincipal(inv.principal);
  const everywhere = policy.checkAction({ action, principal });
  if (everywhere.allow) return { ok: true, shown: clusters, hidden: 0 };
  const covered = (c: ClusterRecord) =>
    c.nodes.length > 0 && c.nodes.every((n) => policy.checkAction({ action, host: n.host, principal }).allow);
  const shown = clusters.filter(covered);
  if (shown.length === 0) throw policyDenied(everywhere, { action });
  return { ok: true, shown, hidden: clusters.length - shown.length };
}
