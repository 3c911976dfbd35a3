/** The `gearops` command line: picks the entry (worker, console, bot, policy, demo); each composes its own app. */

const USAGE = `gearops — Slack chat-ops for MySQL fleets

usage:
  gearops worker --host NAME --gearman HOST:PORT[,…] [--policy FILE] [--sandbox-dir DIR] [--advertise ADDR]
                 [--metrics-port [HOST:]PORT] [--check]
  gearops console [--gearman HOST:PORT[,…]] [--user U] [--channel C] [--yes] [-e "/run server1 uptime"]…
  gearops bot                         (Slack; settings from the environment / .env)
  gearops policy check --host H --user U [--channel C] -- "<command line>"
  gearops demo                        (local gearmand, MariaDB and three workers, then the console)
  gearops --version

See README.md for configuration.`;

/** Runs the command line; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'worker': {
      const { runWorkerCommand } = await import('./worker/cli.js');
      return runWorkerCommand(rest);
    }
    case 'console': {
      const { runConsoleCommand } = await import('./console.js');
      return runConsoleCommand(rest);
    }
    case 'bot': {
      const { runBotCommand } = await import('./bot.js');
      return runBotCommand(rest);
    }
    case 'policy': {
      const { runPolicyCheckCommand } = await import('./policy-check.js');
      return runPolicyCheckCommand(rest, {
        out: (s) => process.stdout.write(`${s}\n`),
        err: (s) => process.stderr.write(`${s}\n`),
        env: process.env,
      });
    }
    case 'demo': {
      const { runDemoCommand } = await import('./demo.js');
      return runDemoCommand(rest);
    }
    case 'bench':
      // The benchmark is not part of the package (it drives the local launchers from a checkout).
      process.stderr.write('gearops bench runs from a checkout of the repository: npm run bench\n');
      return 2;
    case '--version':
    case '-V':
    case 'version': {
      const { VERSION } = await import('./package-info.js');
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`gearops: unknown command '${cmd}'\n\n${USAGE}\n`);
      return 2;
  }
}
