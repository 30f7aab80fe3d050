import type { Duplex } from 'node:stream';
import { ChannelSocket } from './channel-streams.js';
import { checkInt } from './requests.js';
import type { AgentSession } from './session.js';

/** A connection to 127.0.0.1:port inside the sandbox; rejects with `refused` when nobody listens. */
export async function connect(session: AgentSession, port: number): Promise<Duplex> {
  const op = session.open('connect', { port: checkInt('port', port, 1, 65535) });
  const socket = new ChannelSocket(op);
  await op.started;
  return socket;
}

export interface Listener {
  /** The port inside the sandbox. */
  port: number;
  /** Closes the listener; connections already accepted stay up. */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:port inside (0: any free port). Each accepted connection is handed to
 * `onConnection`; one that throws has its connection reset, nothing more.
 */
export async function listen(
  session: AgentSession,
  port: number,
  onConnection: (socket: Duplex, info: { peerPort: number }) => void,
): Promise<Listener> {
  const op = session.open('listen', { port: checkInt('port', port, 0, 65535) });
  op.onAccepted = (stream, peerPort) => {
    const socket = new ChannelSocket(stream);
    try {
      onConnection(socket, { peerPort });
    } catch {
      socket.destroy();
    }
  };
  const started = (await op.started) as { port: number };
  return {
    port: started.port,
    async close() {
      op.cancel();
      await op.done.catch(() => {});
    },
  };
}
