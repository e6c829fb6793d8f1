import Type from 'typebox';
import { ErrorResponse } from '../../shared/api/common.js';
import type { App } from '../context.js';
import { AppError } from '../http/errors.js';

/**
 * Documents the hub in the OpenAPI reference. The WebSocket itself is served by the upgrade router
 * (hub.ts); a plain HTTP GET reaching this route is told to upgrade.
 */
export async function realtimeRoutes(app: App): Promise<void> {
  app.get(
    '/events',
    {
      schema: {
        tags: ['realtime'],
        summary: "The organisation's realtime events (WebSocket)",
        description:
          'Open with a WebSocket client (session cookie or `Authorization: Bearer <API key>`). Messages: ' +
          '`{"type":"hello","orgId","heartbeatSeconds"}` once subscribed, then `{"type":"event","event":{"type","at","data"}}` ' +
          'for each change (ids only), and `{"type":"reconnect","retryAfterMs"}` before a restart (close code 1012). ' +
          'A revoked or expired session or key is closed with 4001. A plain HTTP GET answers 426.',
        response: { 101: Type.Null({ description: 'Switching Protocols: the WebSocket is open.' }), 401: ErrorResponse, 426: ErrorResponse },
      },
    },
    async () => {
      throw new AppError('upgrade_required');
    },
  );
}
