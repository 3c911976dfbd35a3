/**
 * `npm run bench`: throughput, latency and scale figures, measured in one
 * run on this machine. Prints a table; with --json, one JSON object as the
 * last line. A section that cannot run says why and the others go on.
 * Section names on the command line run those sections alone
 * (`npm run bench -- switchover failover`).
 */
import { benchGearman } from './gearman.js';
import { benchRunLatency } from './run-latency.js';
import { benchFanout } from './fanout.js';
import { benchBurst } from './burst.js';

type Figures = Record<string, number | string | null>;

/** Entry point of `npm run bench [-- [--json] [section…]]` (bench/main.ts). */
export async function runBenchCommand(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const only = argv.filter((a) => !a.startsWith('--'));
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const figures: Figures = {};
  const notes: string[] = [];
  const sections: Array<[string, () => Promise<Figures>]> = [
    ['gearman', async () => ({ ...(await benchGearman({ log })) })],
    ['run', async () => ({ ...(await benchRunLatency()) })],
    ['fanout', async () => ({ ...(await benchFanout({ log })) })],
    ['burst', async () => ({ ...(await benchBurst()) })],
  ];
  const extra = await loadOptionalSections(log);
  sections.push(...extra);
  const unknown = only.filter((n) => !sections.some(([name]) => name === n));
  if (unknown.length) {
    process.stderr.write(
      `bench: no section ${unknown.join(', ')}; the sections are ${sections.map(([n]) => n).join(', ')}\n`,
    );
    return 2;
  }
  for (const [name, run] of sections) {
    if (only.length && !only.includes(name)) continue;
    log(`running ${name}…`);
    try {
      Object.assign(figures, await run());
    } catch (err) {
      notes.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
      log(`${name} failed: ${(err as Error).message}`);
    }
  }
  const width = Math.max(...Object.keys(figures).map((k) => k.length), 10);
  process.stdout.write(`${'figure'.padEnd(width)}  value\n${'-'.repeat(width)}  -----\n`);
  for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  for (const n of notes) process.stdout.write(`not measured: ${n}\n`);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ ...figures, ...(notes.length ? { not_measured: notes.join('; ') } : {}) })}\n`,
    );
  return 0;
}

/** Sections whose modules may be absent from this build (they are skipped with a note). */
async function loadOptionalSections(log: (s: string) => void): Promise<Array<[string, () => Promise<Figures>]>> {
  const out: Array<[string, () => Promise<Figures>]> = [];
  for (const [name, spec, fn] of [
    ['slack', './slack-ack.js', 'benchSlackAck'],
    ['install', './install.js', 'benchInstall'],
    ['monitor', './monitor.js', 'benchMonitor'],
    ['discover', './discover.js', 'benchDiscover'],
    ['switchover', './switchover.js', 'benchSwitchover'],
    ['failover', './failover.js', 'benchFailover'],
  ] as const) {
    try {
      const mod = (await import(spec)) as Record<string, () => Promise<Figures>>;
      if (typeof mod[fn] === 'function') out.push([name, mod[fn]]);
    } catch (err) {
      log(`${name} section not available: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
