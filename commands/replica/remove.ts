/**
 * `/replica remove`: asks first, naming every server it stops and what leaves the pool, then runs the remove
 * sequence (src/cluster/remove.ts) and says how it ended.
 */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import { textMessage } from '../../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import type { ClusterRecord } from '../../src/core/ports/store.js';
import { showPoolType } from '../../src/core/pool-message.js';
import { pooledNodes, type PooledNode } from '../../src/cluster/pool.js';
import { removeCluster, type RemoveResult } from '../../src/cluster/remove.js';
import { mention } from '../shared.js';
import { authorizeOn, type ReplicaContext } from './context.js';
import { ago, nodeName } from './render.js';

/** Runs `/replica remove <cluster>`. */
export async function remove(ctx: ReplicaContext, inv: CommandInvocation, name?: string): Promise<CommandOutcome> {
  const { deps } = ctx;
  if (!name) throw new GearopsError(ErrorCode.Usage, 'name the cluster.\nUsage: /replica remove <cluster>');
  const c = await deps.clusters.get(name);
  if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
  if (c.kind === 'watched')
    throw new GearopsError(
      ErrorCode.Usage,
      `cluster ${name} is watched, not built by gearops: its servers are never removed. ` +
        `/replica unwatch ${name} forgets it and touches no server.`,
    );
  authorizeOn(
    ctx,
    inv,
    'replica.remove',
    c.nodes.map((n) => n.host),
  );
  if (c.state === 'installing' && c.installToken && ctx.installingHere.has(c.installToken)) {
    await inv.reply.ephemeral(
      textMessage(
        `Not removed: cluster ${name} is being installed right now by this bot. Wait until it is ready, or fails (a failed install removes what it made).`,
      ),
    );
    return { status: 'refused', summary: 'still installing here' };
  }
  // Nodes still in the load-balancer pool leave it first, so applications stop using them before they stop.
  // Looked up before asking (a store error here ends the command with nothing changed).
  const inPool = deps.pool ? await pooledNodes(deps.pool, c.nodes) : [];
  if (inPool.length) {
    authorizeOn(
      ctx,
      inv,
      'pool.del',
      inPool.map((x) => x.node.host),
    );
  }
  const yes = await inv.reply.confirm(textMessage(removeQuestion(c, inPool)), { yesLabel: `Remove ${name}` });
  if (!yes) {
    await inv.reply.ephemeral(textMessage(`Not removed: ${name} is untouched.`));
    return { status: 'refused', summary: 'not confirmed' };
  }
  const ref = await inv.reply.post(textMessage(`${mention(inv.principal.userId)} is removing cluster *${name}*…`));
  const result = await removeCluster(
    {
      clusters: deps.clusters,
      run: ctx.runner(inv),
      pool: deps.pool,
      announce: (ch) => ctx.announcePool(ch),
      credentials: deps.credentials?.store,
      userId: inv.principal.userId,
    },
    c,
    inPool,
  );
  const { text, outcome } = removeAnswer(c, result);
  await inv.reply.update(ref, textMessage(text));
  return outcome;
}

function removeQuestion(c: ClusterRecord, inPool: PooledNode[]): string {
  const name = c.name;
  const servers = `${c.nodes.length} servers: ${c.nodes.map(nodeName).join(', ')}`;
  const poolList = inPool.map((x) => `${x.node.address}:${x.node.port} (${showPoolType(x.type)})`).join(', ');
  const what =
    c.state === 'installing'
      ? `Cluster *${name}*'s install did not finish (started ${ago(c.createdAt)} by ${mention(c.createdBy)}; the bot running it stopped, or another bot instance still runs it). Remove it? This stops what is left of the install and deletes whatever it made of ${servers}.`
      : c.state === 'removing'
        ? `Cluster *${name}*'s removal did not finish. Remove what is left of its ${servers}?`
        : `Remove cluster *${name}*? This stops and deletes ${servers}.`;
  return `${what}${inPool.length ? ` It first takes ${poolList} out of the load-balancer pool.` : ''}`;
}

function removeAnswer(c: ClusterRecord, r: RemoveResult): { text: string; outcome: CommandOutcome } {
  const name = c.name;
  const done = r.outOfPool.length ? ` Already out of the pool: ${r.outOfPool.join(', ')}.` : '';
  const failed = (text: string, summary = text) => ({ text, outcome: { status: 'failed' as const, summary } });
  switch (r.kind) {
    case 'pool-failed':
      return failed(
        `✗ cluster ${name} not removed: taking ${r.server} out of the pool failed: ${r.error.message}. No server was stopped.${done}`,
      );
    case 'store-failed':
      return failed(
        `✗ cluster ${name} not removed: the store did not answer (${r.error.message}). No server was stopped.${done}`,
      );
    case 'partial':
      return failed(
        `✗ cluster ${name} only partly removed: ${r.failures.join('; ')}.${poolNote(r)} It stays listed as removing (not monitored): /replica remove ${name} tries again.`,
        r.failures.join('; '),
      );
    case 'removed':
      return {
        text: `✓ cluster ${name} removed: ${c.nodes.length} servers stopped and deleted, record removed.${poolNote(r)}`,
        outcome: { status: 'ok', summary: `removed ${name}` },
      };
  }
}

function poolNote(r: { outOfPool: string[]; noWriteLeft: boolean }): string {
  return r.outOfPool.length
    ? ` Taken out of the pool: ${r.outOfPool.join(', ')}.${r.noWriteLeft ? ' ⚠ The pool now has no WRITE server.' : ''}`
    : '';
}
