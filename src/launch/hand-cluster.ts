/**
 * DEMO ONLY — the demo console's `demo …` lines: a replication cluster started by hand beside gearops (plain
 * mariadbd on loopback, wired with CHANGE MASTER TO … MASTER_USE_GTID=slave_pos, as a team's own would be, not a
 * gearops sandbox), and ways to break it, so that `/replica watch` can adopt it and its alerts can be seen and fixed
 * from the console. Its monitoring account goes into the demo's credentials file (owner-only) under the cluster's
 * name; the password is never printed. Writes happen here, on the servers directly, never through /replica sql
 * (which is read-only). Everything it starts is stopped when the demo ends.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { ConsoleBuiltin } from '../chat/console/console-builtins.js';
import type { ConsoleIo } from '../chat/console/console-chat.js';
import { freePort } from './free-port.js';
import { createPlainTopology, type PlainServer, type PlainTopology } from './plain-topology.js';
import { NAME_RE } from '../core/capabilities.js';

const USAGE = [
  'demo only — replication started by hand beside gearops:',
  '  demo cluster <name> [replicas=<1-5>]   start a master and replicas (plain mariadbd on 127.0.0.1), wired by hand',
  '  demo watch <name>                      types /replica watch <name> <its first replica> credentials=<name> --yes',
  '  demo break <name|host:port>            a duplicate-key conflict (1062) on that replica (a name: its first one):',
  '                                         the same row written on it by hand, then on its master',
  '                                         (fix: the alert’s Skip one event)',
  '  demo stop <name|host:port>             STOP SLAVE IO_THREAD on that replica (fix: the alert’s Restart replication)',
].join('\n');

/**
 * The `demo` console line, over the demo's directory and credentials file; stop() ends every server it started. Over 80 lines as a factory: start and break share the clusters started; each is short.
 */
