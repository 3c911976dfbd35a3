/**
 * The journal of topology changes (table topology_changes, migration 7). Steps and detail are JSON in the row;
 * each update reads the row FOR UPDATE and writes it back in one transaction, so two writers never lose a step.
 * The factory is long because it is the port's methods over one pool.
 */
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, GearopsError, isGearopsError } from '../errors.js';
import type {
  ChangeJournal,
  TopologyChange,
  TopologyChangeKind,
  TopologyChangeState,
  TopologyChangeStep,
} from '../core/ports/store.js';
import { toStoreError } from './errors.js';

const parse = <T>(s: unknown, fallback: T): T => {
  try {
    return s ? (JSON.parse(String(s)) as T) : fallback;
  } catch {
    return fallback;
  }
};

function toChange(r: RowDataPacket): TopologyChange {
  const steps = parse<Array<{ step: string; at: string; note?: string }>>(r.steps, []);
  return {
    id: Number(r.id),
    cluster: String(r.cluster),
    kind: String(r.kind) as TopologyChangeKind,
    from: String(r.from_node),
    to: String(r.to_node),
    step: String(r.step),
    state: String(r.state) as TopologyChangeState,
    actor: String(r.actor),
    startedAt: new Date(r.started_at),
    updatedAt: new Date(r.updated_at),
    finishedAt: r.finished_at ? new Date(r.finished_at) : null,
    steps: steps.map((s): TopologyChangeStep => ({ ...s, at: new Date(s.at) })),
    detail: parse<Record<string, unknown>>(r.detail, {}),
  };
}

/**
 * Creates the journal on the store's pool; `where` is the store's host:port for errors. Over 80 lines as a factory: one short method per journal operation, over the one pool.
 */
export function createChangeJournal(deps: { db: Pool; where: string }): ChangeJournal {
  const { db, where } = deps;
  const one = async (sql: string, params: unknown[]): Promise<TopologyChange | null> => {
    try {
      const [rows] = await db.query<RowDataPacket[]>(sql, params);
      return rows[0] ? toChange(rows[0]) : null;
    } catch (err) {
      throw toStoreError(err, where);
    }
  };
  const get = (id: number) => one('SELECT * FROM topology_changes WHERE id = ?', [id]);
  const running = (cluster: string) => one('SELECT * FROM topology_changes WHERE running_key = ?', [cluster]);

  /** Appends a step to a change in one transaction; `end` also ends it. False when it is not running. */
  async function update(
    id: number,
    step: string | null,
    o: { note?: string; detail?: Record<string, unknown> } = {},
    end?: Exclude<TopologyChangeState, 'running'>,
  ): Promise<boolean> {
    let c: PoolConnection | null = null;
    try {
      c = await db.getConnection();
      await c.beginTransaction();
      const [rows] = await c.query<RowDataPacket[]>('SELECT * FROM topology_changes WHERE id = ? FOR UPDATE', [id]);
      const row = rows[0];
      if (!row || row.state !== 'running') {
        await c.rollback();
        if (!row) throw new GearopsError(ErrorCode.NotFound, `no topology change #${id}`);
        return false;
      }
      const cur = toChange(row);
      // Ending keeps the step it ended at; its entry in the steps says how it ended.
      const name = step ?? cur.step;
      const steps = [...cur.steps, { step: step ?? end!, at: new Date(), ...(o.note ? { note: o.note } : {}) }];
      const detail = { ...cur.detail, ...(o.detail ?? {}) };
      if (end)
        await c.query(
          'UPDATE topology_changes SET step = ?, steps = ?, detail = ?, state = ?, finished_at = CURRENT_TIMESTAMP(3), running_key = NULL WHERE id = ?',
          [name, JSON.stringify(steps), JSON.stringify(detail), end, id],
        );
      else
        await c.query('UPDATE topology_changes SET step = ?, steps = ?, detail = ? WHERE id = ?', [
          name,
          JSON.stringify(steps),
          JSON.stringify(detail),
          id,
        ]);
      await c.commit();
      return true;
    } catch (err) {
      await c?.rollback().catch(() => undefined);
      throw toStoreError(err, where);
    } finally {
      c?.release();
    }
  }

  return {
    async begin(b) {
      const steps = [{ step: b.step, at: new Date() }];
      try {
        const [res] = await db.query<ResultSetHeader>(
          'INSERT INTO topology_changes (cluster, kind, from_node, to_node, step, actor, steps, detail, running_key) VALUES (?,?,?,?,?,?,?,?,?)',
          [
            b.cluster,
            b.kind,
            b.from,
            b.to,
            b.step,
            b.actor,
            JSON.stringify(steps),
            JSON.stringify(b.detail ?? {}),
            b.cluster,
          ],
        );
        const made = await get(res.insertId);
        if (!made) throw new GearopsError(ErrorCode.Store, `topology change #${res.insertId} vanished`);
        return made;
      } catch (err) {
        const e = toStoreError(err, where);
        if (!isGearopsError(e, ErrorCode.Conflict)) throw e;
        const current = await running(b.cluster);
        throw new GearopsError(
          ErrorCode.Conflict,
          `cluster ${b.cluster} has a ${current?.kind ?? 'topology change'} running` +
            (current ? ` (#${current.id} by ${current.actor}, at step ${current.step})` : ''),
          { cause: err, data: { current } },
        );
      }
    },
    async step(id, step, o) {
      if (!(await update(id, step, o)))
        throw new GearopsError(ErrorCode.Conflict, `topology change #${id} is no longer running`);
    },
    finish: (id, state, o) => update(id, null, o, state),
    running,
    get,
    async recent(cluster, limit) {
      try {
        const n = Math.max(1, Math.min(1000, Math.floor(limit)));
        const [rows] = await db.query<RowDataPacket[]>(
          'SELECT * FROM topology_changes WHERE cluster = ? ORDER BY id DESC LIMIT ?',
          [cluster, n],
        );
        return rows.map(toChange);
      } catch (err) {
        throw toStoreError(err, where);
      }
    },
  };
}
