/**
 * The install sequence of a replication cluster, as steps over ports: record it (installing), build the master and
 * the replicas at once (each replica replicating as soon as the master takes its login), prove replication by a
 * write on the master read back on every replica, mark it ready, add it to the pool. When a node fails the others
 * are told to stop (sandbox.cancel) and every node that was made is removed.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, GearopsError, isGearopsError } from '../errors.js';
import { formatDuration } from '../core/message.js';
import type { SandboxInstallValue } from '../core/capabilities.js';
import type { ClusterNode, ClusterRecord } from '../core/ports/store.js';
import type { ReplicationProbe } from '../core/ports/replication.js';
import { DEMO_CREDENTIALS, generateClusterCredentials, isLoopbackAddress } from '../core/ports/credentials.js';
import type { Preflight } from './preflight.js';
import { addToPool } from './pool.js';
import { buildNodes } from './build.js';
import type { InstallPorts, InstallRun, InstallSpec, InstallView, NodeState } from './install-types.js';

export type {
  CredentialPorts,
  InstallPorts,
  InstallRun,
  InstallSpec,
  InstallView,
  NodeState,
} from './install-types.js';

/** The end of an install: ready (with its summary), or failed with what was cleaned up. */
export type InstallResult = { ok: true; summary: string; durationMs: number } | { ok: false; summary: string };

/**
 * Records the cluster as installing, before anything is built (if this bot dies half-way, the cluster is still
 * known, and /replica remove stops what is left of it), and keeps its own passwords. A name taken meanwhile
 * rejects with the store's gearops_conflict.
 */
export async function recordInstall(ports: InstallPorts, spec: InstallSpec, pre: Preflight): Promise<InstallRun> {
  const hosts = [spec.master, ...spec.replicas];
  const { basePort, version, checks } = pre;
  const nodes: NodeState[] = hosts.map((h, i) => ({
    host: h,
    role: i === 0 ? 'master' : 'replica',
    port: basePort + i,
    state: 'waiting',
  }));
  const token = randomUUID();
  const record: ClusterRecord = {
    name: spec.cluster,
    version,
    credentials: ports.credentialsName ?? "the bot's state dir (GEAROPS_STATE_DIR)",
    createdBy: ports.userId,
    state: 'installing',
    installToken: token,
    nodes: hosts.map((h, i): ClusterNode => ({
      host: h,
      address: checks[i]?.address ?? '127.0.0.1',
      port: basePort + i,
      role: i === 0 ? 'master' : 'replica',
      serverId: i + 1,
      sandbox: spec.cluster,
    })),
  };
  await ports.clusters.create(record);
  // This cluster's own passwords (the demo's well-known ones only on loopback addresses, when asked for).
  const creds =
    ports.credentials?.demo && record.nodes.every((n) => isLoopbackAddress(n.address))
      ? DEMO_CREDENTIALS
      : generateClusterCredentials();
  try {
    ports.credentials?.store.save(spec.cluster, creds);
  } catch (err) {
    await ports.clusters.remove(spec.cluster).catch(() => undefined);
    throw new GearopsError(
      ErrorCode.Config,
      "nothing was built: cannot keep the cluster's passwords in the bot's state dir (GEAROPS_STATE_DIR): " +
        (err as Error).message,
      { cause: err },
    );
  }
  const masterAddress = checks[0]?.address ?? '127.0.0.1';
  return { spec, record, token, creds, version, basePort, masterAddress, nodes, made: [] };
}

/** Builds, proves, marks ready and pools a recorded install; on any failure removes what it made. */
export async function runInstall(ports: InstallPorts, r: InstallRun, view: InstallView): Promise<InstallResult> {
  const { spec, token } = r;
  ports.installingHere.add(token);
  const started = Date.now();
  try {
    await view.open('checked every host; installing the master…');
  } catch (err) {
    // Nothing was built: forget the record too.
    ports.installingHere.delete(token);
    await ports.clusters.remove(spec.cluster).catch(() => undefined);
    ports.credentials?.store.remove(spec.cluster);
    throw err;
  }
  try {
    view.push('checked every host; installing the master and the replicas in parallel…', true);
    const built = await buildNodes(ports, r, view);
    view.push('verifying replication: writing on the master, reading on every replica…', true);
    await proveReplication(ports.probe, spec.cluster, built.master, built.replicas);
    if (!(await ports.clusters.markReady(spec.cluster, built.master.version))) {
      throw new GearopsError(
        ErrorCode.Conflict,
        `the record of cluster ${spec.cluster} was removed while it was being installed (/replica remove)`,
      );
    }
    let poolNote = '';
    if (spec.pool && ports.pool)
      poolNote = await addToPool(
        ports.pool,
        ports.announce,
        r.record,
        ports.userId,
        `/replica install ${spec.cluster} pool=yes`,
      );
    const summary = `cluster ${spec.cluster} ready in ${formatDuration(Date.now() - started)}: master ${spec.master}:${r.basePort}, ${spec.replicas.length} replica(s) replicating (verified by a write on the master)${poolNote}`;
    await view.close(`✓ ${summary}`);
    return { ok: true, summary, durationMs: Date.now() - started };
  } catch (err) {
    const reason = isGearopsError(err) ? err.message : (err as Error).message;
    view.push(`✗ failed: ${reason} — removing what was made…`, true);
    const status = await undoInstall(ports, r, reason);
    await view.close(status);
    return { ok: false, summary: status };
  } finally {
    ports.installingHere.delete(token);
  }
}

/** Proves replication: a write on the master, read back on every replica; throws naming each that did not see it. */
export async function proveReplication(
  probe: Pick<ReplicationProbe, 'verifyReplication'>,
  cluster: string,
  master: SandboxInstallValue,
  replicas: SandboxInstallValue[],
): Promise<void> {
  const verified = await probe.verifyReplication(
    { address: master.address, port: master.port, cluster },
    replicas.map((x) => ({ address: x.address, port: x.port, cluster })),
  );
  const bad = verified.filter((v) => !v.ok);
  if (bad.length)
    throw new GearopsError(
      ErrorCode.Sandbox,
      `replication check failed: ${bad.map((b) => `${b.node.address}:${b.node.port} ${b.detail}`).join('; ')}`,
    );
}

/**
 * Removes every node a failed install made, then its record and passwords; answers the status to show. When a node
 * cannot be removed the record stays (installing) so that /replica remove can finish the job once the host is back.
 */
async function undoInstall(ports: InstallPorts, r: InstallRun, reason: string): Promise<string> {
  const { cluster } = r.spec;
  const cleanup = await Promise.allSettled(
    r.made.map((m) => ports.run('sandbox.remove', m.host, { name: m.name, undo: 'install' })),
  );
  const leftovers = cleanup
    .map((c, i) => (c.status === 'rejected' ? `${r.made[i]?.host}: ${(c.reason as Error).message}` : null))
    .filter(Boolean);
  if (leftovers.length)
    return `✗ failed: ${reason}. Could not remove: ${leftovers.join('; ')}. The cluster stays listed as installing: /replica remove ${cluster} tries again.`;
  const forgotten = await ports.clusters.remove(cluster).then(
    () => null,
    (e: Error) => e.message,
  );
  if (!forgotten) ports.credentials?.store.remove(cluster);
  return forgotten
    ? `✗ failed: ${reason}. Removed every node that was made, but not the cluster's record (${forgotten}): /replica remove ${cluster} once the store answers.`
    : `✗ failed: ${reason}. Removed every node that was made; nothing is left behind.`;
}
