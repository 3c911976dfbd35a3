/**
 * `/replica sql <cluster> <statement>`: one statement on every node, as the cluster's read-only account in a
 * read-only transaction, within per-user and per-cluster limits and a time-out; the answers redacted.
 */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import type { Block } from '../../src/core/message.js';
import { resultBlock, textMessage } from '../../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import type { ClusterRecord } from '../../src/core/ports/store.js';
import { redactRows } from '../../src/core/redact.js';
import { nodeAddress } from '../../src/core/cluster.js';
import { formatDuration, mention, requesterOf } from '../shared.js';
import { authorizeOn, type ReplicaContext } from './context.js';
import { authorize } from '../../src/core/authorize.js';
import { nodeName } from './render.js';

type Answer = PromiseSettledResult<{ columns: string[]; rows: string[][] }>;

/** Runs `/replica sql`. */
export async function sql(
  ctx: ReplicaContext,
  inv: CommandInvocation,
  name: string | undefined,
  statement: string,
): Promise<CommandOutcome> {
  const { deps, sqlLimits } = ctx;
  if (!name || !statement) throw new GearopsError(ErrorCode.Usage, 'Usage: /replica sql <cluster> <statement>');
  const c = await deps.clusters.get(name);
  if (!c) throw new GearopsError(ErrorCode.Usage, `no cluster named ${name}; see /replica list.`);
  if ((c.state ?? 'ready') !== 'ready')
    throw new GearopsError(
      ErrorCode.Usage,
      `cluster ${name} is ${c.state === 'installing' ? 'being installed; try again once /replica list shows it ready' : 'being removed'}.`,
    );
  authorizeOn(
    ctx,
    inv,
    'replica.sql',
    c.nodes.map((n) => n.host),
  );
  const d = authorize(deps.policy, inv.principal, { sql: statement });
  // A slot per user and per cluster, held until every node answered or its statement was ended at the time-out.
  const slot = ctx.sqlSlots.acquire(inv.principal.userId, name);
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
  let results: Answer[];
  try {
    results = await Promise.allSettled(
      // As the cluster's read-only account, in a read-only transaction. At the time-out KILL QUERY from another
      // connection ends it; the server's own max_statement_time, a second later, ends it should that fail.
      c.nodes.map((n) =>
        deps.probe.exec(nodeAddress(c, n), statement, {
          readOnly: true,
          maxStatementTimeS: Math.ceil(sqlLimits.timeoutMs / 1000) + 1,
          timeoutMs: sqlLimits.timeoutMs,
          // A node read through its host's worker runs the statement there, as the requester, re-checked there.
          requester: requesterOf(inv.principal),
        }),
      ),
    );
  } finally {
    slot.release();
  }
  await inv.reply.post({ text: `/replica sql ${name}`, blocks: answerBlocks(inv, name, c, statement, results) });
  return {
    status: results.every((r) => r.status === 'fulfilled') ? 'ok' : 'failed',
    rule: d.rule,
    summary: statement,
  };
}

function answerBlocks(
  inv: CommandInvocation,
  name: string,
  c: ClusterRecord,
  statement: string,
  results: Answer[],
): Block[] {
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
  return blocks;
}
