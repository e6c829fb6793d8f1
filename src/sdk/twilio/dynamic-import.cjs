'use strict';
// twilio-video's util/dynamicimport.js without `new Function`: a page whose Content-Security-Policy allows no eval
// (OpenVisit's: script-src 'self') refuses that as twilio-video loads, and then twilio-video cannot load at all.
// The bundlers put this file in its place (scripts/build.js for the SDK, vite.config.ts for the web app).
// twilio-video uses it only to load a noise-cancellation plugin from the application's own assets; the browser keeps
// each imported module, so there is nothing to cache here.
module.exports = function dynamicImport(module) {
  return import(/* @vite-ignore */ new URL(module, globalThis.location).toString());
};
