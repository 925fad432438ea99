#!/usr/bin/env node
/**
 * The install script's second half (`node-gyp-build || node lib/native/build-failed.mjs`): node-gyp-build
 * found no prebuild for this platform and node-gyp could not build the addon (no C compiler, python3 or
 * make; node-gyp printed why above). The addon is optional: the server then sends from JavaScript, at about
 * twice the CPU per packet, and says so when its first viewer connects. `WEBGEAR_NATIVE_REQUIRED=1` (CI)
 * makes this an error.
 */
const message = 'webgear-rtc: the native SRTP sender was not built (node-gyp failed, see above); the server will send from JavaScript.';
if (process.env.WEBGEAR_NATIVE_REQUIRED === '1') {
  console.error(`${message}\nWEBGEAR_NATIVE_REQUIRED=1: failing the install.`);
  process.exit(1);
}
console.warn(message);
