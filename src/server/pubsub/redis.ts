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
  /** Per channel: local handlers, and the Redis SUBSCRIBE every subscriber of the channel waits for. */
  interface Channel {
    handlers: Set<(message: unknown) => void>;
    ready: Promise<unknown>;
  }
  const channels = new Map<string, Channel>();
  sub.on('message', (name: string, text: string) => {
    const channel = channels.get(name);
    if (!channel) return;
    // One parse per handler: like the memory implementation, no two subscribers share (or mutate) one object.
    for (const handler of [...channel.handlers]) {
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
    async subscribe(name, handler): Promise<Unsubscribe> {
      let channel = channels.get(name);
      if (!channel) {
        const created: Channel = { handlers: new Set(), ready: sub.subscribe(name) };
        channels.set(name, created);
        // A refused SUBSCRIBE is forgotten, so the next subscriber asks Redis again.
        created.ready.catch(() => channels.get(name) === created && channels.delete(name));
        channel = created;
      }
      const own = channel;
      own.handlers.add(handler);
      try {
        await own.ready;
      } catch (err) {
        own.handlers.delete(handler);
        throw err;
      }
      return async () => {
        own.handlers.delete(handler);
        if (own.handlers.size === 0 && channels.get(name) === own) {
          channels.delete(name);
          await sub.unsubscribe(name).catch(() => {});
        }
      };
    },
    async close() {
      channels.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
