/**
 * The console transport: turns typed slash command lines into invocations of the router (the same handlers as
 * Slack) and prints what they say, and runs the prompt. It wires nothing: `src/console.ts` composes the app.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { createInterface } from 'node:readline';
import type { CommandRouter } from '../../core/ports/commands.js';
import type { createConsoleChat, ConsoleIo } from './console-chat.js';

/** Parses "/run server1 uptime" into command and text; null if it is not a slash command. */
export function parseSlashLine(line: string): { command: string; text: string } | null {
  const m = /^\/([a-z][a-z0-9_-]*)(?:\s+([\s\S]*))?$/.exec(line.trim());
  return m?.[1] ? { command: m[1], text: m[2] ?? '' } : null;
}

/** Runs one slash command line through the router; returns true when it succeeded. */
export async function runConsoleLine(
  router: CommandRouter,
  chat: ReturnType<typeof createConsoleChat>,
  io: ConsoleIo,
  line: string,
  who: { user: string; channel: string },
): Promise<boolean> {
  const parsed = parseSlashLine(line);
  if (!parsed) {
    io.out(`Not a slash command: ${line.slice(0, 80)} (try /run help)`);
    return false;
  }
  // A trailing `--yes` answers this command's confirmation in the console (Slack has a button instead).
  // Not for /run, where it is part of the command line the policy judges.
  const yes = parsed.command !== 'run' && /(^|\s)--yes$/.test(parsed.text);
  const reply = chat.reply(who.channel, { assumeYes: yes });
  const outcome = await router.dispatch({
    command: parsed.command,
    text: yes ? parsed.text.replace(/\s*--yes$/, '') : parsed.text,
    principal: { userId: who.user, userName: who.user, channelId: who.channel, roles: [] },
    reply,
    source: 'console',
    requestId: randomUUID(),
  });
  reply.flush();
  return outcome.status === 'ok';
}

/** The interactive prompt: one line at a time through `runLine`, with history in ~/.gearops_history. */
export async function repl(
  ctx: { policy: { source: string } },
  io: ConsoleIo,
  rl: ReturnType<typeof createInterface>,
  who: { user: string; channel: string },
  runLine: (line: string) => Promise<boolean>,
): Promise<number> {
  const historyFile = join(homedir(), '.gearops_history');
  try {
    const lines = readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).slice(-500).reverse();
    (rl as unknown as { history: string[] }).history.push(...lines);
  } catch {
    // no history yet
  }
  io.out(
    `gearops console as ${who.user} in ${who.channel} — policy ${ctx.policy.source}. Try /run hosts, /run help, /run server1 uptime; exit with Ctrl-D.`,
  );
  rl.setPrompt('gearops> ');
  rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === 'exit' || line === 'quit') break;
    if (line) {
      try {
        appendFileSync(historyFile, `${line}\n`);
      } catch {
        // history is a convenience
      }
      await runLine(line);
    }
    rl.prompt();
  }
  return 0;
}
