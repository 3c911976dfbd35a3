/**
 * `/replica`: install, check, diagnose and remove MySQL replication sandboxes
 * across hosts (the MySQL Sandbox idea, driven from chat). Installs check
 * every host, version and port first and list every problem before anything
 * is built; the master and the replicas are built at once, each replica
 * replicating as soon as the master takes its login; replication is proven by
 * a write on the master read back on every replica; when a node fails the
 * others are told to stop (sandbox.cancel), and every node that was made is
 * removed.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../src/log.js';
import { ErrorCode, GearopsError, isGearopsError } from '../src/errors.js';
import type { Block, ChatMessage } from '../src/core/message.js';
import { resultBlock, textMessage } from '../src/core/message.js';
import type { ChatSink, MessageRef } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher, JobResult } from '../src/core/ports/dispatcher.js';
import type { Policy, PolicyAction } from '../src/core/ports/policy.js';
import type { NodeAddress, NodeStatus, ReplicationProbe } from '../src/core/ports/replication.js';
import type {
  ClusterNode,
  ClusterRecord,
  ClusterStore,
  PoolChange,
  PoolRole,
  PoolStore,
} from '../src/core/ports/store.js';
import { poolChangeMessage, showPoolType } from '../src/core/pool-message.js';
import { redactRows } from '../src/core/redact.js';
import { nodeAddress } from '../src/core/cluster.js';
import { createSqlSlots, type SqlSlotLimits } from '../src/core/sql-slots.js';
import {
  DEMO_CREDENTIALS,
  generateClusterCredentials,
  isLoopbackAddress,
  type ClusterCredentialStore,
} from '../src/core/ports/credentials.js';
import { formatDuration, mention, policyPrincipal, requesterOf, words } from './shared.js';
import { createWatchCommands, WATCH_USAGE, type WatchDeps } from './replica-watch.js';
import { createSwitchoverCommand, SWITCHOVER_USAGE, type SwitchoverCommandDeps } from './replica-switchover.js';

/** What `sandbox.check@host` answers. */
export interface SandboxCheckValue {
  host: string;
  /** The address other hosts use to reach this host's sandboxes (the worker's --advertise). */
  address?: string;
  versions: Array<{ version: string; flavour: string }>;
  ports: Array<{ port: number; free: boolean; reason?: string }>;
  freeDiskBytes: number;
  sandboxes: Array<{ name: string; version: string; port: number; running: boolean; role?: string; cluster?: string }>;
  problems?: string[];
}

/** What `sandbox.install@host` answers (never a password). */
export interface SandboxInstallValue {
  name: string;
  version: string;
  flavour: string;
  address: string;
  port: number;
  serverId: number;
}

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
  credentials?: { store: ClusterCredentialStore; seal(jobId: string, plaintext: string): string; demo: boolean };
  /** Ports tried when `port=` is not given. */
  portRange?: { from: number; to: number };
  installTimeoutMs?: number;
  /** For /replica watch: reads servers with named credentials. Without it, watch is not offered. */
  watch?: Pick<WatchDeps, 'topologyReader' | 'statusHosts' | 'defaultCredentials' | 'incidents'>;
  /**
   * /replica sql: statements running at once per user and per cluster, and each statement's time-out (ended on
   * the server with KILL QUERY). Defaults: 2, 4, 30 s.
   */
  sqlLimits?: Partial<SqlSlotLimits> & { timeoutMs?: number };
  /** For /replica switchover (commands/replica-switchover.ts). Without it, switchover is not offered. */
  switchover?: Pick<SwitchoverCommandDeps, 'control' | 'journal' | 'lagThresholdS'>;
}

const USAGE = [
  '/replica install <cluster> master=<host> slaves=<host>[,<host>…] [version=<v>] [port=<base>] [pool=yes]',
  '/replica status [<cluster>]',
  '/replica list',
  '/replica diagnose <host>',
  '/replica remove <cluster>',
  '/replica sql <cluster> <statement>',
  ...WATCH_USAGE,
  SWITCHOVER_USAGE,
].join('\n');

const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
/** Seconds the server lets one /replica sql statement run (max_statement_time of its session). */
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const VERSION_RE = /^[0-9]+(\.[0-9]+){0,2}$/;

/** A parsed `/replica install`. */
export interface InstallPlan {
  cluster: string;
  master: string;
  replicas: string[];
  version?: string;
  port?: number;
  pool: boolean;
}

/** Parses the arguments of `/replica install`; throws a usage error naming what is wrong. */
export function parseInstall(args: string[]): InstallPlan {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${USAGE.split('\n')[0]}`);
  const [cluster, ...rest] = args;
  if (!cluster || cluster.includes('=')) throw usage('name the cluster first.');
  if (!NAME_RE.test(cluster))
    throw usage(
      `\`${cluster.slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _, up to 31 characters, starting with a letter).`,
    );
  const kv = new Map<string, string>();
  for (const a of rest) {
    const m = /^([a-z]+)=(.*)$/.exec(a);
    if (!m?.[1]) throw usage(`\`${a.slice(0, 40)}\` is not key=value.`);
    if (kv.has(m[1])) throw usage(`${m[1]}= given twice.`);
    kv.set(m[1], m[2] ?? '');
  }
  for (const k of kv.keys())
    if (!['master', 'slaves', 'replicas', 'version', 'port', 'pool'].includes(k)) throw usage(`unknown option ${k}=.`);
  const master = kv.get('master');
  const slaves = kv.get('slaves') ?? kv.get('replicas');
  if (!master) throw usage('master=<host> is missing.');
  if (!slaves) throw usage('slaves=<host>[,<host>…] is missing.');
  const replicas = slaves.split(',').map((s) => s.trim());
  for (const h of [master, ...replicas]) if (!HOST_RE.test(h)) throw usage(`\`${h.slice(0, 40)}\` is not a host name.`);
  const all = [master, ...replicas];
  const dup = all.find((h, i) => all.indexOf(h) !== i);
  if (dup) throw usage(`${dup} is named twice: each node needs its own host.`);
  const version = kv.get('version');
  if (version !== undefined && !VERSION_RE.test(version))
    throw usage(`\`${version.slice(0, 20)}\` is not a version (e.g. 10.11).`);
  const portText = kv.get('port');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1024 || port + all.length - 1 > 65535)
      throw usage(`port=${portText.slice(0, 10)} must be a base port from 1024 to ${65535 - all.length + 1}.`);
  }
  const pool = kv.get('pool');
  if (pool !== undefined && !['yes', 'no'].includes(pool)) throw usage('pool= takes yes or no.');
  return { cluster, master, replicas, version, port, pool: pool === 'yes' };
}

