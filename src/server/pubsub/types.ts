/**
 * Fan-out of realtime events between server processes. In-process by default; Redis when REDIS_URL is
 * set so several processes behind a load balancer share events. Messages are JSON-serialisable values.
 */
export type Unsubscribe = () => Promise<void>;

export interface PubSub {
  readonly kind: 'memory' | 'redis';
  publish(channel: string, message: unknown): Promise<void>;
  subscribe(channel: string, handler: (message: unknown) => void): Promise<Unsubscribe>;
  close(): Promise<void>;
}
