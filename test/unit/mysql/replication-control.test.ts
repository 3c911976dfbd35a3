import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { relayBacklog } from '../../../src/mysql/replication-control.js';

const row = (r: Record<string, unknown>) => r as RowDataPacket;

describe('relay-log backlog of a replica', () => {
  it('is read minus executed within one master file, else the relay log space, and 0 for a non-replica', () => {
    expect(relayBacklog(undefined)).toBe(0);
    expect(
      relayBacklog(
        row({
          Master_Log_File: 'b.1',
          Relay_Master_Log_File: 'b.1',
          Read_Master_Log_Pos: 900,
          Exec_Master_Log_Pos: 400,
        }),
      ),
    ).toBe(500);
    expect(
      relayBacklog(
        row({
          Master_Log_File: 'b.2',
          Relay_Master_Log_File: 'b.1',
          Read_Master_Log_Pos: 10,
          Exec_Master_Log_Pos: 400,
          Relay_Log_Space: 4096,
        }),
      ),
    ).toBe(4096);
  });
});
