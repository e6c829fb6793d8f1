// A module resolve hook (node:module register) for the SDK's node tests: `import('twilio-video')`, which the SDK's
// Twilio adapter does on connect, gets the stand-in (./twilio-video-standin.ts) instead of the browser library.
const STAND_IN = new URL('./twilio-video-standin.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'twilio-video') return { url: STAND_IN, shortCircuit: true };
  return next(specifier, context);
}
