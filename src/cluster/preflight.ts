/**
 * The check before a build: every host has a sandbox worker, a free port run exists on all of them, the version is
 * there, and no sandbox of that name is in the way. Every problem is listed at once, and nothing is built.
 */
import { ErrorCode, GearopsError } from '../errors.js';
import type { Dispatcher } from '../core/ports/dispatcher.js';
import type { SandboxCheckValue } from '../core/capabilities.js';
import type { RunJob } from './jobs.js';

/** What to check: the hosts in node order (master first), and the version and base port asked for, if any. */
export interface PreflightSpec {
  cluster: string;
  hosts: string[];
  version?: string;
  port?: number;
}

/** What the check found: the base port (node i gets base + i), the version to build, and each host's answer. */
export interface Preflight {
  basePort: number;
  version: string;
  checks: SandboxCheckValue[];
}

/** Ports tried when no base port is given. */
export interface PortRange {
  from: number;
  to: number;
}

/** Checks every host; throws a usage error listing every problem ("nothing was built: …"). */
export async function preflight(
  dispatcher: Pick<Dispatcher, 'hosts'>,
  run: RunJob,
  spec: PreflightSpec,
  range: PortRange,
): Promise<Preflight> {
  const { hosts } = spec;
  const problems = registrationProblems(await dispatcher.hosts(), hosts);
  if (problems.length) throw new GearopsError(ErrorCode.Usage, `nothing was built:\n• ${problems.join('\n• ')}`);

  const found = await findPorts(run, spec, range, problems);
  const { checks } = found;
  if (found.base === undefined) problems.push('no free port range was found on every host; give one with port=<base>');
  checks.forEach((c, i) => problems.push(...hostProblems(spec, hosts[i] ?? '?', c)));
  if (problems.length)
    throw new GearopsError(ErrorCode.Usage, `nothing was built:\n• ${[...new Set(problems)].join('\n• ')}`);
  return { basePort: found.base as number, version: spec.version ?? pickVersion(checks), checks };
}

function registrationProblems(live: Array<{ host: string; capabilities: string[] }>, hosts: string[]): string[] {
  const problems: string[] = [];
  for (const h of hosts) {
    const info = live.find((x) => x.host === h);
    if (!info) problems.push(`${h}: no worker is registered for this host`);
    else if (!info.capabilities.includes('sandbox.install'))
      problems.push(
        `${h}: its worker registers no sandbox capabilities (this build's workers have no sandbox support yet, or the host has no usable server build)`,
      );
  }
  return problems;
}

/** Tries the given base port, or five spread over the range; a given port's clashes are problems. */
async function findPorts(
  run: RunJob,
  spec: PreflightSpec,
  range: PortRange,
  problems: string[],
): Promise<{ base?: number; checks: SandboxCheckValue[] }> {
  const { hosts } = spec;
  let checks: SandboxCheckValue[] = [];
  const candidates =
    spec.port !== undefined
      ? [spec.port]
      : Array.from(
          { length: 5 },
          (_, i) => range.from + ((hashName(spec.cluster) + i * 97) % Math.floor((range.to - range.from) / 10)) * 10,
        );
  for (const candidate of candidates) {
    checks = await Promise.all(
      hosts.map((h, i) =>
        run<SandboxCheckValue>('sandbox.check', h, { ports: [candidate + i], version: spec.version }),
      ),
    );
    const portProblems = checks.flatMap((c, i) =>
      c.ports
        .filter((p) => !p.free)
        .map((p) => `${hosts[i]}: port ${p.port} is taken${p.reason ? ` (${p.reason})` : ''}`),
    );
    if (portProblems.length === 0) return { base: candidate, checks };
    if (spec.port !== undefined) problems.push(...portProblems);
  }
  // A given port stays the base even when taken: its problems are already listed.
  return { base: spec.port, checks };
}

function hostProblems(spec: PreflightSpec, h: string, c: SandboxCheckValue): string[] {
  const problems: string[] = [];
  if (spec.version && !c.versions.some((v) => v.version === spec.version || v.version.startsWith(`${spec.version}.`))) {
    problems.push(
      `${h}: version ${spec.version} is not available (has: ${c.versions.map((v) => v.version).join(', ') || 'none'})`,
    );
  }
  const clash = c.sandboxes.find((s) => s.name === spec.cluster);
  if (clash)
    problems.push(
      `${h}: a sandbox named ${spec.cluster} already exists (port ${clash.port}, ${clash.running ? 'running' : 'stopped'})`,
    );
  for (const p of c.problems ?? []) problems.push(`${h}: ${p}`);
  return problems;
}

function hashName(s: string): number {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h;
}

/** The newest version every host has. */
export function pickVersion(checks: SandboxCheckValue[]): string {
  const sets = checks.map((c) => new Set(c.versions.map((v) => v.version)));
  const common = [...(sets[0] ?? [])].filter((v) => sets.every((s) => s.has(v)));
  const cmp = (a: string, b: string) => {
    const pa = a.split('.').map(Number);
    const pb = b.split('.').map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++)
      if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  };
  const best = common.sort(cmp).at(-1);
  if (!best)
    throw new GearopsError(
      ErrorCode.Usage,
      `nothing was built: no server version is available on every host (${checks.map((c) => `${c.host}: ${c.versions.map((v) => v.version).join(', ') || 'none'}`).join('; ')})`,
    );
  return best;
}
