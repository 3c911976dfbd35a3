/**
 * `/replica watch` and `/replica unwatch`: adopt replication gearops did not build, from any one of its servers,
 * and forget it again. A watched cluster is recorded with each node's address, port, role and source; nothing on
 * any server is changed, and no command that would touch what gearops did not build accepts it.
 */
import { ErrorCode, GearopsError } from '../src/errors.js';
import type { Block } from '../src/core/message.js';
import { resultBlock, textMessage } from '../src/core/message.js';
import type { ChatSink } from '../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { ClusterStore, IncidentStore } from '../src/core/ports/store.js';
import { watchedNodes } from '../src/core/cluster.js';
import { discoverTopology, type Discovery, type TopologyReader } from '../src/core/topology.js';
import type { NodeAddress } from '../src/core/ports/replication.js';
import { mention, policyPrincipal } from './shared.js';

/** What watch and unwatch need. */
export interface WatchDeps {
  policy: Policy;
  clusters: ClusterStore;
  incidents?: IncidentStore;
  chat?: ChatSink;
  /**
   * A reader that logs in with the named credentials (throws gearops_config for an unknown name), reading the
   * servers `viaFor` names a host for through that host's worker.
   */
  topologyReader(credentials: string, viaFor: (n: NodeAddress) => string | undefined): TopologyReader;
  /** Hosts with a live worker that reads MySQL for the bot (mysql.status): a server named like one is read there. */
  statusHosts(): Promise<string[]>;
  /** The credentials entry used when none is named. */
  defaultCredentials: string;
}

/** Usage lines of the two subcommands. */
export const WATCH_USAGE = [
  '/replica watch <cluster> <host:port> [credentials=<name>] [probe=direct|worker:<host>]',
  '/replica unwatch <cluster>',
];

const NAME_RE = /^[a-z][a-z0-9_]{0,30}$/;
const ADDRESS_RE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,253}):(\d{1,5})$/;
const CRED_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A parsed `/replica watch`. */
export interface WatchPlan {
  cluster: string;
  address: string;
  port: number;
  credentials?: string;
  /** probe=worker:<host>: the given server is read by that host's worker; probe=direct: nothing is. */
  probe?: { via: string } | 'direct';
}

