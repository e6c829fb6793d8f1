import { useLayoutEffect, type RefObject } from 'react';

/** The least height the call takes, however little of the window is left below what is above it. */
const MIN_CALL_HEIGHT = 360;

/**
 * Sizes the call to the window (the CSS variable --ov-call-fit): from where it starts on the page down to the
 * window's bottom, less the bottom padding of what holds it, so every control is in view without scrolling whatever
 * the page puts above it (a header, a banner that comes and goes). Measured again when the window or the page
 * changes size.
 */
export function useFitToWindow(ref: RefObject<HTMLDivElement | null>) {
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    let frame = 0;
    const fit = () => {
      frame = 0;
      let below = 0;
      for (let box = el.parentElement; box && box !== document.documentElement; box = box.parentElement) {
        const style = getComputedStyle(box);
        below += (parseFloat(style.paddingBottom) || 0) + (parseFloat(style.borderBottomWidth) || 0);
      }
      const top = el.getBoundingClientRect().top + window.scrollY;
      const height = Math.max(MIN_CALL_HEIGHT, Math.floor(window.innerHeight - top - below));
      if (el.style.getPropertyValue('--ov-call-fit') !== `${height}px`) el.style.setProperty('--ov-call-fit', `${height}px`);
    };
    const soon = () => {
      if (!frame) frame = requestAnimationFrame(fit);
    };
    fit();
    window.addEventListener('resize', soon);
    const observer = new ResizeObserver(soon);
    observer.observe(document.body);
    return () => {
      window.removeEventListener('resize', soon);
      observer.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [ref]);
}