type NodeState = { host: string; role: 'master' | 'replica'; port: number; state: string; ok?: boolean };

/** Creates the `/replica` command. */
export function createReplicaCommand(deps: ReplicaCommandDeps): CommandModule {
  const range = deps.portRange ?? { from: 21000, to: 29000 };
  const installTimeoutMs = deps.installTimeoutMs ?? 180_000;

  const watching = deps.watch
    ? createWatchCommands({ ...deps.watch, policy: deps.policy, clusters: deps.clusters, chat: deps.chat })
    : null;
  const switching = deps.switchover ? createSwitchoverCommand({ ...deps, ...deps.switchover }) : null;

  // Installs this process is running (their tokens): /replica remove leaves those alone.
  const installingHere = new Set<string>();
  const sqlLimits = { perUser: 2, perCluster: 4, timeoutMs: 30_000, ...deps.sqlLimits };
  const sqlSlots = createSqlSlots(sqlLimits);

  const ago = (d?: Date) => (d ? `${formatDuration(Math.max(0, Date.now() - d.getTime()))} ago` : 'earlier');

  function alreadyThere(c: ClusterRecord): GearopsError {
    if (c.state === 'installing')
      return new GearopsError(
        ErrorCode.Usage,
        `cluster ${c.name} is being installed (started ${ago(c.createdAt)}); if that install was interrupted, /replica remove ${c.name} stops what is left of it.`,
      );
    if (c.state === 'removing')
      return new GearopsError(
        ErrorCode.Usage,
        `cluster ${c.name} is being removed; if that removal did not finish, /replica remove ${c.name} tries again.`,
      );
    return new GearopsError(
      ErrorCode.Usage,
      `cluster ${c.name} already exists: choose another name or /replica remove ${c.name} first.`,
    );
  }

  async function allowed(
    inv: CommandInvocation,
    action: PolicyAction,
    hosts: string[] = [],
  ): Promise<{ ok: true } | { ok: false; outcome: CommandOutcome }> {
    for (const host of hosts.length ? hosts : [undefined]) {
      const d = deps.policy.checkAction({ action, host, principal: policyPrincipal(inv.principal) });
      if (!d.allow) {
        await inv.reply.ephemeral(textMessage(`Denied: ${d.reason}`));
        return { ok: false, outcome: { status: 'denied', rule: d.rule, host, summary: d.reason } };
      }
    }
    return { ok: true };
  }

  /**
   * The clusters `action` may show: all of them under a rule for every host; else those all of whose nodes'
   * hosts the user's host-scoped rules cover (a rule for test-* shows the test clusters, not the others).
   */
  async function visibleClusters(
    inv: CommandInvocation,
    action: PolicyAction,
    clusters: ClusterRecord[],
  ): Promise<{ ok: true; shown: ClusterRecord[]; hidden: number } | { ok: false; outcome: CommandOutcome }> {
    const principal = policyPrincipal(inv.principal);
    const everywhere = deps.policy.checkAction({ action, principal });
    if (everywhere.allow) return { ok: true, shown: clusters, hidden: 0 };
    const covered = (c: ClusterRecord) =>
      c.nodes.length > 0 && c.nodes.every((n) => deps.policy.checkAction({ action, host: n.host, principal }).allow);
    const shown = clusters.filter(covered);
    if (shown.length === 0) {
      await inv.reply.ephemeral(textMessage(`Denied: ${everywhere.reason}`));
      return { ok: false, outcome: { status: 'denied', rule: everywhere.rule, summary: everywhere.reason } };
    }
    return { ok: true, shown, hidden: clusters.length - shown.length };
  }

  /** Says how many clusters the user's rules leave out, when any. */
  const hiddenNote = (hidden: number): Block[] =>
    hidden ? [{ type: 'context', text: `${hidden} cluster(s) on hosts your rules do not cover are not shown` }] : [];

  async function job<V>(
    inv: CommandInvocation,
    capability: string,
    host: string,
    args: unknown,
    onEvent?: (text: string) => void,
    timeoutMs?: number,
    id?: string,
  ): Promise<V> {
    const r: JobResult<V> = await deps.dispatcher.submit<V>({
      capability,
      host,
      args,
      ...(id ? { id } : {}),
      requester: requesterOf(inv.principal),
      timeoutMs: timeoutMs ?? 30_000,
      onEvent: (ev) => {
        if (ev.type === 'step' && onEvent)
          onEvent(
            `${ev.step}${ev.state === 'ok' ? ' ✓' : ev.state === 'fail' ? ' ✗' : '…'}${ev.detail ? ` ${ev.detail}` : ''}`,
          );
        else if (ev.type === 'rerun' && onEvent)
          onEvent(`the worker on ${host} was replaced mid-job; installing there again…`);
      },
    });
    if (!r.ok || r.value === null) {
      const message = r.error?.message ?? 'no result';
      // Worker errors name their host already ("server2: port 24001 is taken").
      throw new GearopsError(
        (r.error?.code as typeof ErrorCode.Sandbox) ?? ErrorCode.Sandbox,
        message.startsWith(`${host}:`) ? message : `${host}: ${message}`,
        { data: { host, capability } },
      );
    }
    return r.value;
  }

  function progress(plan: InstallPlan, nodes: NodeState[], status: string): ChatMessage {
    return {
      text: `/replica install ${plan.cluster}: ${status}`,
      blocks: [
        {
          type: 'text',
          text: `Installing replication cluster *${plan.cluster}*${plan.version ? ` (version ${plan.version})` : ''}`,
        },
        {
          type: 'table',
          columns: ['node', 'role', 'host:port', 'state'],
          rows: nodes.map((n, i) => [
            String(i + 1),
            n.role,
            `${n.host}:${n.port || '?'}`,
            `${n.ok === false ? '✗ ' : n.ok ? '✓ ' : ''}${n.state}`,
          ]),
        },
        { type: 'context', text: status },
      ],
    };
  }

  async function install(inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
    const plan = parseInstall(args);
    const hosts = [plan.master, ...plan.replicas];
    const gate = await allowed(inv, 'replica.install', hosts);
    if (!gate.ok) return gate.outcome;
    if (plan.pool) {
      if (!deps.pool) throw new GearopsError(ErrorCode.Usage, 'pool=yes needs the pool (the store is not configured).');
      const p = await allowed(inv, 'pool.add', hosts);
      if (!p.ok) return p.outcome;
    }
    const existing = await deps.clusters.get(plan.cluster);
    if (existing) throw alreadyThere(existing);

    // Check every host, version and port before anything is built, and list every problem at once.
    const live = await deps.dispatcher.hosts();
    const problems: string[] = [];
    for (const h of hosts) {
      const info = live.find((x) => x.host === h);
      if (!info) problems.push(`${h}: no worker is registered for this host`);
      else if (!info.capabilities.includes('sandbox.install'))
        problems.push(
          `${h}: its worker registers no sandbox capabilities (this build's workers have no sandbox support yet, or the host has no usable server build)`,
        );
    }
    if (problems.length) throw new GearopsError(ErrorCode.Usage, `nothing was built:\n• ${problems.join('\n• ')}`);

    let base = plan.port;
    let checks: SandboxCheckValue[] = [];
    const candidates =
      base !== undefined
        ? [base]
        : Array.from(
            { length: 5 },
            (_, i) => range.from + ((hashName(plan.cluster) + i * 97) % Math.floor((range.to - range.from) / 10)) * 10,
          );
    for (const candidate of candidates) {
      checks = await Promise.all(
        hosts.map((h, i) =>
          job<SandboxCheckValue>(inv, 'sandbox.check', h, { ports: [candidate + i], version: plan.version }),
        ),
      );
      const portProblems = checks.flatMap((c, i) =>
        c.ports
          .filter((p) => !p.free)
          .map((p) => `${hosts[i]}: port ${p.port} is taken${p.reason ? ` (${p.reason})` : ''}`),
      );
      if (portProblems.length === 0) {
        base = candidate;
        break;
      }
      if (plan.port !== undefined) problems.push(...portProblems);
    }
    if (base === undefined) problems.push('no free port range was found on every host; give one with port=<base>');
    checks.forEach((c, i) => {
      const h = hosts[i] ?? '?';
      if (
        plan.version &&
        !c.versions.some((v) => v.version === plan.version || v.version.startsWith(`${plan.version}.`))
      ) {
        problems.push(
          `${h}: version ${plan.version} is not available (has: ${c.versions.map((v) => v.version).join(', ') || 'none'})`,
        );
      }
      const clash = c.sandboxes.find((s) => s.name === plan.cluster);
      if (clash)
        problems.push(
          `${h}: a sandbox named ${plan.cluster} already exists (port ${clash.port}, ${clash.running ? 'running' : 'stopped'})`,
        );
      for (const p of c.problems ?? []) problems.push(`${h}: ${p}`);
    });
    if (problems.length)
      throw new GearopsError(ErrorCode.Usage, `nothing was built:\n• ${[...new Set(problems)].join('\n• ')}`);
    const basePort = base as number;
    const version = plan.version ?? pickVersion(checks);

    const nodes: NodeState[] = hosts.map((h, i) => ({
      host: h,
      role: i === 0 ? 'master' : 'replica',
      port: basePort + i,
      state: 'waiting',
    }));
    // Names this install's jobs, so that when one node fails the others can be told to stop (sandbox.cancel)
    // instead of, say, a replica waiting a minute for a master that will never start.
    const token = randomUUID();
    // Recorded before anything is built, as installing: if this bot dies half-way, the cluster is still
    // known (/replica list shows it; /replica remove stops what is left of the install and removes it).
    const record: ClusterRecord = {
      name: plan.cluster,
      version,
      credentials: deps.credentialsName ?? "the bot's state dir (GEAROPS_STATE_DIR)",
      createdBy: inv.principal.userId,
      state: 'installing',
      installToken: token,
      nodes: hosts.map((h, i): ClusterNode => ({
        host: h,
        address: checks[i]?.address ?? '127.0.0.1',
        port: basePort + i,
        role: i === 0 ? 'master' : 'replica',
        serverId: i + 1,
        sandbox: plan.cluster,
      })),
    };
    try {
      await deps.clusters.create(record);
    } catch (err) {
      if (!isGearopsError(err, ErrorCode.Conflict)) throw err;
      const now = await deps.clusters.get(plan.cluster);
      throw now ? alreadyThere(now) : err;
    }
    // This cluster's own passwords (the demo's well-known ones only on loopback addresses, when asked for).
    const creds =
      deps.credentials?.demo && record.nodes.every((n) => isLoopbackAddress(n.address))
        ? DEMO_CREDENTIALS
        : generateClusterCredentials();
    try {
      deps.credentials?.store.save(plan.cluster, creds);
    } catch (err) {
      await deps.clusters.remove(plan.cluster).catch(() => undefined);
      throw new GearopsError(
        ErrorCode.Config,
        "nothing was built: cannot keep the cluster's passwords in the bot's state dir (GEAROPS_STATE_DIR): " +
          (err as Error).message,
        { cause: err },
      );
    }
    installingHere.add(token);
    const started = Date.now();
    let ref: MessageRef;
    try {
      ref = await inv.reply.post(progress(plan, nodes, 'checked every host; installing the master…'));
    } catch (err) {
      // Nothing was built: forget the record too.
      installingHere.delete(token);
      await deps.clusters.remove(plan.cluster).catch(() => undefined);
      deps.credentials?.store.remove(plan.cluster);
      throw err;
    }
    let lastPush = 0;
    const push = (status: string, force = false) => {
      if (!force && Date.now() - lastPush < 500) return;
      lastPush = Date.now();
      void inv.reply.update(ref, progress(plan, nodes, status)).catch(() => undefined);
    };
    const made: Array<{ host: string; name: string }> = [];
    let firstFailure: unknown = null;
    const inFlight = new Set<number>();
    const cancelOthers = async (failed: number) => {
      const others = [...inFlight].filter((j) => j !== failed);
      await Promise.allSettled(
        others.map((j) => job(inv, 'sandbox.cancel', nodes[j]!.host, { name: plan.cluster, token }, undefined, 10_000)),
      );
    };
    const installNode = async (i: number, master?: SandboxInstallValue): Promise<SandboxInstallValue> => {
      const n = nodes[i]!;
      n.state = 'installing';
      push(`installing ${n.role} on ${n.host}…`, true);
      inFlight.add(i);
      // The passwords travel sealed for this one job: gearmand and whoever reads its queue see ciphertext.
      const jobId = randomUUID();
      const secrets = deps.credentials?.seal(jobId, JSON.stringify(creds));
      try {
        const v = await job<SandboxInstallValue>(
          inv,
          'sandbox.install',
          n.host,
          {
            name: plan.cluster,
            cluster: plan.cluster,
            version,
            port: n.port,
            serverId: i + 1,
            role: n.role,
            master: master ? { address: master.address, port: master.port } : undefined,
            token,
            ...(secrets ? { secrets } : {}),
          },
          (step) => {
            n.state = step;
            push(`installing ${n.role} on ${n.host}…`);
          },
          installTimeoutMs,
          jobId,
        );
        made.push({ host: n.host, name: plan.cluster });
        n.state = `running ${v.flavour} ${v.version}${n.role === 'replica' ? ', replicating' : ''}`;
        n.ok = true;
        return v;
      } catch (err) {
        const first = firstFailure === null;
        if (first) firstFailure = err;
        n.state =
          first || !isGearopsError(err, ErrorCode.Cancelled)
            ? `failed: ${(err as Error).message}`
            : 'stopped: another node failed';
        n.ok = false;
        // The worker removes a half-made node itself; a node that did finish is removed below.
        if (first) await cancelOthers(i);
        throw err;
      } finally {
        inFlight.delete(i);
      }
    };

    try {
      // The master's address is known from its check, so the replicas are built at the same time as
      // the master; each starts replicating once the master accepts connections.
      const masterAddress = checks[0]?.address ?? '127.0.0.1';
      push('checked every host; installing the master and the replicas in parallel…', true);
      const settled = await Promise.allSettled([
        installNode(0),
        ...plan.replicas.map((_, k) =>
          installNode(k + 1, { address: masterAddress, port: basePort } as SandboxInstallValue),
        ),
      ]);
      if (firstFailure !== null) throw firstFailure;
      const master = (settled[0] as PromiseFulfilledResult<SandboxInstallValue>).value;
      settled.shift();
      const replicaValues = settled.map((s) => (s as PromiseFulfilledResult<SandboxInstallValue>).value);
      push('verifying replication: writing on the master, reading on every replica…', true);
      const verified = await deps.probe.verifyReplication(
        { address: master.address, port: master.port, cluster: plan.cluster },
        replicaValues.map((r) => ({ address: r.address, port: r.port, cluster: plan.cluster })),
      );
      const bad = verified.filter((v) => !v.ok);
      if (bad.length)
        throw new GearopsError(
          ErrorCode.Sandbox,
          `replication check failed: ${bad.map((b) => `${b.node.address}:${b.node.port} ${b.detail}`).join('; ')}`,
        );
      if (!(await deps.clusters.markReady(plan.cluster, master.version))) {
        throw new GearopsError(
          ErrorCode.Conflict,
          `the record of cluster ${plan.cluster} was removed while it was being installed (/replica remove)`,
        );
      }
      let poolNote = '';
      if (plan.pool && deps.pool) poolNote = await addToPool(inv, record);
      const summary = `cluster ${plan.cluster} ready in ${formatDuration(Date.now() - started)}: master ${hosts[0]}:${basePort}, ${plan.replicas.length} replica(s) replicating (verified by a write on the master)${poolNote}`;
      await inv.reply.update(ref, progress(plan, nodes, `✓ ${summary}`));
      return { status: 'ok', summary, host: plan.master, durationMs: Date.now() - started };
    } catch (err) {
      const reason = isGearopsError(err) ? err.message : (err as Error).message;
      push(`✗ failed: ${reason} — removing what was made…`, true);
      const cleanup = await Promise.allSettled(
        made.map((m) => job(inv, 'sandbox.remove', m.host, { name: m.name, undo: 'install' })),
      );
      const leftovers = cleanup
        .map((c, i) => (c.status === 'rejected' ? `${made[i]?.host}: ${(c.reason as Error).message}` : null))
        .filter(Boolean);
      let status: string;
      if (leftovers.length) {
        // The record stays (installing) so that /replica remove can finish the job once the host is back.
        status = `✗ failed: ${reason}. Could not remove: ${leftovers.join('; ')}. The cluster stays listed as installing: /replica remove ${plan.cluster} tries again.`;
      } else {
        const forgotten = await deps.clusters.remove(plan.cluster).then(
          () => null,
          (e: Error) => e.message,
        );
        if (!forgotten) deps.credentials?.store.remove(plan.cluster);
        status = forgotten
          ? `✗ failed: ${reason}. Removed every node that was made, but not the cluster's record (${forgotten}): /replica remove ${plan.cluster} once the store answers.`
          : `✗ failed: ${reason}. Removed every node that was made; nothing is left behind.`;
      }
      await inv.reply.update(ref, progress(plan, nodes, status));
      return { status: 'failed', summary: status, host: plan.master };
    } finally {
      installingHere.delete(token);
    }
  }

  /** Posts one pool change in the pool channel (a failed post is logged by the sink's caller, never fatal: the change is made). */
  async function announcePool(ch: PoolChange): Promise<void> {
    if (deps.chat && deps.poolChannel)
      await deps.chat.post(deps.poolChannel, poolChangeMessage(ch)).catch(() => undefined);
  }

  async function addToPool(inv: CommandInvocation, c: ClusterRecord): Promise<string> {
    const reason = `/replica install ${c.name} pool=yes`;
    const notes: string[] = [];
    for (const n of c.nodes) {
      const type: PoolRole[] = n.role === 'master' ? ['READ', 'WRITE'] : ['READ'];
      try {
        await announcePool(
          await deps.pool!.add({ host: n.address, port: n.port, sock: '', type }, inv.principal.userId, reason),
        );
      } catch (err) {
        notes.push(`${n.address}:${n.port}: ${(err as Error).message}`);
      }
    }
    return notes.length ? `; pool: ${notes.join('; ')}` : '; added to the pool (master READ,WRITE, replicas READ)';
  }

  async function status(inv: CommandInvocation, name?: string): Promise<CommandOutcome> {
    let clusters: ClusterRecord[];
    let hidden = 0;
    if (name) {
      const c = await deps.clusters.get(name);
      // One cluster: allowed when rules cover every host of its nodes (one that does not exist: a rule for all hosts).
      const gate = await allowed(
        inv,
        'replica.status',
        c?.nodes.map((n) => n.host),
      );
      if (!gate.ok) return gate.outcome;
      if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
      clusters = [c];
    } else {
      const v = await visibleClusters(inv, 'replica.status', await deps.clusters.list());
      if (!v.ok) return v.outcome;
      clusters = v.shown;
      hidden = v.hidden;
    }
    if (clusters.length === 0) {
      await inv.reply.ephemeral(
        textMessage('No clusters yet. Install one with /replica install <cluster> master=<host> slaves=<host>,<host>.'),
      );
      return { status: 'ok', summary: 'no clusters' };
    }
    const blocks: Block[] = [];
    let broken = 0;
    for (const c of clusters) {
      if (!c) continue;
      if (c.state === 'installing') {
        const here = !!c.installToken && installingHere.has(c.installToken);
        blocks.push({
          type: 'text',
          text: `*${c.name}* — being installed (started ${ago(c.createdAt)} by ${mention(c.createdBy)})${here ? '' : `; if that install was interrupted, /replica remove ${c.name} stops what is left of it`}`,
        });
        continue;
      }
      if (c.state === 'removing') {
        blocks.push({
          type: 'text',
          text: `*${c.name}* — being removed; if that removal did not finish, /replica remove ${c.name} tries again`,
        });
        continue;
      }
      const statuses = await Promise.all(c.nodes.map((n) => deps.probe.status(nodeAddress(c, n))));
      const rows = c.nodes.map((n, i) => {
        const s = statuses[i]!;
        const bad = isBroken(n, s);
        if (bad) broken++;
        return [
          bad ? '✗ BROKEN' : '✓',
          roleOf(c, n),
          n.host === n.address ? `${n.address}:${n.port}` : `${n.host} ${n.address}:${n.port}`,
          s.version ?? '?',
          ...replicationCells(n, s),
        ];
      });
      const kind = c.kind === 'watched' ? ', watched' : '';
      blocks.push({ type: 'text', text: `*${c.name}* — ${c.nodes.length} nodes, version ${c.version}${kind}` });
      blocks.push({
        type: 'table',
        columns: ['', 'role', 'node', 'version', 'IO', 'SQL', 'behind', 'last error', 'position'],
        rows,
      });
    }
    blocks.push({ type: 'context', text: broken ? `${broken} broken node(s)` : 'every node healthy' });
    blocks.push(...hiddenNote(hidden));
    await inv.reply.post({
      text: broken ? `/replica status: ${broken} broken node(s)` : '/replica status: all healthy',
      blocks,
    });
    return { status: 'ok', summary: `${broken} broken` };
  }

  async function list(inv: CommandInvocation): Promise<CommandOutcome> {
    const v = await visibleClusters(inv, 'replica.list', await deps.clusters.list());
    if (!v.ok) return v.outcome;
    const all = v.shown;
    await inv.reply.ephemeral(
      all.length
        ? {
            text: `${all.length} cluster(s)`,
            blocks: [
              {
                type: 'table',
                columns: ['cluster', 'state', 'kind', 'version', 'master', 'replicas', 'created by'],
                rows: all.map((c) => [
                  c.name,
                  c.state === 'installing'
                    ? `installing (started ${ago(c.createdAt)})`
                    : c.state === 'removing'
                      ? 'removing'
                      : 'ready',
                  c.kind === 'watched' ? 'watched' : 'built',
                  c.version,
                  nodeName(c.nodes.find((n) => n.role === 'master')),
                  c.nodes
                    .filter((n) => n.role === 'replica')
                    .map(nodeName)
                    .join(', '),
                  c.createdBy,
                ]),
              },
              ...hiddenNote(v.hidden),
            ],
          }
        : textMessage('No clusters yet.'),
    );
    return { status: 'ok', summary: `${all.length} clusters` };
  }

  async function diagnose(inv: CommandInvocation, host?: string): Promise<CommandOutcome> {
    if (!host || !HOST_RE.test(host))
      throw new GearopsError(ErrorCode.Usage, `name a host.\nUsage: /replica diagnose <host>`);
    const gate = await allowed(inv, 'replica.diagnose', [host]);
    if (!gate.ok) return gate.outcome;
    const c = await job<SandboxCheckValue>(inv, 'sandbox.check', host, {});
    await inv.reply.ephemeral({
      text: `diagnose ${host}`,
      blocks: [
        {
          type: 'text',
          text: `*${host}*: ${c.versions.length} server build(s), ${(c.freeDiskBytes / 2 ** 30).toFixed(1)} GiB free for sandboxes`,
        },
        { type: 'table', columns: ['version', 'flavour'], rows: c.versions.map((v) => [v.version, v.flavour]) },
        c.sandboxes.length
          ? {
              type: 'table',
              columns: ['sandbox', 'version', 'port', 'state'],
              rows: c.sandboxes.map((s) => [s.name, s.version, String(s.port), s.running ? 'running' : 'stopped']),
            }
          : { type: 'context', text: 'no sandboxes installed' },
        ...(c.problems?.length ? [{ type: 'text' as const, text: `Problems:\n• ${c.problems.join('\n• ')}` }] : []),
      ],
    });
    return { status: 'ok', host, summary: `${c.versions.length} versions, ${c.sandboxes.length} sandboxes` };
  }

  async function remove(inv: CommandInvocation, name?: string): Promise<CommandOutcome> {
    if (!name) throw new GearopsError(ErrorCode.Usage, 'name the cluster.\nUsage: /replica remove <cluster>');
    const c = await deps.clusters.get(name);
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
    if (c.kind === 'watched')
      throw new GearopsError(
        ErrorCode.Usage,
        `cluster ${name} is watched, not built by gearops: its servers are never removed. ` +
          `/replica unwatch ${name} forgets it and touches no server.`,
      );
    const gate = await allowed(
      inv,
      'replica.remove',
      c.nodes.map((n) => n.host),
    );
    if (!gate.ok) return gate.outcome;
    const unfinished = c.state === 'installing';
    if (unfinished && c.installToken && installingHere.has(c.installToken)) {
      await inv.reply.ephemeral(
        textMessage(
          `Not removed: cluster ${name} is being installed right now by this bot. Wait until it is ready, or fails (a failed install removes what it made).`,
        ),
      );
      return { status: 'refused', summary: 'still installing here' };
    }
    // Nodes still in the load-balancer pool leave it first, so applications stop using them before they stop.
    // Looked up before asking (a store error here ends the command with nothing changed).
    const inPool: Array<{ node: ClusterNode; type: PoolRole[] }> = [];
    if (deps.pool) {
      for (const n of c.nodes) {
        const row = await deps.pool.get(n.address, n.port);
        if (row) inPool.push({ node: n, type: row.type });
      }
      if (inPool.length) {
        const p = await allowed(
          inv,
          'pool.del',
          inPool.map((x) => x.node.host),
        );
        if (!p.ok) return p.outcome;
      }
    }
    const poolList = inPool.map((x) => `${x.node.address}:${x.node.port} (${showPoolType(x.type)})`).join(', ');
    const what = unfinished
      ? `Cluster *${name}*'s install did not finish (started ${ago(c.createdAt)} by ${mention(c.createdBy)}; the bot running it stopped, or another bot instance still runs it). Remove it? This stops what is left of the install and deletes whatever it made of ${c.nodes.length} servers: ${c.nodes.map(nodeName).join(', ')}.`
      : c.state === 'removing'
        ? `Cluster *${name}*'s removal did not finish. Remove what is left of its ${c.nodes.length} servers: ${c.nodes.map(nodeName).join(', ')}?`
        : `Remove cluster *${name}*? This stops and deletes ${c.nodes.length} servers: ${c.nodes.map(nodeName).join(', ')}.`;
    const question = `${what}${inPool.length ? ` It first takes ${poolList} out of the load-balancer pool.` : ''}`;
    const yes = await inv.reply.confirm(textMessage(question), { yesLabel: `Remove ${name}` });
    if (!yes) {
      await inv.reply.ephemeral(textMessage(`Not removed: ${name} is untouched.`));
      return { status: 'refused', summary: 'not confirmed' };
    }
    const ref = await inv.reply.post(textMessage(`${mention(inv.principal.userId)} is removing cluster *${name}*…`));
    const outOfPool: string[] = [];
    const reason = `/replica remove ${name}`;
    let writeLeft = false;
    for (const x of inPool) {
      const server = `${x.node.address}:${x.node.port}`;
      try {
        await announcePool(await deps.pool!.del(x.node.address, x.node.port, inv.principal.userId, reason));
        outOfPool.push(server);
      } catch (err) {
        // Someone took it out meanwhile: that is what was wanted.
        if (isGearopsError(err, ErrorCode.NotFound)) continue;
        const done = outOfPool.length ? ` Already out of the pool: ${outOfPool.join(', ')}.` : '';
        const msg = `✗ cluster ${name} not removed: taking ${server} out of the pool failed: ${(err as Error).message}. No server was stopped.${done}`;
        await inv.reply.update(ref, textMessage(msg));
        return { status: 'failed', summary: msg };
      }
    }
    if (inPool.some((x) => x.type.includes('WRITE'))) {
      // A user's explicit removal may leave the pool without a WRITE server; it is said, not refused.
      writeLeft = (await deps.pool!.list().catch(() => null))?.some((n) => n.type.includes('WRITE')) ?? true;
    }
    // From here its servers go down on purpose: the monitor stops watching it (and a removal that does not
    // finish leaves it 'removing', unwatched, for /replica remove to finish).
    try {
      await deps.clusters.markRemoving(name);
    } catch (err) {
      const msg = `✗ cluster ${name} not removed: the store did not answer (${(err as Error).message}). No server was stopped.${outOfPool.length ? ` Already out of the pool: ${outOfPool.join(', ')}.` : ''}`;
      await inv.reply.update(ref, textMessage(msg));
      return { status: 'failed', summary: msg };
    }
    if (c.installToken) {
      // Whatever of an unfinished install still runs on the workers stops (and removes what it made); what finished is removed below.
      const token = c.installToken;
      await Promise.allSettled(
        c.nodes.map((n) => job(inv, 'sandbox.cancel', n.host, { name: n.sandbox, token }, undefined, 10_000)),
      );
    }
    const results = await Promise.allSettled(
      c.nodes.map((n) => job(inv, 'sandbox.remove', n.host, { name: n.sandbox }, undefined, 60_000)),
    );
    const failures = results
      .map((r, i) =>
        r.status === 'rejected' &&
        !isGearopsError(r.reason, ErrorCode.NotFound) &&
        !/not found|no sandbox/i.test((r.reason as Error).message)
          ? `${nodeName(c.nodes[i])}: ${(r.reason as Error).message}`
          : null,
      )
      .filter(Boolean);
    const poolNote = outOfPool.length
      ? ` Taken out of the pool: ${outOfPool.join(', ')}.${inPool.some((x) => x.type.includes('WRITE')) && !writeLeft ? ' ⚠ The pool now has no WRITE server.' : ''}`
      : '';
    if (failures.length) {
      await inv.reply.update(
        ref,
        textMessage(
          `✗ cluster ${name} only partly removed: ${failures.join('; ')}.${poolNote} It stays listed as removing (not monitored): /replica remove ${name} tries again.`,
        ),
      );
      return { status: 'failed', summary: failures.join('; ') };
    }
    await deps.clusters.remove(name);
    deps.credentials?.store.remove(name);
    await inv.reply.update(
      ref,
      textMessage(
        `✓ cluster ${name} removed: ${c.nodes.length} servers stopped and deleted, record removed.${poolNote}`,
      ),
    );
    return { status: 'ok', summary: `removed ${name}` };
  }

  async function sql(inv: CommandInvocation, name: string | undefined, statement: string): Promise<CommandOutcome> {
    if (!name || !statement) throw new GearopsError(ErrorCode.Usage, 'Usage: /replica sql <cluster> <statement>');
    const c = await deps.clusters.get(name);
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
    if ((c.state ?? 'ready') !== 'ready')
      throw new GearopsError(
        ErrorCode.Usage,
        `cluster ${name} is ${c.state === 'installing' ? 'being installed; try again once /replica list shows it ready' : 'being removed'}.`,
      );
    const gate = await allowed(
      inv,
      'replica.sql',
      c.nodes.map((n) => n.host),
    );
    if (!gate.ok) return gate.outcome;
    const d = deps.policy.checkSql({ statement, principal: policyPrincipal(inv.principal) });
    if (!d.allow) {
      await inv.reply.ephemeral(textMessage(`Denied: ${d.reason}`));
      return { status: 'denied', rule: d.rule, summary: d.reason };
    }
    // A slot per user and per cluster, held until every node answered or its statement was ended at the time-out.
    const slot = sqlSlots.acquire(inv.principal.userId, name);
    if (!slot.ok) {
      const why =
        slot.limit === 'user'
          ? `you already have ${slot.running} /replica sql statements running, the limit per user ` +
            `(GEAROPS_SQL_PER_USER=${slot.max})`
          : `cluster ${name} already runs ${slot.running} /replica sql statements, the limit per cluster ` +
            `(GEAROPS_SQL_PER_CLUSTER=${slot.max})`;
      const msg = `Not run: ${why}. Try again when one has finished; each ends within ${formatDuration(sqlLimits.timeoutMs)}.`;
      await inv.reply.ephemeral(textMessage(msg));
      return { status: 'refused', summary: `sql limit per ${slot.limit} (${slot.max}) reached` };
    }
    let results: Array<PromiseSettledResult<{ columns: string[]; rows: string[][] }>>;
    try {
      results = await Promise.allSettled(
        // As the cluster's read-only account, in a read-only transaction. At the time-out KILL QUERY from another
        // connection ends it; the server's own max_statement_time, a second later, ends it should that fail.
        c.nodes.map((n) =>
          deps.probe.exec(nodeAddress(c, n), statement, {
            readOnly: true,
            maxStatementTimeS: Math.ceil(sqlLimits.timeoutMs / 1000) + 1,
            timeoutMs: sqlLimits.timeoutMs,
          }),
        ),
      );
    } finally {
      slot.release();
    }
    const blocks: Block[] = [
      // The statement in a code block: backticks in it (quoted identifiers) cannot break out of an inline span.
      { type: 'text', text: `${mention(inv.principal.userId)} ran this on every node of *${name}*:` },
      { type: 'code', text: statement },
    ];
    results.forEach((r, i) => {
      const n = c.nodes[i]!;
      blocks.push({ type: 'text', text: `*${n.role} ${nodeName(n)}*` });
      if (r.status === 'fulfilled') {
        blocks.push(
          r.value.rows.length
            ? resultBlock(r.value.columns, redactRows(r.value.columns, r.value.rows.slice(0, 50)))
            : { type: 'context', text: '(no rows)' },
        );
        if (r.value.rows.length > 50) blocks.push({ type: 'context', text: `first 50 of ${r.value.rows.length} rows` });
      } else {
        blocks.push({ type: 'context', text: `error: ${(r.reason as Error).message}` });
      }
    });
    await inv.reply.post({ text: `/replica sql ${name}`, blocks });
    return {
      status: results.every((r) => r.status === 'fulfilled') ? 'ok' : 'failed',
      rule: d.rule,
      summary: statement,
    };
  }

  async function help(inv: CommandInvocation): Promise<CommandOutcome> {
    const lines = deps.policy.describe(policyPrincipal(inv.principal));
    await inv.reply.ephemeral({
      text: 'Usage: /replica',
      blocks: [
        { type: 'code', text: USAGE },
        { type: 'text', text: '*What the policy lets you do:*' },
        { type: 'code', text: lines.join('\n') || '(nothing)' },
      ],
    });
    return { status: 'ok', summary: 'help' };
  }

  return {
    name: 'replica',
    description: 'Install, check and remove MySQL replication sandboxes',
    usage:
      'install <cluster> master=<host> slaves=<h1,h2> | status [cluster] | list | diagnose <host> | remove <cluster> | sql <cluster> <statement> | watch <cluster> <host:port> | unwatch <cluster>',
    async handle(inv) {
      const [sub, ...args] = words(inv.text);
      switch (sub) {
        case 'install':
          return install(inv, args);
        case 'status':
          return status(inv, args[0]);
        case 'list':
          return list(inv);
        case 'diagnose':
          return diagnose(inv, args[0]);
        case 'remove':
          return remove(inv, args[0]);
        case 'sql':
          return sql(inv, args[0], inv.text.trim().replace(/^sql\s+\S+\s*/, ''));
        case 'watch':
        case 'unwatch':
          if (!watching) throw new GearopsError(ErrorCode.Usage, `/replica ${sub} needs the store.`);
          return sub === 'watch' ? watching.watch(inv, args) : watching.unwatch(inv, args[0]);
        case 'switchover':
          if (!switching) throw new GearopsError(ErrorCode.Usage, '/replica switchover needs the store.');
          return switching(inv, args);
        case undefined:
        case 'help':
          return help(inv);
        default:
          await inv.reply.ephemeral(textMessage(`Unknown subcommand \`${sub.slice(0, 20)}\`.\nUsage:\n${USAGE}`));
          return { status: 'refused', summary: 'unknown subcommand' };
      }
    },
  };
}

