/** `/replica status [<cluster>]`: every node's replication state, read now, with the broken ones marked. */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import type { Block } from '../../src/core/message.js';
import { textMessage } from '../../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import type { ClusterRecord } from '../../src/core/ports/store.js';
import { nodeAddress } from '../../src/core/cluster.js';
import { mention } from '../shared.js';
import { authorizeOn, visibleClusters, type ReplicaContext } from './context.js';
import { explainFailover } from '../../src/cluster/failover.js';
import { nodeNamer } from '../../src/cluster/candidate.js';
import { ago, hiddenNote, isBroken, replicationCells, roleOf } from './render.js';

/** Runs `/replica status`, of one cluster or of every one the user's rules cover. */
export async function status(ctx: ReplicaContext, inv: CommandInvocation, name?: string): Promise<CommandOutcome> {
  const { deps } = ctx;
  let clusters: ClusterRecord[];
  let hidden = 0;
  if (name) {
    const c = await deps.clusters.get(name);
    // One cluster: allowed when rules cover every host of its nodes (one that does not exist: a rule for all hosts).
    authorizeOn(
      ctx,
      inv,
      'replica.status',
      c?.nodes.map((n) => n.host),
    );
    if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
    clusters = [c];
  } else {
    const v = await visibleClusters(ctx, inv, 'replica.status', await deps.clusters.list());
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
    const shown = await clusterBlocks(ctx, c);
    broken += shown.broken;
    blocks.push(...shown.blocks);
  }
  blocks.push({ type: 'context', text: broken ? `${broken} broken node(s)` : 'every node healthy' });
  blocks.push(...hiddenNote(hidden));
  await inv.reply.post({
    text: broken ? `/replica status: ${broken} broken node(s)` : '/replica status: all healthy',
    blocks,
  });
  return { status: 'ok', summary: `${broken} broken` };
}

/** One cluster's part of the answer: a line while it is installed or removed, else a table of its nodes. */
async function clusterBlocks(ctx: ReplicaContext, c: ClusterRecord): Promise<{ blocks: Block[]; broken: number }> {
  if (c.state === 'installing') {
    const here = !!c.installToken && ctx.installingHere.has(c.installToken);
    const text = `*${c.name}* — being installed (started ${ago(c.createdAt)} by ${mention(c.createdBy)})${here ? '' : `; if that install was interrupted, /replica remove ${c.name} stops what is left of it`}`;
    return { blocks: [{ type: 'text', text }], broken: 0 };
  }
  if (c.state === 'removing') {
    const text = `*${c.name}* — being removed; if that removal did not finish, /replica remove ${c.name} tries again`;
    return { blocks: [{ type: 'text', text }], broken: 0 };
  }
  const statuses = await Promise.all(c.nodes.map((n) => ctx.deps.probe.status(nodeAddress(c, n))));
  let broken = 0;
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
  // A failover cut half-way (the bot died): where it stopped, and how to finish it.
  const cut = await ctx.deps.failover?.sequence.journal.running(c.name).catch(() => null);
  const note: Block[] = cut?.kind === 'failover' ? [{ type: 'text', text: explainFailover(cut, nodeNamer(c)) }] : [];
  return {
    blocks: [
      { type: 'text', text: `*${c.name}* — ${c.nodes.length} nodes, version ${c.version}${kind}` },
      {
        type: 'table',
        columns: ['', 'role', 'node', 'version', 'IO', 'SQL', 'behind', 'last error', 'position'],
        rows,
      },
      ...note,
    ],
    broken,
  };
}
