import { Redis } from 'ioredis';
import type { PubSub, Unsubscribe } from './types.js';

/**
 * Redis pub/sub: one connection publishes, one subscribes; local handlers are multiplexed over a single
 * Redis subscription per channel.
 */
export async function createRedisPubSub(url: string, onError: (err: Error) => void = () => {}): Promise<PubSub> {
  const options = { lazyConnect: true, maxRetriesPerRequest: 3, enableAutoPipelining: true } as const;
  const pub = new Redis(url, options);
  const sub = new Redis(url, { ...options, enableAutoPipelining: false });
  pub.on('error', onError);
  sub.on('error', onError);
  await Promise.all([pub.connect(), sub.connect()]);
  const channels = new Map<string, Set<(message: unknown) => void>>();
  sub.on('message', (channel: string, text: string) => {
    const handlers = channels.get(channel);
    if (!handlers) return;
    // One parse per handler: like the memory implementation, no two subscribers share (or mutate) one object.
    for (const handler of [...handlers]) {
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      handler(message);
    }
  });
  return {
    kind: 'redis',
    async publish(channel, message) {
      await pub.publish(channel, JSON.stringify(message));
    },
    async subscribe(channel, handler): Promise<Unsubscribe> {
      let handlers = channels.get(channel);
      if (!handlers) {
        channels.set(channel, (handlers = new Set()));
        await sub.subscribe(channel);
      }
      handlers.add(handler);
      return async () => {
        handlers.delete(handler);
        if (handlers.size === 0 && channels.get(channel) === handlers) {
          channels.delete(channel);
          await sub.unsubscribe(channel).catch(() => {});
        }
      };
    },
    async close() {
      channels.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