/** A node's role as shown: a replica that others replicate from is an intermediate master. */
function roleOf(c: ClusterRecord, n: ClusterNode): string {
  const self = `${n.address}:${n.port}`;
  if (n.role === 'replica' && c.nodes.some((o) => o.replicatesFrom === self)) return 'intermediate';
  return n.role;
}

function nodeName(n: ClusterNode | undefined): string {
  return n ? `${n.host}:${n.port}` : '?';
}

function hashName(s: string): number {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h;
}

/** The newest version every host has. */
function pickVersion(checks: SandboxCheckValue[]): string {
  const sets = checks.map((c) => new Set(c.versions.map((v) => v.version)));
  const common = [...(sets[0] ?? [])].filter((v) => sets.every((s) => s.has(v)));
  const cmp = (a: string, b: string) => {
    const pa = a.split('.').map(Number);
    const pb = b.split('.').map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++)
      if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  };
  const best = common.sort(cmp).at(-1);
  if (!best)
    throw new GearopsError(
      ErrorCode.Usage,
      `nothing was built: no server version is available on every host (${checks.map((c) => `${c.host}: ${c.versions.map((v) => v.version).join(', ') || 'none'}`).join('; ')})`,
    );
  return best;
}

/** True when a node needs attention. */
export function isBroken(n: ClusterNode, s: NodeStatus): boolean {
  if (!s.reachable) return true;
  if (n.role === 'replica') return s.ioRunning !== 'Yes' || s.sqlRunning !== 'Yes';
  return false;
}

function replicationCells(n: ClusterNode, s: NodeStatus): string[] {
  if (!s.reachable) return ['-', '-', '-', `unreachable: ${s.error ?? 'no answer'}`, '-'];
  const pos = s.gtid ? `gtid ${s.gtid}` : s.binlogFile ? `${s.binlogFile}:${s.binlogPos ?? '?'}` : '-';
  if (n.role === 'master' && !s.isReplica) return ['-', '-', '-', '-', pos];
  const err = s.lastSqlErrno
    ? `SQL ${s.lastSqlErrno}: ${s.lastSqlError ?? ''}`
    : s.lastIoErrno
      ? `IO ${s.lastIoErrno}: ${s.lastIoError ?? ''}`
      : '-';
  return [
    s.ioRunning ?? '-',
    s.sqlRunning ?? '-',
    s.secondsBehind === null ? 'NULL' : `${s.secondsBehind} s`,
    err.slice(0, 200),
    pos,
  ];
}

/** Re-exported so tests can address nodes the same way. */
export type { NodeAddress };
