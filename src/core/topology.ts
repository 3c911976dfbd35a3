/**
 * Topology discovery for replication gearops did not build: given any one server, find its master (following each
 * node's source upwards) and then every replica below it, recursively, keeping intermediate masters as such.
 *
 * Replicas are found the two ways a master knows them: the replicas that registered (`SHOW SLAVE HOSTS`, which needs
 * `report_host` on the replica for a usable address) and the client address of each binlog-dump thread in the
 * processlist (every connected replica, but without its server port). A replica counts only once it confirms it
 * replicates from that master (its own source host and port). Pure: what a node says comes through a reader port.
 */
import type { NodeAddress } from './ports/replication.js';

/** What one server says about itself, its source and the replicas connected to it. */
export interface NodeFacts {
  serverId: number;
  /** Its own port (@@port). */
  port: number;
  /** @@report_host, when set. */
  reportHost: string | null;
  version: string;
  readOnly: boolean;
  /** Where it replicates from, when it is a replica. */
  source: { host: string; port: number; ioRunning: string | null; sqlRunning: string | null } | null;
  /** SHOW SLAVE HOSTS / SHOW REPLICAS. */
  registered: Array<{ host: string; port: number; serverId: number }>;
  /** Client addresses of its binlog-dump threads (processlist), without their ports. */
  dumpClients: string[];
  /** What it could not say, and why (a missing grant), when discovery can do without it. */
  notes?: string[];
}

/** Reads a node's facts (src/mysql, or a worker's status capability); throws when it cannot. */
export interface TopologyReader {
  facts(node: NodeAddress): Promise<NodeFacts>;
}

/** A server found by discovery. */
export interface DiscoveredNode extends NodeAddress {
  serverId: number;
  role: 'master' | 'intermediate' | 'replica';
  /** address:port of its source, null for the master. */
  replicatesFrom: string | null;
  version: string;
  readOnly: boolean;
}

/** A server discovery heard of but could not map, and why. */
export interface DiscoveryProblem {
  address: string;
  port?: number;
  reason: string;
}

/** What discovery found. */
export interface Discovery {
  master: DiscoveredNode | null;
  /** The master first, then breadth-first. */
  nodes: DiscoveredNode[];
  problems: DiscoveryProblem[];
  /** Things worth knowing that did not stop a server being mapped (a grant that would help). */
  notes: string[];
}

const key = (n: NodeAddress) => `${n.address}:${n.port}`;
const addr = (n: NodeAddress): NodeAddress => ({ address: n.address, port: n.port });

/**
 * Maps the topology that `start` belongs to; changes nothing on any server. Over 80 lines: one breadth-first walk whose read cache, visited set and problem list are shared by its steps; splitting it would pass them all around.
 */
