/** `resolveOptions()`: the user's options checked against the option table, defaults filled in. */
import { describeValue, WebGearRtcOptionError } from '../lib/errors.ts';
import { encodingNeeds } from '../lib/source/source-plan.ts';
import { OPTION_NAMES, OPTION_TABLE, type ResolvedOptions, type WebGearRtcOptions } from './option-table.ts';
import type { OptionContext } from './option-spec.ts';
import { sourceSpecOf } from '../lib/source/source-spec.ts';
import { isWebRtcSource } from '../lib/types.ts';

const camelCase = (name: string): string => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** Validates `webgearRtc()` options and fills in defaults. Throws WebGearRtcOptionError naming the option. */
export function resolveOptions(options: WebGearRtcOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new WebGearRtcOptionError('options', `must be an object (got ${describeValue(options)})`);
  }
  for (const name of Object.keys(options)) {
    if (OPTION_NAMES.has(name)) continue;
    const suggestion = camelCase(name);
    const hint = OPTION_NAMES.has(suggestion) ? ` (did you mean "${suggestion}"?)` : '';
    throw new WebGearRtcOptionError(name, `is not a webgear-rtc option${hint}`);
  }
  const raw = options as Record<string, unknown>;
  // The source first: what `audio` and the encoding checks mean depends on it.
  const context: OptionContext = { source: sourceSpecOf(raw.source, raw.customStream) };
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTION_TABLE)) {
    resolved[name] = spec.resolve(raw[name], name, context);
  }
  const result = resolved as ResolvedOptions;
  const needs = result.transcode === 'never' && encodingNeeds(result.source, result.codec, result);
  if (needs) throw new WebGearRtcOptionError('transcode', `is "never", but ${needs} needs encoding`);
  if (isWebRtcSource(result.source)) refuseEncodingOptions(raw);
  return result;
}

/**
 * What a WebRTC source (WHIP, WHEP pull) cannot do: its picture and sound are sent as the publisher or
 * origin sends them, never decoded; ffmpeg only draws the "No Input" picture. Options that would change
 * them, or tell ffmpeg how to read a source, are refused rather than silently ignored.
 */
function refuseEncodingOptions(raw: Record<string, unknown>): void {
  const asIs = 'cannot be used with a WebRTC source (whip, whep+…): its picture is sent as is';
  for (const name of ['filters', 'stabilize', 'colorspace', 'resolution', 'timeDelay', 'inputOptions', 'loop']) {
    const value = raw[name];
    const unset = value === undefined || value === false || value === 0 || (Array.isArray(value) && value.length === 0);
    if (!unset) throw new WebGearRtcOptionError(name, asIs);
  }
  if (raw.frameSizeReduction !== undefined && raw.frameSizeReduction !== 0) {
    throw new WebGearRtcOptionError('frameSizeReduction', `${asIs} (leave it out or set 0)`);
  }
  if (raw.transcode === 'always') throw new WebGearRtcOptionError('transcode', `is "always", but ${asIs}`);
  if (typeof raw.audio === 'string') {
    throw new WebGearRtcOptionError('audio', 'cannot add an audio input to a WebRTC source: true (its own Opus) or false');
  }
}
