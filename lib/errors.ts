/**
 * Errors are data (koa's convention): `option`, `status` and `expose` travel on the error so that
 * a host's error handler can act on them without parsing messages.
 */

/** A bad `webgearRtc()` option, thrown at construction. `option` names the offending key. */
export class WebGearRtcOptionError extends TypeError {
  override name = 'WebGearRtcOptionError';
  readonly option: string;
  constructor(option: string, message: string) {
    super(`webgear-rtc: option "${option}" ${message}`);
    this.option = option;
  }
}

/** How a value reads in an error message: strings quoted, objects by kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** Throws the WebGearRtcOptionError for `option`: it must be `expected` and was `value`. */
export function invalidOption(option: string, expected: string, value: unknown): never {
  throw new WebGearRtcOptionError(option, `must be ${expected} (got ${describeValue(value)})`);
}

/** A client error in signaling (`/offer`, `/close_connection`): answered as JSON `{error}` with `status`. */
export class SignalingError extends Error {
  override name = 'SignalingError';
  readonly status: number;
  readonly expose = true;
  /** Response headers that go with it (`Retry-After` on a 503), as Koa's http-errors carry them. */
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** ffmpeg could not be found anywhere it is looked for. */
export class FfmpegNotFoundError extends Error {
  override name = 'FfmpegNotFoundError';
}
