/** Parsing of the `/replica` subcommands' arguments: each parser throws a usage error naming what is wrong. */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import { CRED_RE, HOST_RE, NAME_RE } from '../../src/core/capabilities.js';
import { FAILOVER_USAGE } from '../replica-failover.js';

/** Usage of `/replica install`. */
export const INSTALL_USAGE =
  '/replica install <cluster> master=<host> slaves=<host>[,<host>…] [version=<v>] [port=<base>] [pool=yes]';

/** Usage of /replica switchover (commands/replica-switchover.ts parses it). */
export const SWITCHOVER_USAGE = '/replica switchover <cluster> [to=<host>|to=<host:port>]';

/** Usage lines of watch and unwatch. */
export const WATCH_USAGE = [
  '/replica watch <cluster> <host:port> [credentials=<name>] [probe=direct|worker:<host>]',
  '/replica unwatch <cluster>',
];

/** Every subcommand's usage. */
export const USAGE = [
  INSTALL_USAGE,
  '/replica status [<cluster>]',
  '/replica list',
  '/replica diagnose <host>',
  '/replica remove <cluster>',
  '/replica sql <cluster> <statement>',
  ...WATCH_USAGE,
  SWITCHOVER_USAGE,
  ...FAILOVER_USAGE,
].join('\n');

const VERSION_RE = /^[0-9]+(\.[0-9]+){0,2}$/;
const ADDRESS_RE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,253}):(\d{1,5})$/;

/** A parsed `/replica install`. */
export interface InstallPlan {
  cluster: string;
  master: string;
  replicas: string[];
  version?: string;
  port?: number;
  pool: boolean;
}

/** Parses the arguments of `/replica install`; throws a usage error naming what is wrong. */
export function parseInstall(args: string[]): InstallPlan {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${INSTALL_USAGE}`);
  const [cluster, ...rest] = args;
  if (!cluster || cluster.includes('=')) throw usage('name the cluster first.');
  if (!NAME_RE.test(cluster))
    throw usage(
      `\`${cluster.slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _, up to 31 characters, starting with a letter).`,
    );
  const kv = keyValues(rest, usage);
  for (const k of kv.keys())
    if (!['master', 'slaves', 'replicas', 'version', 'port', 'pool'].includes(k)) throw usage(`unknown option ${k}=.`);
  const master = kv.get('master');
  const slaves = kv.get('slaves') ?? kv.get('replicas');
  if (!master) throw usage('master=<host> is missing.');
  if (!slaves) throw usage('slaves=<host>[,<host>…] is missing.');
  const replicas = slaves.split(',').map((s) => s.trim());
  for (const h of [master, ...replicas]) if (!HOST_RE.test(h)) throw usage(`\`${h.slice(0, 40)}\` is not a host name.`);
  const all = [master, ...replicas];
  const dup = all.find((h, i) => all.indexOf(h) !== i);
  if (dup) throw usage(`${dup} is named twice: each node needs its own host.`);
  const version = kv.get('version');
  if (version !== undefined && !VERSION_RE.test(version))
    throw usage(`\`${version.slice(0, 20)}\` is not a version (e.g. 10.11).`);
  const portText = kv.get('port');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1024 || port + all.length - 1 > 65535)
      throw usage(`port=${portText.slice(0, 10)} must be a base port from 1024 to ${65535 - all.length + 1}.`);
  }
  const pool = kv.get('pool');
  if (pool !== undefined && !['yes', 'no'].includes(pool)) throw usage('pool= takes yes or no.');
  return { cluster, master, replicas, version, port, pool: pool === 'yes' };
}

function keyValues(args: string[], usage: (why: string) => GearopsError): Map<string, string> {
  const kv = new Map<string, string>();
  for (const a of args) {
    const m = /^([a-z]+)=(.*)$/.exec(a);
    if (!m?.[1]) throw usage(`\`${a.slice(0, 40)}\` is not key=value.`);
    if (kv.has(m[1])) throw usage(`${m[1]}= given twice.`);
    kv.set(m[1], m[2] ?? '');
  }
  return kv;
}

/** A parsed `/replica watch`. */
export interface WatchPlan {
  cluster: string;
  address: string;
  port: number;
  credentials?: string;
  /** probe=worker:<host>: the given server is read by that host's worker; probe=direct: nothing is. */
  probe?: { via: string } | 'direct';
}

/** Parses `/replica watch` arguments; throws a usage error naming what is wrong. */
export function parseWatch(args: string[]): WatchPlan {
  const usage = (why: string) => new GearopsError(ErrorCode.Usage, `${why}\nUsage: ${WATCH_USAGE[0]}`);
  const [cluster, at, ...rest] = args;
  if (!cluster || !NAME_RE.test(cluster))
    throw usage(`\`${(cluster ?? '').slice(0, 40)}\` is not a cluster name (lower-case letters, digits and _).`);
  const m = ADDRESS_RE.exec(at ?? '');
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw usage(`\`${(at ?? '').slice(0, 60)}\` is not host:port of a server.`);
  const plan: WatchPlan = { cluster, address: m[1]!, port };
  for (const a of rest) {
    const kv = /^(credentials|probe)=(.*)$/.exec(a);
    if (!kv) throw usage(`unknown option \`${a.slice(0, 40)}\` (credentials=<name> and probe= are the options).`);
    const value = kv[2] ?? '';
    if (kv[1] === 'credentials') {
      if (plan.credentials !== undefined) throw usage('credentials= given twice.');
      if (!CRED_RE.test(value)) throw usage(`\`${value.slice(0, 40)}\` is not a credentials name.`);
      plan.credentials = value;
      continue;
    }
    if (plan.probe !== undefined) throw usage('probe= given twice.');
    const w = /^worker:([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.exec(value);
    if (value !== 'direct' && !w) throw usage(`probe=${value.slice(0, 40)}: say probe=direct or probe=worker:<host>.`);
    plan.probe = w ? { via: w[1]! } : 'direct';
  }
  return plan;
}
