import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;

/**
 * WebSocket upgrades routed by exact path. Unknown paths are refused with a plain HTTP answer before
 * any upgrade happens, so nothing but registered endpoints ever speaks WebSocket.
 */
export class UpgradeRouter {
  readonly #routes = new Map<string, UpgradeHandler>();

  register(path: string, handler: UpgradeHandler): void {
    if (this.#routes.has(path)) throw new Error(`upgrade path ${path} registered twice`);
    this.#routes.set(path, handler);
  }

  handle = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const path = (request.url ?? '/').split('?')[0]!;
    const handler = this.#routes.get(path);
    if (!handler) {
      refuseUpgrade(socket, 404, 'route_not_found');
      return;
    }
    Promise.resolve(handler(request, socket, head)).catch(() => refuseUpgrade(socket, 500, 'internal_error'));
  };
}

export function refuseUpgrade(socket: Duplex, status: number, code: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
