/**
 * Per-cluster database credentials. The bot makes them at /replica install,
 * keeps them in a file only it can read, and sends them to the workers sealed
 * inside the install job; they never enter the store, a message or a log.
 */
import { randomBytes } from 'node:crypto';

/** One MySQL account. */
export interface DbAccount {
  user: string;
  password: string;
}

/** The accounts of one cluster (the same on every node). */
export interface ClusterCredentials {
  /** What the bot uses for status, replication checks and repairs. */
  admin: DbAccount;
  /** What the replicas log in to the master with (REPLICATION SLAVE only). */
  replication: DbAccount;
  /** What /replica sql runs as: SELECT on application schemas, no access to mysql.*. */
  readOnly: DbAccount;
}

/** Finds a cluster's credentials by its name (null when unknown). */
export interface CredentialResolver {
  get(cluster: string): ClusterCredentials | null;
}

/** Keeps clusters' credentials. */
export interface ClusterCredentialStore extends CredentialResolver {
  save(cluster: string, credentials: ClusterCredentials): void;
  remove(cluster: string): void;
}

/** MySQL Sandbox's well-known accounts: only for sandboxes on a loopback address, when the demo setting asks. */
export const DEMO_CREDENTIALS: ClusterCredentials = {
  admin: { user: 'msandbox', password: 'msandbox' },
  replication: { user: 'rsandbox', password: 'rsandbox' },
  readOnly: { user: 'gearops_ro', password: 'msandbox' },
};

/** Fresh random passwords for a new cluster (192 bits each; letters, digits, - and _). */
export function generateClusterCredentials(): ClusterCredentials {
  const pw = () => randomBytes(24).toString('base64url');
  return {
    admin: { user: 'msandbox', password: pw() },
    replication: { user: 'rsandbox', password: pw() },
    readOnly: { user: 'gearops_ro', password: pw() },
  };
}

/** True when `password` is one of the well-known demo passwords. */
export function usesDemoPassword(c: ClusterCredentials): boolean {
  const demo = new Set(Object.values(DEMO_CREDENTIALS).map((a: DbAccount) => a.password));
  return [c.admin, c.replication, c.readOnly].some((a) => demo.has(a.password));
}

/** True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === '::1' || address === 'localhost';
}