export function createHandClusters(opts: { dir: string; credentialsFile: string }): {
  builtin: ConsoleBuiltin;
  stop(): Promise<void>;
} {
  const clusters = new Map<string, { topo: PlainTopology; master: PlainServer; replicas: PlainServer[] }>();
  /** A replica by its host:port, or a cluster's first replica by the cluster's name. */
  const replicaAt = (at: string | undefined) => {
    const named = at ? clusters.get(at) : undefined;
    if (named) return { ...named, replica: named.replicas[0]! };
    const port = Number(/^(?:127\.0\.0\.1|localhost):(\d{1,5})$/.exec(at ?? '')?.[1]);
    for (const c of clusters.values()) {
      const r = c.replicas.find((s) => s.port === port);
      if (r) return { ...c, replica: r };
    }
    return null;
  };

  /** Adds (or replaces) an entry of the credentials file; written whole, owner-only, then renamed. */
  const saveEntry = (name: string, account: { user: string; password: string }) => {
    const doc = (parseYaml(readFileSync(opts.credentialsFile, 'utf8')) ?? {}) as Record<string, unknown>;
    doc[name] = { user: account.user, password: account.password };
    const tmp = `${opts.credentialsFile}.tmp`;
    writeFileSync(tmp, `# demo credentials: entries made by \`demo cluster\`\n${stringify(doc)}`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, opts.credentialsFile);
  };

  async function start(name: string | undefined, rest: string[], io: ConsoleIo): Promise<boolean> {
    const n = Number(/^replicas=(\d)$/.exec(rest[0] ?? 'replicas=2')?.[1]);
    if (!name || !NAME_RE.test(name) || rest.length > 1 || !(n >= 1 && n <= 5)) {
      io.out(USAGE);
      return false;
    }
    if (clusters.has(name)) {
      io.out(`demo: ${name} is already running (demo break / demo stop take its replicas' host:port).`);
      return false;
    }
    const topo = createPlainTopology({ baseDir: join(opts.dir, name) });
    const ids = 100 * (clusters.size + 1);
    try {
      const ports: number[] = [];
      while (ports.length < n + 1) {
        const p = await freePort();
        if (!ports.includes(p)) ports.push(p);
      }
      io.out(`demo: starting ${n + 1} plain mariadbd on 127.0.0.1 (ports ${ports.join(', ')})…`);
      const [master, ...replicas] = await Promise.all(
        ports.map((port, i) => topo.start({ port, serverId: ids + i + 1, reportHost: '127.0.0.1' })),
      );
      // Skip one event sets sql_slave_skip_counter, which MariaDB 10.11 allows only with SUPER (REPLICATION SLAVE
      // ADMIN is not enough): the demo's account gets it, on every server (not binlogged), as the README says.
      const grant = `SET sql_log_bin = 0; GRANT SUPER ON *.* TO '${topo.accounts.monitor.user}'@'%'; SET sql_log_bin = 1`;
      await Promise.all([master!, ...replicas].map((srv) => srv.sql(grant)));
      await master!.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, note VARCHAR(60))');
      await Promise.all(replicas.map((r) => r.replicateFrom(master!)));
      clusters.set(name, { topo, master: master!, replicas });
      saveEntry(name, topo.accounts.monitor);
      io.out(
        [
          `demo: cluster ${name} runs beside gearops (not built by it):`,
          `  master   127.0.0.1:${master!.port} (server_id ${master!.serverId})`,
          ...replicas.map(
            (r) => `  replica  127.0.0.1:${r.port} (server_id ${r.serverId}) ← 127.0.0.1:${master!.port}`,
          ),
          `  monitoring account '${topo.accounts.monitor.user}' (SLAVE MONITOR, PROCESS, REPLICATION MASTER/SLAVE ADMIN, SUPER):`,
          `  credentials entry '${name}' in ${opts.credentialsFile} (mode 600; the password is not shown)`,
          `Watch it from any of its servers:  /replica watch ${name} 127.0.0.1:${replicas[0]!.port} credentials=${name} --yes`,
        ].join('\n'),
      );
      return true;
    } catch (err) {
      await topo.stop().catch(() => undefined);
      io.out(`demo: cluster ${name} did not start: ${(err as Error).message}`);
      return false;
    }
  }

  async function breakIt(how: 'break' | 'stop', at: string | undefined, io: ConsoleIo): Promise<boolean> {
    const hit = replicaAt(at);
    if (!hit) {
      const known = [...clusters.values()].flatMap((c) => c.replicas.map((r) => `127.0.0.1:${r.port}`));
      io.out(
        `demo ${how} takes a cluster \`demo cluster\` started, or one of its replicas: ` +
          `${known.length ? [...clusters.keys(), ...known].join(', ') : 'none yet'}.`,
      );
      return false;
    }
    const { master, replica } = hit;
    if (how === 'stop') {
      await replica.sql('STOP SLAVE IO_THREAD');
      io.out(`demo: STOP SLAVE IO_THREAD on 127.0.0.1:${replica.port}; the monitor's alert follows within a poll.`);
      return true;
    }
    // The row is written on the replica alone first (not binlogged), then on the master: the replica's SQL thread
    // then fails on the master's insert with 1062. Both rows are the same, so skipping that event loses nothing.
    const id = Number((await master.sql('SELECT COALESCE(MAX(id), 0) + 1 FROM app.t')).trim());
    const row = `(${id}, 'demo break')`;
    await replica.sql(`SET sql_log_bin = 0; INSERT INTO app.t VALUES ${row}; SET sql_log_bin = 1`);
    await master.sql(`INSERT INTO app.t VALUES ${row}`);
    const deadline = Date.now() + 20_000;
    let errno = '';
    while (Date.now() < deadline && errno !== '1062') {
      await new Promise((r) => setTimeout(r, 100));
      errno = (await replica.slaveStatus()).Last_SQL_Errno ?? '';
    }
    io.out(
      errno === '1062'
        ? `demo: duplicate key on 127.0.0.1:${replica.port}: row id ${id} was written there by hand and then by its ` +
            'master; its SQL thread stopped with error 1062. The alert follows within a poll.'
        : `demo: 127.0.0.1:${replica.port} did not stop with 1062 within 20 s (Last_SQL_Errno ${errno || 'none'}).`,
    );
    return errno === '1062';
  }

  return {
    async builtin(args, io, run) {
      const [sub, ...rest] = args;
      if (sub === 'cluster') return start(rest[0], rest.slice(1), io);
      if (sub === 'watch') {
        const c = rest.length === 1 ? clusters.get(rest[0]!) : undefined;
        if (!c) {
          io.out(
            `demo watch takes the name of a cluster \`demo cluster\` started: ${[...clusters.keys()].join(', ') || 'none yet'}.`,
          );
          return false;
        }
        return run(`/replica watch ${rest[0]} 127.0.0.1:${c.replicas[0]!.port} credentials=${rest[0]} --yes`);
      }
      if (sub === 'break' || sub === 'stop') return breakIt(sub, rest[0], io);
      io.out(USAGE);
      return sub === 'help';
    },
    async stop() {
      await Promise.all([...clusters.values()].map((c) => c.topo.stop()));
      clusters.clear();
    },
  };
}
