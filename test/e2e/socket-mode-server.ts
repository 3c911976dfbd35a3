/**
 * Slack's side of Socket Mode, for tests: a WebSocket server that greets the
 * app with `hello`, sends envelopes (slash commands, interactivity) and
 * records the app's acks, as Slack's socket endpoint does.
 */
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

/** An ack the app sent back for an envelope. */
export interface SocketAck {
  envelopeId: string;
  at: number;
}

/** Starts the server on a free port; `url` is what apps.connections.open should return. */
export async function startSocketModeServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const { port } = wss.address() as { port: number };
  const acks: SocketAck[] = [];
  let socket: WebSocket | null = null;
  const connected: Array<() => void> = [];
  wss.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { envelope_id?: string };
      if (m.envelope_id) acks.push({ envelopeId: m.envelope_id, at: Date.now() });
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        debug_info: { host: 'test', approximate_connection_time: 3600 },
        connection_info: { app_id: 'A1' },
      }),
    );
    connected.splice(0).forEach((f) => f());
  });

  /** Sends one envelope; returns its id and when it was sent. */
  function send(
    type: 'slash_commands' | 'interactive',
    payload: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): { envelopeId: string; sentAt: number } {
    if (!socket) throw new Error('no app connected');
    const envelopeId = randomUUID();
    socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: type === 'slash_commands',
        ...extra,
      }),
    );
    return { envelopeId, sentAt: Date.now() };
  }

  return {
    url: `ws://127.0.0.1:${port}/link`,
    acks,
    /** Resolves once the app has connected (and been greeted). */
    connected: () => (socket ? Promise.resolve() : new Promise<void>((r) => connected.push(r))),
    send,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
