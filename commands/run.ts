/**
 * `/run <targets> <command line>`: a read-only diagnostic on one host or many, through the policy, as signed
 * Gearman jobs. This module reads the command text and hands it on: `help` and `hosts` (run-info.ts), a target
 * set (run-fanout.ts), one host (run-host.ts); a journaled run left by a bot that is gone is finished by
 * run-recover.ts.
 */
import type { Logger } from '../src/log.js';
import { textMessage } from '../src/core/message.js';
import type { CommandModule } from '../src/core/ports/commands.js';
import type { Dispatcher } from '../src/core/ports/dispatcher.js';
import type { Policy } from '../src/core/ports/policy.js';
import type { HostLimiter } from '../src/core/host-limiter.js';
import { HOST_RE, type RunValue } from '../src/core/capabilities.js';
import { isSingleHost, TARGET_RE } from '../src/core/targets.js';
import { runFanout } from './run-fanout.js';
import { runHelp, runHosts, USAGE } from './run-info.js';
import { runOnHost, type RunJobDeps, type RunJournal } from './run-host.js';
import { recoverRun } from './run-recover.js';

/** What the worker's `run` capability returns (exit code, output, limits hit). */
export type { RunValue };

/** Dependencies of `/run`. */
export interface RunCommandDeps {
  dispatcher: Dispatcher;
  policy: Policy;
  limiter: HostLimiter;
  logger: Logger;
  /** Output longer than this goes up as a file, with a preview in the message. */
  previewChars?: number;
  /** How often the streaming message is refreshed at most. */
  updateEveryMs?: number;
  /** Client-side limit on top of the policy's own time limit. */
  extraTimeoutMs?: number;
  /** Host jobs one fan-out keeps in flight at once (GEAROPS_FANOUT, default 64). */
  fanout?: number;
  /** Gathered fan-out output longer than this goes up as a file; the message keeps a summary. */
  fanoutChars?: number;
  /** Where accepted commands are journaled (the store's `commands`), as this bot instance. */
  journal?: RunJournal;
  /** The bot's version: `/run hosts` marks workers that run another one. */
  version?: string;
}

/** Creates the `/run` command. */
export function createRunCommand(deps: RunCommandDeps): CommandModule {
  const job: RunJobDeps = {
    dispatcher: deps.dispatcher,
    policy: deps.policy,
    limiter: deps.limiter,
    logger: deps.logger,
    previewChars: deps.previewChars ?? 2500,
    updateEveryMs: deps.updateEveryMs ?? 1000,
    extraTimeoutMs: deps.extraTimeoutMs ?? 10_000,
    journal: deps.journal,
  };
  return {
    name: 'run',
    description: 'Run an allow-listed diagnostic command on a host or many (db[1-12], @group, all)',
    recover: (entry, chat) => recoverRun(job, entry, chat),
    usage: '<targets> <command> [| grep PATTERN]',
    async handle(inv) {
      const text = inv.text.trim();
      const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text);
      const first = m?.[1];
      const rest = (m?.[2] ?? '').trim();
      if (!first || first === 'help') return runHelp(deps, inv, rest && HOST_RE.test(rest) ? rest : undefined);
      if (first === 'hosts' && rest === '') return runHosts(deps, inv);
      if (!isSingleHost(first) && TARGET_RE.test(first) && rest)
        return runFanout(
          {
            dispatcher: deps.dispatcher,
            policy: deps.policy,
            limiter: deps.limiter,
            logger: deps.logger,
            fanout: deps.fanout ?? 64,
            messageChars: deps.fanoutChars ?? 3500,
            updateEveryMs: job.updateEveryMs,
            extraTimeoutMs: job.extraTimeoutMs,
          },
          inv,
          first,
          rest,
        );
      if (!TARGET_RE.test(first)) {
        await inv.reply.ephemeral(
          textMessage(`Refused: \`${first.slice(0, 64)}\` is not a host name.\nUsage: ${USAGE}`),
        );
        return { status: 'refused', summary: 'bad host name' };
      }
      if (!rest) {
        await inv.reply.ephemeral(textMessage(`Refused: what should run on ${first}?\nUsage: ${USAGE}`));
        return { status: 'refused', summary: 'no command' };
      }
      return runOnHost(job, inv, first, rest);
    },
  };
}
