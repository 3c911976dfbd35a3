/**
 * `gearops console`: composes the app (config, store, dispatcher, commands, monitor) and runs slash commands
 * from a terminal through the console transport (src/chat/console). With -e it runs them in order and exits 0
 * only if every one succeeded; without -e it is a prompt with history that also watches replication.
 * Besides slash commands it takes `press` and `wait` (console-builtins.ts).
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadDotenvFile, parseConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { createAppContext, type AppContext } from './app.js';
import { createConsoleChat, type ConsoleIo } from './chat/console/console-chat.js';
import { createConsoleBuiltins, type ConsoleBuiltin } from './chat/console/console-builtins.js';
import { repl, runConsoleLine } from './chat/console/console-session.js';

/** Console usage text. */
export const CONSOLE_USAGE = `usage: gearops console [--gearman host:port[,…]] [--policy FILE] [--mysql URL] [--user U] [--channel C] [--yes] [-e "/run server1 uptime"]…`;

/**
 * Entry point of `gearops console`. Over 80 lines: the console's composition, read top to bottom (arguments, app, chat, built-in lines, the input loop), each part short.
 */
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
