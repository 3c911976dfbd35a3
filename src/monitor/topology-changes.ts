/**
 * Watched clusters change under gearops' feet: a DBA adds a replica, repoints one, fails over by hand. Each poll
 * maps the topology again from the recorded master and compares it with the record: a new replica is added and
 * announced in the alert channel; a node whose source changed is reported (in its open incident's thread, if it has
 * one) and recorded. A replica that stops showing up is never dropped: it stays in the record, so the monitor's own
 * poll of it raises an unreachable or IO incident.
 */
import type { Logger } from '../log.js';
import { textMessage } from '../core/message.js';
import type { ChatSink } from '../core/ports/chat.js';
import type { ClusterNode, ClusterRecord, ClusterStore, Incident } from '../core/ports/store.js';
import { discoverTopology, type TopologyReader } from '../core/topology.js';
import { watchedNodes } from '../core/cluster.js';
import type { NodeAddress } from '../core/ports/replication.js';

/** What the topology check needs. */
export interface TopologyChangeDeps {
  clusters: Pick<ClusterStore, 'setNodes'>;
  /** A reader logging in with the named credentials entry, reading through a worker the servers viaFor names. */
  topologyReader(credentials: string, viaFor: (n: NodeAddress) => string | undefined): TopologyReader;
  /** Hosts whose worker reads MySQL for the bot: a new server named like one is read there. */
  statusHosts(): Promise<string[]>;
  chat: ChatSink;
  alertChannel: string;
  logger: Logger;
}

/** Checks one watched cluster's topology against its record. */
export interface TopologyChanges {
  check(c: ClusterRecord, open: Incident[]): Promise<void>;
}

const at = (n: { address: string; port: number }) => `${n.address}:${n.port}`;

/** Creates the check; a cluster's check never overlaps with its previous one. */
export function createTopologyChanges(deps: TopologyChangeDeps): TopologyChanges {
  const log = deps.logger.child({ component: 'topology' });
  const busy = new Set<string>();
  return {
    async check(c, open) {
      if (c.kind !== 'watched' || busy.has(c.name)) return;
      const master = c.nodes.find((n) => n.role === 'master');
      if (!master) return;
      busy.add(c.name);
      try {
        const recordedVia = new Map(c.nodes.filter((n) => n.via).map((n) => [at(n), n.via]));
        const live = new Set(await deps.statusHosts().catch(() => []));
        const viaFor = (n: NodeAddress) => recordedVia.get(at(n)) ?? (live.has(n.address) ? n.address : undefined);
        const found = await discoverTopology(deps.topologyReader(c.credentials, viaFor), {
          address: master.address,
          port: master.port,
        });
        // A master that cannot be read is the monitor's own incident; nothing to compare against.
        if (!found.master || at(found.master) !== at(master)) return;
        const recorded = new Map(c.nodes.map((n) => [at(n), n]));
        const now = watchedNodes(found, viaFor);
        const added = now.filter((n) => !recorded.has(at(n)));
        const moved = now.filter((n) => {
          const before = recorded.get(at(n));
          return before !== undefined && before.role !== 'master' && before.replicatesFrom !== n.replicatesFrom;
        });
        if (added.length === 0 && moved.length === 0) return;
        const seen = new Map(now.map((n) => [at(n), n]));
        // Recorded nodes keep their place (and stay, even when no longer seen); new ones follow.
        const nodes: ClusterNode[] = [
          ...c.nodes.map((n) => (seen.has(at(n)) ? { ...n, replicatesFrom: seen.get(at(n))!.replicatesFrom } : n)),
          ...added,
        ];
        if (!(await deps.clusters.setNodes(c.name, nodes))) return;
        for (const n of added) {
          log.info({ event: 'topology_replica_added', cluster: c.name, node: at(n), source: n.replicatesFrom });
          await deps.chat.post(
            deps.alertChannel,
            textMessage(`🆕 ${at(n)} now replicates from ${n.replicatesFrom ?? '?'} (cluster ${c.name}, watched).`),
          );
        }
        for (const n of moved) {
          const was = recorded.get(at(n))!.replicatesFrom ?? 'nothing recorded';
          const text = `↪ ${at(n)} now replicates from ${n.replicatesFrom ?? '?'} (was ${was}; cluster ${c.name}).`;
          const incident = open.find((i) => i.cluster === c.name && i.host === n.host && i.port === n.port);
          log.info({ event: 'topology_source_changed', cluster: c.name, node: at(n), source: n.replicatesFrom, was });
          await deps.chat.post(
            incident?.alertChannel ?? deps.alertChannel,
            textMessage(text),
            incident?.alertTs ? { threadTs: incident.alertTs } : undefined,
          );
        }
      } catch (err) {
        log.warn({ event: 'topology_check_failed', cluster: c.name, err: (err as Error).message });
      } finally {
        busy.delete(c.name);
      }
    },
  };
}
