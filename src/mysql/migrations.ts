/** The store's schema, as versioned migrations applied once each, in order. */
import { POOL_MIGRATIONS } from './pool-schema.js';

/** One migration. */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Migrations of the store itself (versions below 100); the pool's follow. */
export const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'audit, clusters, incidents',
    statements: [
      `CREATE TABLE IF NOT EXISTS audit (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        source VARCHAR(16) NOT NULL,
        user_id VARCHAR(64) NOT NULL,
        channel_id VARCHAR(64) NOT NULL,
        command VARCHAR(64) NOT NULL,
        text TEXT NOT NULL,
        decision ENUM('allow','deny') NOT NULL,
        rule VARCHAR(128) NULL,
        status ENUM('ok','denied','refused','failed') NOT NULL,
        host VARCHAR(255) NULL,
        job_handle VARCHAR(128) NULL,
        exit_code INT NULL,
        duration_ms INT UNSIGNED NULL,
        output_bytes BIGINT UNSIGNED NULL,
        request_id VARCHAR(128) NULL,
        summary TEXT NULL,
        KEY (at), KEY (user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS clusters (
        name VARCHAR(32) NOT NULL PRIMARY KEY,
        version VARCHAR(32) NOT NULL,
        credentials VARCHAR(255) NOT NULL,
        created_by VARCHAR(64) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS cluster_nodes (
        cluster VARCHAR(32) NOT NULL,
        position INT UNSIGNED NOT NULL,
        host VARCHAR(64) NOT NULL,
        address VARCHAR(255) NOT NULL,
        port INT UNSIGNED NOT NULL,
        role ENUM('master','replica') NOT NULL,
        server_id INT UNSIGNED NOT NULL,
        sandbox VARCHAR(64) NOT NULL,
        PRIMARY KEY (cluster, position),
        CONSTRAINT fk_cluster FOREIGN KEY (cluster) REFERENCES clusters(name) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS incidents (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        cluster VARCHAR(32) NOT NULL,
        host VARCHAR(64) NOT NULL,
        port INT UNSIGNED NOT NULL,
        kind VARCHAR(16) NOT NULL,
        state ENUM('open','resolved') NOT NULL DEFAULT 'open',
        errno INT NULL,
        error TEXT NULL,
        lag INT NULL,
        opened_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        resolved_at DATETIME(3) NULL,
        alert_channel VARCHAR(64) NULL,
        alert_ts VARCHAR(64) NULL,
        acknowledged_by VARCHAR(64) NULL,
        pooled_out TINYINT(1) NOT NULL DEFAULT 0,
        -- Non-NULL only while open: the unique key allows one open incident per node and kind, ever.
        open_key VARCHAR(200) NULL,
        UNIQUE KEY uniq_open (open_key),
        KEY (state)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 2,
    name: 'clusters are recorded before they are built',
    statements: [
      // 'installing' from before the first node is built until replication is proven, 'removing' from the
      // moment /replica remove starts stopping servers (the monitor watches only 'ready' clusters); the token
      // names an install's jobs on the workers (sandbox.cancel), so an install whose bot died can be stopped.
      `ALTER TABLE clusters
        ADD COLUMN state ENUM('installing','ready','removing') NOT NULL DEFAULT 'ready',
        ADD COLUMN install_token VARCHAR(64) NULL`,
    ],
  },
  {
    version: 6,
    name: 'watched clusters: replication gearops did not build',
    statements: [
      `ALTER TABLE clusters ADD COLUMN kind ENUM('built','watched') NOT NULL DEFAULT 'built'`,
      `ALTER TABLE cluster_nodes ADD COLUMN replicates_from VARCHAR(255) NULL`,
      `ALTER TABLE cluster_nodes ADD COLUMN probe_via VARCHAR(64) NULL`,
    ],
  },
  {
    version: 3,
    name: 'Slack requests, confirmations and user rates shared between bot instances',
    statements: [
      // Keys of requests taken (sha256 of trigger_id keys and of timestamp+signature): retries and replays.
      `CREATE TABLE IF NOT EXISTS slack_requests (
        k CHAR(64) NOT NULL PRIMARY KEY,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY (at)
      ) ENGINE=InnoDB DEFAULT CHARSET=ascii`,
      // answer: what the asker's user pressed; taken: what the asking instance acted on (each set once).
      `CREATE TABLE IF NOT EXISTS confirmations (
        id CHAR(36) NOT NULL PRIMARY KEY,
        user_id VARCHAR(64) NOT NULL,
        answer TINYINT(1) NULL,
        taken TINYINT(1) NULL,
        expires_at DATETIME(3) NOT NULL,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY (at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS user_rate_hits (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        user_id VARCHAR(64) NOT NULL,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY (user_id, at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 4,
    name: 'commands journal',
    statements: [
      // One row per accepted command, written before its job is submitted: a restarted bot (or another
      // instance) finds what was in flight, and its message, from here.
      `CREATE TABLE IF NOT EXISTS commands (
        request_id VARCHAR(128) NOT NULL PRIMARY KEY,
        -- 'handed-over:<instance>' once that bot stopped with it in flight.
        instance VARCHAR(96) NOT NULL,
        command VARCHAR(64) NOT NULL,
        text TEXT NOT NULL,
        user_id VARCHAR(64) NOT NULL,
        channel_id VARCHAR(64) NOT NULL,
        host VARCHAR(255) NULL,
        job_id VARCHAR(128) NULL,
        job_handle VARCHAR(128) NULL,
        message_ts VARCHAR(64) NULL,
        state ENUM('accepted','queued','running','done') NOT NULL,
        accepted_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        KEY (state, instance)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 7,
    name: 'topology changes journal',
    statements: [
      // One row per switchover, failover or rejoin, written before its first step and at each step. running_key is
      // the cluster while running and NULL after: the unique key allows one running change per cluster.
      `CREATE TABLE IF NOT EXISTS topology_changes (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        cluster VARCHAR(32) NOT NULL,
        kind ENUM('switchover','failover','rejoin') NOT NULL,
        from_node VARCHAR(300) NOT NULL,
        to_node VARCHAR(300) NOT NULL,
        step VARCHAR(64) NOT NULL,
        state ENUM('running','done','failed','rolled_back') NOT NULL DEFAULT 'running',
        actor VARCHAR(255) NOT NULL,
        steps MEDIUMTEXT NOT NULL,
        detail MEDIUMTEXT NOT NULL,
        started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        finished_at DATETIME(3) NULL,
        running_key VARCHAR(32) NULL,
        UNIQUE KEY uniq_running (running_key),
        KEY (cluster, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
];

/** Every migration, in order. */
export const ALL_MIGRATIONS: Migration[] = [...STORE_MIGRATIONS, ...POOL_MIGRATIONS].sort(
  (a, b) => a.version - b.version,
);