export async function discoverTopology(
  reader: TopologyReader,
  start: NodeAddress,
  opts: { maxNodes?: number; maxDepth?: number } = {},
): Promise<Discovery> {
  const maxNodes = opts.maxNodes ?? 200;
  const maxDepth = opts.maxDepth ?? 10;
  const problems: DiscoveryProblem[] = [];
  const cache = new Map<string, Promise<NodeFacts>>();
  const read = (n: NodeAddress) => {
    let p = cache.get(key(n));
    if (!p) {
      p = reader.facts(n);
      cache.set(key(n), p);
    }
    return p;
  };
  const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

  // Upwards: follow sources until a server that replicates from nobody.
  let top: NodeAddress = start;
  let topFacts: NodeFacts;
  try {
    topFacts = await read(top);
  } catch (err) {
    return { master: null, nodes: [], problems: [{ ...start, reason: describe(err) }], notes: [] };
  }
  const climbed = new Set<string>([key(top)]);
  for (let depth = 0; topFacts.source; depth++) {
    const up = { address: topFacts.source.host, port: topFacts.source.port };
    if (climbed.has(key(up)) || depth >= maxDepth) {
      problems.push({ ...up, reason: 'replication loops back (a ring of sources): mapped from the starting server' });
      break;
    }
    try {
      const f = await read(up);
      climbed.add(key(up));
      top = up;
      topFacts = f;
    } catch (err) {
      problems.push({ ...up, reason: `source of ${key(top)} cannot be read: ${describe(err)}` });
      break;
    }
  }

  // Downwards, breadth-first.
  const nodes: DiscoveredNode[] = [];
  const seen = new Map<number, string>();
  const queue: Array<{ at: NodeAddress; facts: NodeFacts; from: string | null }> = [
    { at: top, facts: topFacts, from: null },
  ];
  while (queue.length > 0 && nodes.length < maxNodes) {
    const { at, facts, from } = queue.shift()!;
    if (seen.has(facts.serverId)) {
      if (seen.get(facts.serverId) !== key(at))
        problems.push({ ...at, reason: `same server_id ${facts.serverId} as ${seen.get(facts.serverId)}` });
      continue;
    }
    seen.set(facts.serverId, key(at));
    const node: DiscoveredNode = {
      ...at,
      serverId: facts.serverId,
      role: from === null ? 'master' : 'replica',
      replicatesFrom: from,
      version: facts.version,
      readOnly: facts.readOnly,
    };
    nodes.push(node);
    const below = await replicasOf(at, facts);
    if (below.length > 0 && node.role === 'replica') node.role = 'intermediate';
    for (const b of below) queue.push({ ...b, from: key(at) });
  }
  if (queue.length > 0) problems.push({ ...queue[0]!.at, reason: `more than ${maxNodes} servers: not mapped` });
  const notes = [
    ...new Set((await Promise.all([...cache.values()].map((p) => p.catch(() => null)))).flatMap((f) => f?.notes ?? [])),
  ];
  return { master: nodes[0] ?? null, nodes, problems, notes };

  /** The replicas of `at` that confirm they replicate from it. */
  async function replicasOf(at: NodeAddress, facts: NodeFacts) {
    const candidates = new Map<string, NodeAddress & { via: string }>();
    for (const r of facts.registered) {
      if (!r.host) continue;
      candidates.set(`${r.host}:${r.port}`, { address: r.host, port: r.port, via: 'SHOW SLAVE HOSTS' });
    }
    // Dump threads from addresses no registered replica names: try the ports registered replicas without
    // report_host announced, then the master's own port and 3306.
    const named = new Set([...candidates.values()].map((c) => c.address));
    const portsToTry = [...new Set([...facts.registered.filter((r) => !r.host).map((r) => r.port), at.port, 3306])];
    const found: Array<{ at: NodeAddress; facts: NodeFacts }> = [];
    const confirms = (f: NodeFacts) =>
      f.source !== null && f.source.port === at.port && (f.source.host === at.address || sameServer(f, facts));
    await Promise.all(
      [...candidates.values()].map(async (c) => {
        try {
          const f = await read(c);
          if (confirms(f)) found.push({ at: { address: c.address, port: c.port }, facts: f });
          else problems.push({ ...addr(c), reason: `listed by ${key(at)} (${c.via}) but does not replicate from it` });
        } catch (err) {
          problems.push({ ...addr(c), reason: `listed by ${key(at)} (${c.via}) but cannot be read: ${describe(err)}` });
        }
      }),
    );
    // A dump thread's address may belong to a replica already found by its report_host name (which cannot be
    // told from here): only more dump threads than such replicas leave some to look for.
    const confirmed = new Set(found.map((f) => f.at.address));
    const leftover = facts.dumpClients.filter((a) => !confirmed.has(a));
    const byName = found.filter((f) => !facts.dumpClients.includes(f.at.address)).length;
    const unnamed = leftover.length > byName ? [...new Set(leftover.filter((a) => !named.has(a)))] : [];
    await Promise.all(
      unnamed.map(async (address) => {
        for (const port of portsToTry) {
          const f = await read({ address, port }).catch(() => null);
          if (f && confirms(f)) {
            found.push({ at: { address, port }, facts: f });
            return;
          }
        }
        problems.push({
          address,
          reason:
            `replicates from ${key(at)} (a binlog dump thread) but its port is unknown and none of ` +
            `${portsToTry.join(', ')} answered as it: set report_host and report_port on it`,
        });
      }),
    );
    return found.sort((a, b) => key(a.at).localeCompare(key(b.at), 'en', { numeric: true }));
  }
}

/** A replica names its source by a host name the bot may know by another (report_host): same server if it says so. */
function sameServer(replica: NodeFacts, masterFacts: NodeFacts): boolean {
  return replica.source !== null && masterFacts.reportHost !== null && replica.source.host === masterFacts.reportHost;
}
