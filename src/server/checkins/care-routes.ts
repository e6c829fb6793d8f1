import type { App } from '../context.js';
import type { CheckinDeps } from './deps.js';

/** Care circles: members, their links and sessions, `GET /care/me` (care.ts). */
export async function careRoutes(_app: App, _deps: CheckinDeps): Promise<void> {}