/** Parses `/replica watch` arguments; throws a usage error naming what is wrong. */
export function parseWatch(args: string[]): WatchPlan {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${WATCH_USAGE[0]}`);
  const [cluster, at, ...rest] = args;
  if (!cluster || !NAME_RE.test(cluster))
    throw usage(`\`${(cluster ?? '').slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _).`);
  const m = ADDRESS_RE.exec(at ?? '');
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw usage(`\`${(at ?? '').slice(0, 60)}\` is not host:port of a server.`);
  const plan: WatchPlan = { cluster, address: m[1]!, port };
  for (const a of rest) {
    const kv = /^(credentials|probe)=(.*)$/.exec(a);
    if (!kv) throw usage(`unknown option \`${a.slice(0, 40)}\` (credentials=<name> and probe= are the options).`);
    const value = kv[2] ?? '';
    if (kv[1] === 'credentials') {
      if (plan.credentials !== undefined) throw usage('credentials= given twice.');
      if (!CRED_RE.test(value)) throw usage(`\`${value.slice(0, 40)}\` is not a credentials name.`);
      plan.credentials = value;
      continue;
    }
    if (plan.probe !== undefined) throw usage('probe= given twice.');
    const w = /^worker:([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.exec(value);
    if (value !== 'direct' && !w) throw usage(`probe=${value.slice(0, 40)}: say probe=direct or probe=worker:<host>.`);
    plan.probe = w ? { via: w[1]! } : 'direct';
  }
  return plan;
}

/** The discovered topology as a table, with what could not be mapped. */
export function topologyBlocks(d: Discovery): Block[] {
  const rows = d.nodes.map((n) => [
    `${n.address}:${n.port}`,
    n.role,
    n.replicatesFrom ?? '-',
    String(n.serverId),
    n.version,
    n.readOnly ? 'ON' : 'OFF',
  ]);
  const blocks: Block[] = [
    resultBlock(['server', 'role', 'replicates from', 'server_id', 'version', 'read_only'], rows),
  ];
  if (d.problems.length > 0)
    blocks.push({
      type: 'text',
      text: `*Not mapped:*\n${d.problems.map((p) => `• ${p.address}${p.port ? `:${p.port}` : ''}: ${p.reason}`).join('\n')}`,
    });
  if (d.notes.length > 0) blocks.push({ type: 'text', text: `*Notes:*\n${d.notes.map((n) => `• ${n}`).join('\n')}` });
  return blocks;
}

/** Creates the watch and unwatch handlers. */
export function createWatchCommands(deps: WatchDeps) {
  const deny = async (inv: CommandInvocation, action: 'replica.watch' | 'replica.unwatch') => {
    const d = deps.policy.checkAction({ action, principal: policyPrincipal(inv.principal) });
    if (d.allow) return null;
    await inv.reply.ephemeral(textMessage(`Denied: ${d.reason}`));
    return { status: 'denied', rule: d.rule, summary: d.reason } as CommandOutcome;
  };

  async function watch(inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
    const plan = parseWatch(args);
    const denied = await deny(inv, 'replica.watch');
    if (denied) return denied;
    const existing = await deps.clusters.get(plan.cluster);
    if (existing)
      throw new GearopsError(
        ErrorCode.Usage,
        `cluster ${plan.cluster} already exists (${existing.kind === 'watched' ? 'watched' : 'built by gearops'}): ` +
          'choose another name.',
      );
    const credentials = plan.credentials ?? deps.defaultCredentials;
    // Which servers a worker reads: the one given with probe=worker:<host>, and any named like a live worker's host.
    const live = plan.probe === 'direct' ? new Set<string>() : new Set(await deps.statusHosts().catch(() => []));
    const viaFor = (n: NodeAddress): string | undefined => {
      if (n.address === plan.address && n.port === plan.port && typeof plan.probe === 'object') return plan.probe.via;
      return live.has(n.address) ? n.address : undefined;
    };
    const reader = deps.topologyReader(credentials, viaFor);
    const d = await discoverTopology(reader, { address: plan.address, port: plan.port });
    const where = `${plan.address}:${plan.port}`;
    if (!d.master) {
      await inv.reply.ephemeral({
        text: `Nothing to watch: ${where} could not be read.`,
        blocks: [{ type: 'text', text: `Nothing to watch: ${where} could not be read.` }, ...topologyBlocks(d)],
      });
      return { status: 'failed', summary: `${where} could not be read` };
    }
    const question = `Watch cluster ${plan.cluster}: ${d.nodes.length} server(s) found from ${where}, credentials '${credentials}'. Nothing on them will be changed.`;
    const yes = await inv.reply.confirm(
      {
        text: question,
        blocks: [{ type: 'text', text: question }, ...topologyBlocks(d)],
      },
      { yesLabel: 'Watch' },
    );
    if (!yes) {
      await inv.reply.ephemeral(textMessage(`Not watched: ${plan.cluster}.`));
      return { status: 'refused', summary: 'not confirmed' };
    }
    await deps.clusters.create({
      name: plan.cluster,
      version: d.master.version,
      credentials,
      createdBy: inv.principal.userId,
      kind: 'watched',
      state: 'ready',
      nodes: watchedNodes(d, viaFor),
    });
    const text = `${mention(inv.principal.userId)} now watches cluster ${plan.cluster} (${d.nodes.length} servers, master ${d.master.address}:${d.master.port}).`;
    await inv.reply.post({ text, blocks: [{ type: 'text', text }, ...topologyBlocks(d)] });
    return { status: 'ok', summary: `watching ${plan.cluster}: ${d.nodes.length} servers` };
  }

  async function unwatch(inv: CommandInvocation, name: string | undefined): Promise<CommandOutcome> {
    if (!name || !NAME_RE.test(name)) throw new GearopsError(ErrorCode.Usage, `Usage: ${WATCH_USAGE[1]}`);
    const denied = await deny(inv, 'replica.unwatch');
    if (denied) return denied;
    const c = await deps.clusters.get(name);
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}: /replica list shows them.`);
    if (c.kind !== 'watched')
      throw new GearopsError(
        ErrorCode.Usage,
        `cluster ${name} was built by gearops: /replica remove ${name} removes it (unwatch is for watched clusters).`,
      );
    // Open incidents end with a note in their threads: nobody watches them any more.
    const open = (await deps.incidents?.listOpen())?.filter((i) => i.cluster === name) ?? [];
    for (const i of open) {
      await deps.incidents!.resolve(i.id);
      if (deps.chat && i.alertChannel && i.alertTs)
        await deps.chat
          .post(
            i.alertChannel,
            textMessage(`Closed: ${mention(inv.principal.userId)} stopped watching cluster ${name}.`),
            { threadTs: i.alertTs },
          )
          .catch(() => undefined);
    }
    await deps.clusters.remove(name);
    const text = `${mention(inv.principal.userId)} stopped watching cluster ${name}; its ${c.nodes.length} servers were not touched.`;
    await inv.reply.post(textMessage(text));
    return { status: 'ok', summary: `unwatched ${name}${open.length ? `, ${open.length} incident(s) closed` : ''}` };
  }

  return { watch, unwatch };
}
