/** Schema of the load-balancer pool: the `nodes` table applications read, and its change history. */

/** Migrations for the pool, applied by the store after its own (versions 100+ belong to the pool). */
export const POOL_MIGRATIONS: Array<{ version: number; name: string; statements: string[] }> = [
  {
    version: 100,
    name: 'pool nodes and history',
    statements: [
      `CREATE TABLE IF NOT EXISTS nodes (
        host CHAR(28) NOT NULL,
        port INT UNSIGNED NOT NULL,
        sock CHAR(64) NOT NULL,
        type SET('READ','WRITE') NOT NULL DEFAULT '',
        PRIMARY KEY (host, port)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS pool_history (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        host CHAR(28) NOT NULL,
        port INT UNSIGNED NOT NULL,
        before_type VARCHAR(16) NULL,
        after_type VARCHAR(16) NULL,
        actor VARCHAR(255) NOT NULL,
        reason TEXT NOT NULL,
        KEY (host, port), KEY (at)
      ) ENGINE=InnoDB`,
    ],
  },
];
