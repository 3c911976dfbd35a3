/**
 * The build step: every node of a recorded install at once, the replicas pointed at the master's address. The
 * first node to fail stops the others (sandbox.cancel with the install's token); the worker removes a half-made
 * node itself, and what did finish is in `made` for the caller to remove.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, isGearopsError } from '../errors.js';
import type { SandboxInstallValue } from '../core/capabilities.js';
import type { InstallPorts, InstallRun, InstallView } from './install-types.js';

export type { NodeState } from './install-types.js';

/** The nodes' answers once every one is built. */
export interface Built {
  master: SandboxInstallValue;
  replicas: SandboxInstallValue[];
}

/** The jobs of one build: those running, and the first failure (the one shown as the cause). */
interface BuildState {
  inFlight: Set<number>;
  firstFailure: unknown;
}

/** Builds every node; rejects with the first failure once every node has ended. */
export async function buildNodes(ports: InstallPorts, r: InstallRun, view: InstallView): Promise<Built> {
  const b: BuildState = { inFlight: new Set(), firstFailure: null };
  const master = { address: r.masterAddress, port: r.basePort };
  const settled = await Promise.allSettled([
    installNode(ports, r, view, b, 0),
    ...r.spec.replicas.map((_, k) => installNode(ports, r, view, b, k + 1, master)),
  ]);
  if (b.firstFailure !== null) throw b.firstFailure;
  const values = settled.map((s) => (s as PromiseFulfilledResult<SandboxInstallValue>).value);
  return { master: values[0]!, replicas: values.slice(1) };
}

async function installNode(
  ports: InstallPorts,
  r: InstallRun,
  view: InstallView,
  b: BuildState,
  i: number,
  master?: { address: string; port: number },
): Promise<SandboxInstallValue> {
  const n = r.nodes[i]!;
  const { cluster } = r.spec;
  n.state = 'installing';
  view.push(`installing ${n.role} on ${n.host}…`, true);
  b.inFlight.add(i);
  // The passwords travel sealed for this one job: gearmand and whoever reads its queue see ciphertext.
  const jobId = randomUUID();
  const secrets = ports.credentials?.seal(jobId, JSON.stringify(r.creds));
  try {
    const args = {
      name: cluster,
      cluster,
      version: r.version,
      port: n.port,
      serverId: i + 1,
      role: n.role,
      master: master ? { address: master.address, port: master.port } : undefined,
      token: r.token,
      ...(secrets ? { secrets } : {}),
    };
    const onStep = (step: string) => {
      n.state = step;
      view.push(`installing ${n.role} on ${n.host}…`);
    };
    const v = await ports.run('sandbox.install', n.host, args, {
      onStep,
      timeoutMs: ports.installTimeoutMs,
      id: jobId,
    });
    r.made.push({ host: n.host, name: cluster });
    n.state = `running ${v.flavour} ${v.version}${n.role === 'replica' ? ', replicating' : ''}`;
    n.ok = true;
    return v;
  } catch (err) {
    const first = b.firstFailure === null;
    if (first) b.firstFailure = err;
    n.state =
      first || !isGearopsError(err, ErrorCode.Cancelled)
        ? `failed: ${(err as Error).message}`
        : 'stopped: another node failed';
    n.ok = false;
    // The worker removes a half-made node itself; a node that did finish is removed by the caller.
    if (first) await cancelOthers(ports, r, b, i);
    throw err;
  } finally {
    b.inFlight.delete(i);
  }
}

async function cancelOthers(ports: InstallPorts, r: InstallRun, b: BuildState, failed: number): Promise<void> {
  const others = [...b.inFlight].filter((j) => j !== failed);
  await Promise.allSettled(
    others.map((j) =>
      ports.run('sandbox.cancel', r.nodes[j]!.host, { name: r.spec.cluster, token: r.token }, { timeoutMs: 10_000 }),
    ),
  );
}
