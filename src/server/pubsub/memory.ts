import type { PubSub, Unsubscribe } from './types.js';

export function createMemoryPubSub(): PubSub {
  const channels = new Map<string, Set<(message: unknown) => void>>();
  return {
    kind: 'memory',
    async publish(channel, message) {
      const handlers = channels.get(channel);
      if (!handlers) return;
      // Serialise as Redis would, so a subscriber never shares (or mutates) the publisher's object.
      const text = JSON.stringify(message);
      for (const handler of [...handlers]) handler(JSON.parse(text));
    },
    async subscribe(channel, handler): Promise<Unsubscribe> {
      let handlers = channels.get(channel);
      if (!handlers) channels.set(channel, (handlers = new Set()));
      handlers.add(handler);
      return async () => {
        handlers.delete(handler);
        if (handlers.size === 0) channels.delete(channel);
      };
    },
    async close() {
      channels.clear();
    },
  };
}
