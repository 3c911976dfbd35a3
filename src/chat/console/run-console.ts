/**
 * `gearops console`: runs slash commands from a terminal through the same
 * router and handlers as Slack. With -e it runs them in order and exits 0
 * only if every one succeeded; without -e it is a prompt with history.
 * Besides slash commands it takes `press` and `wait` (console-builtins.ts).
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadDotenvFile, parseConfig } from '../../config.js';
import { createLogger, type Logger } from '../../log.js';
import { createAppContext, type AppContext } from '../../app.js';
import type { CommandRouter } from '../../core/ports/commands.js';
import { createConsoleChat, type ConsoleIo } from './console-chat.js';
import { createConsoleBuiltins, type ConsoleBuiltin } from './console-builtins.js';

/** Console usage text. */
export const CONSOLE_USAGE = `usage: gearops console [--gearman host:port[,…]] [--policy FILE] [--mysql URL] [--user U] [--channel C] [--yes] [-e "/run server1 uptime"]…`;

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

/** Entry point of `gearops console`. */
export async function runConsoleCommand(
  argv: string[],
  deps: {
    env?: NodeJS.ProcessEnv;
    out?: (s: string) => void;
    logger?: Logger;
    /** More lines the console understands, by first word (the demo's `demo …`). */
    builtins?: Record<string, ConsoleBuiltin>;
  } = {},
): Promise<number> {
  const env = deps.env ?? process.env;
  const print = deps.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  // What was printed, for `wait for <text>`: the last lines only, with where each input line's output began.
  const transcript = { lines: [] as string[], starts: [0, 0], dropped: 0 };
  const out = (s: string) => {
    print(s);
    transcript.lines.push(...s.split('\n'));
    if (transcript.lines.length > 20_000) {
      const cut = transcript.lines.length - 10_000;
      transcript.lines.splice(0, cut);
      transcript.dropped += cut;
    }
  };
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        gearman: { type: 'string' },
        policy: { type: 'string' },
        mysql: { type: 'string' },
        user: { type: 'string' },
        channel: { type: 'string' },
        yes: { type: 'boolean', short: 'y' },
        e: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${CONSOLE_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    out(CONSOLE_USAGE);
    return 0;
  }
  if (!deps.env) loadDotenvFile();
  const merged = { ...env };
  if (args.gearman) merged.GEAROPS_GEARMAN = args.gearman;
  if (args.policy) merged.GEAROPS_POLICY = args.policy;
  if (args.mysql) merged.GEAROPS_MYSQL_URL = args.mysql;
  const logger = deps.logger ?? createLogger({ level: env.GEAROPS_LOG_LEVEL ?? 'warn', destination: process.stderr });
  let ctx: AppContext;
  const interactive = !args.e || args.e.length === 0;
  // The prompt is created once the context is ready, so piped input is not read (and lost) while connecting.
  let rl = null as ReturnType<typeof createInterface> | null;
  const io: ConsoleIo = {
    out,
    ask: interactive
      ? (q) =>
          new Promise((resolve) => {
            // Input already ended (piped lines): nobody can answer, so the answer is no.
            const noAnswer = () => {
              out(`${q}\n(no answer: the input has ended)`);
              resolve(false);
            };
            if (!rl || (rl as unknown as { closed?: boolean }).closed) return noAnswer();
            try {
              rl.question(q, (a) => resolve(/^y(es)?$/i.test(a.trim())));
            } catch {
              noAnswer();
            }
          })
      : undefined,
  };
  const chat = createConsoleChat(io, { assumeYes: args.yes });
  try {
    const config = parseConfig(merged, ['jobSecret']);
    ctx = await createAppContext({ config, logger, chat: chat.sink });
  } catch (err) {
    process.stderr.write(`gearops console: ${(err as Error).message}\n`);
    return 2;
  }
  const who = { user: args.user ?? env.USER ?? 'console', channel: args.channel ?? 'console' };
  const builtins: Record<string, ConsoleBuiltin> = {
    ...createConsoleBuiltins({
      router: ctx.router,
      chat,
      who,
      transcript: {
        get lines() {
          return transcript.lines;
        },
        previousStart: () => Math.max(0, transcript.starts[0]! - transcript.dropped),
      },
    }),
    ...deps.builtins,
  };
  const runLine = async (line: string): Promise<boolean> => {
    transcript.starts = [transcript.starts[1]!, transcript.lines.length + transcript.dropped];
    const [first, ...words] = line.trim().split(/\s+/);
    const builtin = first && !first.startsWith('/') ? builtins[first] : undefined;
    if (builtin)
      return builtin(words, io, async (typed) => {
        io.out(`(typed for you) ${typed}`);
        return runLine(typed);
      });
    return runConsoleLine(ctx.router, chat, io, line, who);
  };
  try {
    if (!interactive) {
      let allOk = true;
      for (const line of args.e ?? []) {
        if (!(await runLine(line))) allOk = false;
      }
      return allOk ? 0 : 1;
    }
    // The interactive console also watches replication (alerts print as they happen).
    await ctx.monitor?.start();
    rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: process.stdin.isTTY,
      historySize: 500,
    });
    return await repl(ctx, io, rl, who, runLine);
  } finally {
    rl?.close();
    await ctx.close();
  }
}

async function repl(
  ctx: AppContext,
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
