/** `/replica diagnose <host>`: what a host's worker has for sandboxes: server builds, free disk, its sandboxes. */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import { authorizeOn, type ReplicaContext } from './context.js';
import { HOST_RE } from '../../src/core/capabilities.js';

/** Runs `/replica diagnose <host>` (sandbox.check on that host). */
export async function diagnose(ctx: ReplicaContext, inv: CommandInvocation, host?: string): Promise<CommandOutcome> {
  if (!host || !HOST_RE.test(host))
    throw new GearopsError(ErrorCode.Usage, `name a host.\nUsage: /replica diagnose <host>`);
  authorizeOn(ctx, inv, 'replica.diagnose', [host]);
  const c = await ctx.runner(inv)('sandbox.check', host, {});
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
