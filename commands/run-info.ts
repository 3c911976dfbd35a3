/** `/run help [host]` and `/run hosts`: what the requester may run, and which hosts are live, answered privately. */
import { textMessage, type Block } from '../src/core/message.js';
import type { CommandInvocation, CommandOutcome } from '../src/core/ports/commands.js';
import type { Dispatcher } from '../src/core/ports/dispatcher.js';
import type { Policy } from '../src/core/ports/policy.js';
import { policyPrincipal, requesterOf } from './shared.js';
import { groupRows } from './run-fanout.js';
import { hostVersions, versionMismatchNote } from './host-versions.js';

/** The usage line every `/run` refusal and help ends with. */
export const USAGE =
  '/run <targets> <command> [| grep PATTERN]   ·   targets: db1 | db1,db2 | db* | db[1-12] | @group | all   ·   /run hosts   ·   /run help [host]';

/** What help and hosts read. */
export interface RunInfoDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  /** The bot's version: `/run hosts` marks workers that run another one. */
  version?: string;
}

/** `/run help [host]`: the usage and the policy's lines for this requester (on that host). */
export async function runHelp(deps: RunInfoDeps, inv: CommandInvocation, host?: string): Promise<CommandOutcome> {
  const lines = deps.policy.describe(policyPrincipal(inv.principal), host ? { host } : undefined);
  await inv.reply.ephemeral({
    text: `Usage: ${USAGE}`,
    blocks: [
      {
        type: 'text',
        text: `*Usage:* \`${USAGE}\`\nCommands run without a shell; one \`| grep PATTERN\` stage is allowed where the policy says so.`,
      },
      { type: 'text', text: `*What you may run${host ? ` on ${host}` : ''}* (policy ${deps.policy.source}):` },
      { type: 'code', text: lines.length ? lines.join('\n') : '(nothing: the policy allows you no commands)' },
    ],
  });
  return { status: 'ok', summary: 'help' };
}

/** Groups from the policy file and from the workers, with their live members. */
function groupTable(policy: Policy, list: Awaited<ReturnType<Dispatcher['hosts']>>): Block[] {
  const rows = groupRows(policy, list);
  return rows.length ? [{ type: 'table', columns: ['group', 'from', 'members'], rows }] : [];
}

/** `/run hosts`: the live hosts, their versions, capabilities and job servers, and the groups. */
export async function runHosts(deps: RunInfoDeps, inv: CommandInvocation): Promise<CommandOutcome> {
  const list = await deps.dispatcher.hosts();
  if (list.length === 0) {
    await inv.reply.ephemeral(
      textMessage(
        'No live hosts: no worker is registered on the job servers. Start one with `gearops worker --host <name> --gearman <host:port>`.',
      ),
    );
    return { status: 'ok', summary: 'no hosts' };
  }
  const botVersion = deps.version ?? 'unknown';
  const versions = await hostVersions({ dispatcher: deps.dispatcher, botVersion }, list, requesterOf(inv.principal));
  const note = versionMismatchNote(versions, botVersion);
  await inv.reply.ephemeral({
    text: `${list.length} live host(s)`,
    blocks: [
      {
        type: 'table',
        columns: ['host', 'version', 'capabilities', 'job servers'],
        rows: list.map((h, i) => [
          h.host,
          versions[i]!.label,
          h.capabilities.filter((c) => !c.startsWith('group.')).join(', '),
          h.servers.join(', '),
        ]),
      },
      ...(note ? [{ type: 'context' as const, text: note }] : []),
      ...groupTable(deps.policy, list),
    ],
  });
  return { status: 'ok', summary: `${list.length} hosts` };
}
