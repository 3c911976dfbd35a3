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
import { MONITOR_REQUESTER } from './core/routed-probe.js';

/** Console usage text. */
export const CONSOLE_USAGE = `usage: gearops console [--gearman host:port[,…]] [--policy FILE] [--mysql URL] [--user U] [--channel C] [--yes] [-e "/run server1 uptime"]…`;

/** What was printed, for `wait for <text>`: the last lines only, with where each input line's output began. */
function createTranscript(print: (s: string) => void) {
  const t = { lines: [] as string[], starts: [0, 0], dropped: 0 };
  return {
    out(s: string) {
      print(s);
      t.lines.push(...s.split('\n'));
      if (t.lines.length > 20_000) {
        const cut = t.lines.length - 10_000;
        t.lines.splice(0, cut);
        t.dropped += cut;
      }
    },
    /** An input line begins: its output starts here. */
    mark() {
      t.starts = [t.starts[1]!, t.lines.length + t.dropped];
    },
    view: {
      get lines() {
        return t.lines;
      },
      previousStart: () => Math.max(0, t.starts[0]! - t.dropped),
    },
  };
}

/** The console's flags; throws on an unknown one. */
function parseConsoleArgs(argv: string[]) {
  return parseArgs({
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
}

/**
 * The console's io. Interactive, a confirmation is asked at the prompt (`rl()` once it exists); with input already
 * ended (piped lines) nobody can answer, so the answer is no. With -e there is no prompt: confirmations need --yes.
 */
function createConsoleIo(
  out: (s: string) => void,
  interactive: boolean,
  rl: () => ReturnType<typeof createInterface> | null,
): ConsoleIo {
  if (!interactive) return { out, ask: undefined };
  return {
    out,
    ask: (q) =>
      new Promise((resolve) => {
        const noAnswer = () => {
          out(`${q}\n(no answer: the input has ended)`);
          resolve(false);
        };
        const prompt = rl();
        if (!prompt || (prompt as unknown as { closed?: boolean }).closed) return noAnswer();
        try {
          prompt.question(q, (a) => resolve(/^y(es)?$/i.test(a.trim())));
        } catch {
          noAnswer();
        }
      }),
  };
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
  const transcript = createTranscript(deps.out ?? ((s: string) => process.stdout.write(`${s}\n`)));
  const out = transcript.out;
  let args;
  try {
    args = parseConsoleArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${CONSOLE_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    out(CONSOLE_USAGE);
    return 0;
  }
  // The monitor's own name: workers' policies give it the monitor's rights (fencing, automatic failover), so no
  // person may act under it.
  if ((args.user ?? env.USER) === MONITOR_REQUESTER.userId) {
    process.stderr.write(
      `gearops console: ${MONITOR_REQUESTER.userId} is the name of the bot's own monitor (workers' policies give it ` +
        `the monitor's rights); run the console as yourself (--user NAME)\n`,
    );
    return 2;
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
  const io = createConsoleIo(out, interactive, () => rl);
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
    ...createConsoleBuiltins({ router: ctx.router, chat, who, transcript: transcript.view }),
    ...deps.builtins,
  };
  const runLine = async (line: string): Promise<boolean> => {
    transcript.mark();
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
