import type { Config } from '../config.js';
import { createMemoryPubSub } from './memory.js';
import { createRedisPubSub } from './redis.js';
import type { PubSub } from './types.js';

export type { PubSub, Unsubscribe } from './types.js';

export async function openPubSub(config: Pick<Config, 'redisUrl'>, onError?: (err: Error) => void): Promise<PubSub> {
  return config.redisUrl ? createRedisPubSub(config.redisUrl, onError) : createMemoryPubSub();
}
