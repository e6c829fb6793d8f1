import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { ErrorCode } from '../../shared/errors.js';
import { errorBody } from './errors.js';

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

/** Answers a refused upgrade in plain HTTP, with the catalogue's error body and a request id like every other answer. */
export function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode): void {
  if (socket.destroyed) return;
  const requestId = randomUUID();
  const body = JSON.stringify(errorBody(code, requestId));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `X-Request-Id: ${requestId}\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
