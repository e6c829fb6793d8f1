// The little of a browser page the SDK's adaptive stream and track elements use, for node tests: media elements with
// a size and a place in the document, MediaStream, IntersectionObserver and ResizeObserver (whose callbacks the test
// fires, as the browser would on layout), document visibility and devicePixelRatio. `installDom()` puts them on
// globalThis; `dom` is the test's hand on them.

export class FakeMediaElement {
  autoplay = false;
  srcObject: unknown = null;
  isConnected = true;
  width = 0;
  height = 0;
  getBoundingClientRect(): { width: number; height: number } {
    return { width: this.width, height: this.height };
  }
}
export class FakeVideoElement extends FakeMediaElement {
  playsInline = false;
}
export class FakeAudioElement extends FakeMediaElement {}

class FakeMediaStream {
  constructor(readonly tracks: unknown[]) {}
  getTracks(): unknown[] {
    return this.tracks;
  }
}

type Entries = { target: object; isIntersecting: boolean }[];
const intersections = new Set<FakeIntersectionObserver>();
const resizes = new Set<FakeResizeObserver>();

class FakeIntersectionObserver {
  readonly targets = new Set<object>();
  constructor(readonly callback: (entries: Entries) => void) {
    intersections.add(this);
  }
  observe(el: object): void {
    this.targets.add(el);
  }
  unobserve(el: object): void {
    this.targets.delete(el);
  }
  disconnect(): void {
    this.targets.clear();
    intersections.delete(this);
  }
}

class FakeResizeObserver {
  readonly targets = new Set<object>();
  constructor(readonly callback: () => void) {
    resizes.add(this);
  }
  observe(el: object): void {
    this.targets.add(el);
  }
  unobserve(el: object): void {
    this.targets.delete(el);
  }
  disconnect(): void {
    this.targets.clear();
    resizes.delete(this);
  }
}

const visibilityListeners = new Set<() => void>();
const fakeDocument = {
  visibilityState: 'visible' as 'visible' | 'hidden',
  createElement(tag: string): FakeMediaElement {
    return tag === 'video' ? new FakeVideoElement() : new FakeAudioElement();
  },
  addEventListener(event: string, listener: () => void): void {
    if (event === 'visibilitychange') visibilityListeners.add(listener);
  },
  removeEventListener(event: string, listener: () => void): void {
    if (event === 'visibilitychange') visibilityListeners.delete(listener);
  },
};

export const dom = {
  /** A video element `width` x `height` CSS pixels, in the document. */
  video(width: number, height: number): FakeVideoElement {
    const el = new FakeVideoElement();
    el.width = width;
    el.height = height;
    return el;
  },
  /** The element scrolled into or out of view (the IntersectionObservers watching it are told). */
  intersect(el: object, isIntersecting: boolean): void {
    for (const o of intersections) if (o.targets.has(el)) o.callback([{ target: el, isIntersecting }]);
  },
  /** The element laid out at a new size. */
  resize(el: FakeMediaElement, width: number, height: number): void {
    el.width = width;
    el.height = height;
    for (const o of resizes) if (o.targets.has(el)) o.callback();
  },
  /** The page hidden (another tab) or shown again. */
  setHidden(hidden: boolean): void {
    fakeDocument.visibilityState = hidden ? 'hidden' : 'visible';
    for (const listener of [...visibilityListeners]) listener();
  },
  /** How many elements the observers watch now. */
  watched(): number {
    let n = 0;
    for (const o of intersections) n += o.targets.size;
    return n;
  },
};

export function installDom(devicePixelRatio = 2): void {
  const g = globalThis as Record<string, unknown>;
  g.HTMLVideoElement = FakeVideoElement;
  g.MediaStream = FakeMediaStream;
  g.IntersectionObserver = FakeIntersectionObserver;
  g.ResizeObserver = FakeResizeObserver;
  g.document = fakeDocument;
  g.devicePixelRatio = devicePixelRatio;
  fakeDocument.visibilityState = 'visible';
}
