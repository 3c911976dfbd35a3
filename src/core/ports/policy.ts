/** The policy port: what may run where, for whom. src/core/policy implements it. */

/** Who is asking, as the policy sees it. */
export interface PolicyPrincipal {
  userId: string;
  channelId: string;
  /** Slack user-group ids the user belongs to (if user groups are configured). */
  groups?: string[];
  /** Roles already resolved from the policy (the worker resolves them from its own policy, not from the job). */
  roles: string[];
}

/** Every decision has a reason; an allow or a rule-specific deny names the rule. */
export interface Decision {
  allow: boolean;
  /** The rule that allowed or denied, when one did. */
  rule?: string;
  /** Human-readable: "allowed by rule diagnostics", "no rule allows `rm` on server1", … */
  reason: string;
}

/** One process of a pipeline, argv as it will be spawned (argv[0] is the program). */
export type Argv = string[];

/** A decision about a `/run` command line. On allow, `pipeline` is what the worker spawns. */
export interface RunDecision extends Decision {
  /** 1 or 2 stages: the command, and optionally its `grep` stage. */
  pipeline?: Argv[];
  /**
   * Arguments of the first stage the rule matched as `<path:PREFIX>`, checked here by their text only; the worker
   * resolves each on its own filesystem before it runs anything (symlinks, FIFOs, /proc).
   */
  paths?: Array<{ index: number; prefix: string }>;
  timeoutMs: number;
  maxOutputBytes: number;
  /** Most hosts one fan-out may reach under the deciding rule (the rule's `max_hosts`, else the policy's). */
  maxHosts?: number;
}

/** Named state-changing or sensitive actions the policy governs besides `/run`. */
export type PolicyAction =
  | 'replica.install'
  | 'replica.remove'
  | 'replica.status'
  | 'replica.list'
  | 'replica.diagnose'
  | 'replica.sql'
  | 'replica.restart'
  | 'replica.skip'
  | 'replica.watch'
  | 'replica.unwatch'
  | 'replica.switchover'
  | 'replica.failover'
  | 'replica.rejoin'
  | 'incident.ack'
  | 'pool.list'
  | 'pool.add'
  | 'pool.set'
  | 'pool.offline'
  | 'pool.del';

/** Policy-wide settings. */
export interface PolicySettings {
  /** The monitor takes broken/lagging replicas out of the pool and back by itself. */
  autoOffline: boolean;
  /** The monitor fails a cluster over by itself once its master is confirmed lost for `failcount` polls. */
  autoFailover: boolean;
  /** Seconds after a failover of a cluster during which no automatic failover of it runs (anti-flapping). */
  failoverBlockS: number;
  /** Polls in a row the master must be lost, to the bot and to every replica's IO thread, to count as lost. */
  failcount: number;
  /** How long a switchover waits for the old master's writers to finish (setting read_only) and for the new
   * master to catch up, before it rolls back (switchover_timeout_s, default 10). */
  switchoverTimeoutS: number;
}

/** A loaded, validated policy. */
export interface Policy {
  /** File the policy came from (for messages). */
  readonly source: string;
  readonly settings: PolicySettings;
  /** Roles of a user (by user id and user-group ids); "everyone" rules need no role. */
  rolesFor(userId: string, groups?: string[]): string[];
  /** Every Slack user-group id (S…) a role names, sorted; empty when roles name users only. */
  groupIds(): string[];
  /** Decides a `/run` command line on a host. Never throws on bad input: it denies with a reason. */
  checkRun(req: { host: string; principal: PolicyPrincipal; line: string }): RunDecision;
  /**
   * Decides a named action on a host, or, without one, on every host: then only rules without a host limit
   * (`hosts: ["*"]`) allow it. A cluster-level action asks once per host of the cluster's nodes.
   */
  checkAction(req: { action: PolicyAction; host?: string; principal: PolicyPrincipal }): Decision;
  /** Decides a SQL statement for `/replica sql` (read-only statements the policy lists). */
  checkSql(req: { statement: string; principal: PolicyPrincipal }): Decision;
  /** Host groups the policy file defines: name → node sets (`db[2-9]`, `db1?`, `@other`). */
  hostGroups?(): Record<string, string[]>;
  /** Every program a command rule names (the worker checks they exist before registering). */
  programs(): string[];
  /** Lines describing what this principal may do (for `help`), optionally for one host. */
  describe(principal: PolicyPrincipal, opts?: { host?: string }): string[];
}
