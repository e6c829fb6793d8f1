type Listener = (...args: never[]) => void;

/** A small typed event emitter. A listener that throws is reported to the owner and never breaks the media path. */
export class TypedEmitter<Events extends { [K in keyof Events]: Listener }> {
  readonly #listeners = new Map<keyof Events, { fn: Listener; once: boolean }[]>();

  constructor(private readonly onListenerError: (event: string, error: unknown) => void) {}

  on<K extends keyof Events & string>(event: K, listener: Events[K]): this {
    return this.#add(event, listener, false);
  }

  once<K extends keyof Events & string>(event: K, listener: Events[K]): this {
    return this.#add(event, listener, true);
  }

  off<K extends keyof Events & string>(event: K, listener: Events[K]): this {
    const list = this.#listeners.get(event);
    const index = list?.findIndex((l) => l.fn === listener) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
    return this;
  }

  #add(event: keyof Events, fn: Listener, once: boolean): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once });
    this.#listeners.set(event, list);
    return this;
  }

  protected emit<K extends keyof Events & string>(event: K, ...args: Parameters<Events[K]>): void {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return;
    for (const entry of [...list]) {
      if (entry.once) {
        const index = list.indexOf(entry);
        if (index >= 0) list.splice(index, 1);
      }
      try {
        (entry.fn as (...a: unknown[]) => void)(...args);
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#listeners.clear();
  }
}
