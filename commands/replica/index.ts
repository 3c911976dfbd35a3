/**
 * `/replica`: install, check, diagnose and remove MySQL replication sandboxes across hosts (the MySQL Sandbox
 * idea, driven from chat), and watch replication gearops did not build. One module per subcommand; the install
 * and remove sequences themselves are in src/cluster/.
 */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import { textMessage } from '../../src/core/message.js';
import type { CommandInvocation, CommandModule, CommandOutcome } from '../../src/core/ports/commands.js';
import { policyPrincipal, words } from '../shared.js';
import { createReplicaContext, type ReplicaCommandDeps } from './context.js';
import { USAGE } from './parse.js';
import { install } from './install.js';
import { remove } from './remove.js';
import { status } from './status.js';
import { list } from './list.js';
import { diagnose } from './diagnose.js';
import { sql } from './sql.js';
import { createWatchCommands } from './watch.js';
import { createSwitchoverCommand } from '../replica-switchover.js';
import { createFailoverCommands } from '../replica-failover.js';

export type { ReplicaCommandDeps } from './context.js';
export { parseInstall, parseWatch, type InstallPlan, type WatchPlan } from './parse.js';
export { isBroken } from './render.js';
export type { SandboxCheckValue, SandboxInstallValue } from '../../src/core/capabilities.js';
export type { NodeAddress } from '../../src/core/ports/replication.js';

/** Creates the `/replica` command. */
export function createReplicaCommand(deps: ReplicaCommandDeps): CommandModule {
  const ctx = createReplicaContext(deps);
  const watching = deps.watch
    ? createWatchCommands({ ...deps.watch, policy: deps.policy, clusters: deps.clusters, chat: deps.chat })
    : null;
  const switching = deps.switchover ? createSwitchoverCommand({ ...deps, ...deps.switchover }) : null;
  const failing = deps.failover ? createFailoverCommands({ ...deps.failover, policy: deps.policy }) : null;

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
      'install <cluster> master=<host> slaves=<h1,h2> | status [cluster] | list | diagnose <host> | remove <cluster> | sql <cluster> <statement> | watch <cluster> <host:port> | unwatch <cluster> | switchover <cluster> [to=<host>] | failover <cluster> [to=<host>] | rejoin <cluster> <host>',
    async handle(inv) {
      const [sub, ...args] = words(inv.text);
      switch (sub) {
        case 'install':
          return install(ctx, inv, args);
        case 'status':
          return status(ctx, inv, args[0]);
        case 'list':
          return list(ctx, inv);
        case 'diagnose':
          return diagnose(ctx, inv, args[0]);
        case 'remove':
          return remove(ctx, inv, args[0]);
        case 'sql':
          return sql(ctx, inv, args[0], inv.text.trim().replace(/^sql\s+\S+\s*/, ''));
        case 'watch':
        case 'unwatch':
          if (!watching) throw new GearopsError(ErrorCode.Usage, `/replica ${sub} needs the store.`);
          return sub === 'watch' ? watching.watch(inv, args) : watching.unwatch(inv, args[0]);
        case 'switchover':
          if (!switching) throw new GearopsError(ErrorCode.Usage, '/replica switchover needs the store.');
          return switching(inv, args);
        case 'failover':
        case 'rejoin':
          if (!failing) throw new GearopsError(ErrorCode.Usage, `/replica ${sub} needs the store.`);
          return failing[sub](inv, args);
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
