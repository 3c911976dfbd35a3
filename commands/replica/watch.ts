/**
 * `/replica watch` and `/replica unwatch`: adopt replication gearops did not build, from any one of its servers,
 * and forget it again. A watched cluster is recorded with each node's address, port, role and source; nothing on
 * any server is changed, and no command that would touch what gearops did not build accepts it.
 */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import { textMessage } from '../../src/core/message.js';
import type { ChatSink } from '../../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import type { Policy } from '../../src/core/ports/policy.js';
import type { ClusterStore, IncidentStore } from '../../src/core/ports/store.js';
import { watchedNodes } from '../../src/core/cluster.js';
import { discoverTopology, type TopologyReader } from '../../src/core/topology.js';
import type { NodeAddress } from '../../src/core/ports/replication.js';
import { mention } from '../shared.js';
import { NAME_RE } from '../../src/core/capabilities.js';
import { parseWatch, WATCH_USAGE } from './parse.js';
import { authorize } from '../../src/core/authorize.js';
import { topologyBlocks } from './render.js';

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

/** Creates the watch and unwatch handlers. */
export function createWatchCommands(deps: WatchDeps) {
  return {
    watch: (inv: CommandInvocation, args: string[]) => watch(deps, inv, args),
    unwatch: (inv: CommandInvocation, name: string | undefined) => unwatch(deps, inv, name),
  };
}

async function watch(deps: WatchDeps, inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
  const plan = parseWatch(args);
  authorize(deps.policy, inv.principal, { action: 'replica.watch' });
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

async function unwatch(deps: WatchDeps, inv: CommandInvocation, name: string | undefined): Promise<CommandOutcome> {
  if (!name || !NAME_RE.test(name)) throw new GearopsError(ErrorCode.Usage, `Usage: ${WATCH_USAGE[1]}`);
  authorize(deps.policy, inv.principal, { action: 'replica.unwatch' });
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
