/**
 * Adaptive stream (as LiveKit's client has it): each remote video the application attaches to an element is watched,
 * and what the elements show (visible or not, their size in device pixels) is what the room asks of the media
 * provider: the builtin one receives the whole list in its `subscription` message and forwards each video at the
 * layer that size needs (nothing to a hidden tile); Twilio's adapter switches tracks on and off and sets their render
 * dimensions. Watching is provider-neutral and lives here; the Room hands the list to its adapter.
 *
 * An element counts as showing its video while it still plays it (an application may reuse the element for another
 * track, or clear its srcObject, without detaching), is in the document, intersects the viewport
 * (IntersectionObserver), has a size (ResizeObserver tells when that changes) and the page is visible (document
 * visibility). Changes are
 * gathered for `delayMs` (default 200 ms) and the list is reported once, and only when it differs from the last one:
 * a gallery being laid out sends one message, not one per tile.
 */
import type { VideoView } from './adapter.js';

type VideoSource = VideoView['source'];

interface Watched {
  identity: string;
  source: VideoSource;
  /** Each element with how to tell it still plays this video. */
  elements: Map<Element, () => boolean>;
}

const key = (identity: string, source: VideoSource) => `${identity}\u0000${source}`;
/** Largest dimension the builtin protocol accepts (src/shared/rtc.ts). */
const MAX_PIXELS = 16384;

export class AdaptiveStream {
  readonly #report: () => void;
  readonly #delayMs: number;
  readonly #watched = new Map<string, Watched>();
  readonly #pins = new Set<string>();
  /** What the IntersectionObserver last said of each element (absent: not told yet, counted as in view). */
  readonly #inView = new WeakMap<Element, boolean>();
  #intersection: IntersectionObserver | null = null;
  #resize: ResizeObserver | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #views: VideoView[] = [];
  #reported = '';
  #enabled = false;
  readonly #onVisibility = () => this.#schedule();

  /** `report` is called (after the debounce) when `views` changed while enabled. */
  constructor(report: () => void, delayMs = 200) {
    this.#report = report;
    this.#delayMs = delayMs;
  }

  /** The list as last reported. */
  get views(): readonly VideoView[] {
    return this.#views;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Reporting on (a room with a media policy) or off. Elements are watched either way, so that a policy told later
   * finds the tiles already attached; turning on reports at once (after the debounce), even an empty list: a group
   * room's subscriber that shows nothing yet receives no video.
   */
  setEnabled(enabled: boolean): void {
    if (this.#enabled === enabled) return;
    this.#enabled = enabled;
    this.#reported = '';
    if (enabled) this.#schedule();
    else this.#cancel();
  }

  /** Starts watching `element` as a view of `identity`'s `source` video, while `playing()` says it still plays it. */
  observe(identity: string, source: VideoSource, element: Element, playing: () => boolean = () => true): void {
    const k = key(identity, source);
    let watched = this.#watched.get(k);
    if (!watched) this.#watched.set(k, (watched = { identity, source, elements: new Map() }));
    const known = watched.elements.has(element);
    watched.elements.set(element, playing);
    if (known) return this.#schedule();
    this.#observers()?.intersection.observe(element);
    this.#resize?.observe(element);
    this.#schedule();
  }

  /** Stops watching `element` (every element of that video without one). */
  unobserve(identity: string, source: VideoSource, element?: Element): void {
    const k = key(identity, source);
    const watched = this.#watched.get(k);
    if (!watched) return;
    for (const el of element ? [element] : [...watched.elements.keys()]) {
      if (!watched.elements.delete(el)) continue;
      this.#intersection?.unobserve(el);
      this.#resize?.unobserve(el);
    }
    if (watched.elements.size === 0) this.#watched.delete(k);
    this.#schedule();
  }

  /** The video is gone (unsubscribed, its participant left): its elements are no longer watched. */
  forget(identity: string, source?: VideoSource): void {
    for (const s of source ? [source] : (['camera', 'screen'] as const)) this.unobserve(identity, s);
  }

  /** Pins `identity`'s `source` video (ahead of last-N's speaker order) or unpins it. */
  setPinned(identity: string, source: VideoSource, pinned: boolean): void {
    const k = key(identity, source);
    if (pinned === this.#pins.has(k)) return;
    if (pinned) this.#pins.add(k);
    else this.#pins.delete(k);
    this.#schedule();
  }

  isPinned(identity: string, source: VideoSource): boolean {
    return this.#pins.has(key(identity, source));
  }

  /** Stops everything (the room is over). */
  close(): void {
    this.#cancel();
    this.#enabled = false;
    this.#intersection?.disconnect();
    this.#resize?.disconnect();
    this.#intersection = null;
    this.#resize = null;
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#watched.clear();
  }

  /** The list now: one view per watched video, visible if any of its elements shows it, at the largest one's size. */
  compute(): VideoView[] {
    const pageHidden = typeof document !== 'undefined' && document.visibilityState === 'hidden';
    const ratio = (typeof devicePixelRatio === 'number' && devicePixelRatio > 0 ? devicePixelRatio : 1) as number;
    const views: VideoView[] = [];
    for (const [k, { identity, source, elements }] of this.#watched) {
      let width = 0;
      let height = 0;
      if (!pageHidden) {
        for (const [el, playing] of elements) {
          if (!playing() || !el.isConnected || this.#inView.get(el) === false) continue;
          const rect = el.getBoundingClientRect();
          width = Math.max(width, Math.min(MAX_PIXELS, Math.round(rect.width * ratio)));
          height = Math.max(height, Math.min(MAX_PIXELS, Math.round(rect.height * ratio)));
        }
      }
      const visible = width > 0 && height > 0;
      views.push({ identity, source, visible, width: visible ? width : 0, height: visible ? height : 0, pinned: this.#pins.has(k) });
    }
    return views;
  }

  /** The observers, made on first use (none in a page without them: elements then count as in view). */
  #observers(): { intersection: IntersectionObserver } | null {
    if (!this.#intersection && typeof IntersectionObserver === 'function') {
      this.#intersection = new IntersectionObserver((entries) => {
        for (const entry of entries) this.#inView.set(entry.target, entry.isIntersecting);
        this.#schedule();
      });
      if (typeof ResizeObserver === 'function') this.#resize = new ResizeObserver(() => this.#schedule());
      if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisibility);
    }
    return this.#intersection ? { intersection: this.#intersection } : null;
  }

  #schedule(): void {
    if (!this.#enabled || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#enabled) return;
      const views = this.compute();
      const text = JSON.stringify(views);
      if (text === this.#reported) return;
      this.#reported = text;
      this.#views = views;
      this.#report();
    }, this.#delayMs);
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
