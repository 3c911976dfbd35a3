/** `gearops policy check|lint`: decide a command line against a policy file without running anything. */
import { parseArgs } from 'node:util';
import { loadPolicyFile } from './core/policy/index.js';

const USAGE =
  'usage: gearops policy check [--policy FILE] --host H --user U [--group S…]… [--role R]… [--channel C] -- "<command line>"\n       gearops policy lint FILE';

/** Entry point; exit 0 allow (or a valid file), 1 deny, 2 usage or invalid policy. */
export async function runPolicyCheckCommand(
  argv: string[],
  io: { out(s: string): void; err(s: string): void; env: NodeJS.ProcessEnv },
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'lint') {
    if (rest.length !== 1) {
      io.err(USAGE);
      return 2;
    }
    try {
      loadPolicyFile(rest[0]!);
      io.out(`${rest[0]}: ok`);
      return 0;
    } catch (err) {
      io.err((err as Error).message);
      return 2;
    }
  }
  if (sub !== 'check') {
    io.err(USAGE);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        policy: { type: 'string' },
        host: { type: 'string' },
        user: { type: 'string' },
        group: { type: 'string', multiple: true },
        role: { type: 'string', multiple: true },
        channel: { type: 'string' },
      },
      allowPositionals: true,
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (!values.host || !values.user || positionals.length === 0) {
    io.err(USAGE);
    return 2;
  }
  const file = values.policy ?? io.env.GEAROPS_POLICY ?? 'policies/default.yml';
  let policy;
  try {
    policy = loadPolicyFile(file);
  } catch (err) {
    io.err((err as Error).message);
    return 2;
  }
  // --group stands for the user's Slack user groups, as the bot would resolve them.
  const roles = [...new Set([...(values.role ?? []), ...policy.rolesFor(values.user, values.group ?? [])])];
  const d = policy.checkRun({
    host: values.host,
    principal: { userId: values.user, channelId: values.channel ?? 'console', roles },
    line: positionals.join(' '),
  });
  io.out(`${d.allow ? 'allow' : 'deny'}${d.rule ? ` (rule ${d.rule})` : ''}: ${d.reason}`);
  if (d.allow && d.pipeline)
    io.out(
      `would run: ${d.pipeline.map((s) => JSON.stringify(s)).join(' | ')} (limit ${d.timeoutMs / 1000} s, ${d.maxOutputBytes} bytes)`,
    );
  return d.allow ? 0 : 1;
}
