/** `/replica list`: the clusters the user's rules cover, built and watched, with their state. */
import { textMessage } from '../../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import { visibleClusters, type ReplicaContext } from './context.js';
import { ago, hiddenNote, nodeName } from './render.js';

/** Runs `/replica list`. */
export async function list(ctx: ReplicaContext, inv: CommandInvocation): Promise<CommandOutcome> {
  const v = await visibleClusters(ctx, inv, 'replica.list', await ctx.deps.clusters.list());
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
