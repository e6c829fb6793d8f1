import type { App } from '../context.js';
import type { CheckinDeps } from './deps.js';

/** Check-in calls: request, ring, answer, decline, end, token, history, stats, schedules. */
export async function checkinRoutes(_app: App, _deps: CheckinDeps): Promise<void> {}
