/** What the `source`, `customStream` and `audio` options name, and how ffmpeg will open it. */
import { existsSync, statSync } from 'node:fs';
import { invalidOption as fail, WebGearRtcOptionError } from '../errors.ts';
import { AUDIO_INPUT_FORMATS, type AudioInputFormat, type AudioSpec, type SourceSpec } from '../types.ts';
import { isCustomStream } from './frames.ts';

/** Tells what kind of input a `source` is; a missing file is reported now rather than by a silent ffmpeg. */
export function parseSource(source: unknown): SourceSpec {
  if (typeof source === 'number') {
    if (!Number.isInteger(source) || source < 0) fail('source', 'a camera index (integer ≥ 0), a path, a URL or "testsrc"', source);
    return { kind: 'device', path: `/dev/video${source}` };
  }
  if (typeof source !== 'string' || source.trim() === '') {
    fail('source', 'a file path, a URL, a camera index or "testsrc"', source);
  }
  if (source === 'testsrc') return { kind: 'testsrc' };
  if (source === 'whip') return { kind: 'whip' };
  const whep = /^whep\+(https?:\/\/.+)$/i.exec(source);
  if (whep) return { kind: 'whep', url: whepUrlOf(whep[1]!) };
  if (/^whep\+/i.test(source)) fail('source', 'a WHEP endpoint as "whep+http://host/path" or "whep+https://…"', source);
  if (/^\d+$/.test(source)) return { kind: 'device', path: `/dev/video${source}` };
  if (source.startsWith('/dev/video') || source.startsWith('/dev/v4l/')) return { kind: 'device', path: source };
  if (source.startsWith('file://')) return parseSource(decodeURIComponent(new URL(source).pathname));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return { kind: 'url', url: source };
  if (!existsSync(source) || !statSync(source).isFile()) {
    throw new WebGearRtcOptionError('source', `names no readable file: ${JSON.stringify(source)} does not exist`);
  }
  return { kind: 'file', path: source };
}

/** The WHEP endpoint of a `whep+http(s)://` source, checked as a URL. */
function whepUrlOf(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    throw new WebGearRtcOptionError('source', `names no valid WHEP URL: ${JSON.stringify(`whep+${url}`)}`);
  }
}

/** `source` and `customStream` together: exactly one of them, checked. */
export function sourceSpecOf(source: unknown, customStream: unknown): SourceSpec {
  if (customStream !== undefined && !isCustomStream(customStream)) {
    throw new WebGearRtcOptionError('customStream', 'must be an object with callable read() and stop() methods');
  }
  if (customStream !== undefined && source !== undefined) {
    throw new WebGearRtcOptionError('customStream', 'and "source" exclude each other: give one');
  }
  if (customStream !== undefined) return { kind: 'frames', stream: customStream };
  if (source === undefined) {
    throw new WebGearRtcOptionError('source', 'is required: give a file, URL, camera index or "testsrc" (or a customStream)');
  }
  return parseSource(source);
}

/**
 * The `audio` option: `true` looks for the audio of a file or URL source (the other kinds have none),
 * a string is an extra input; a missing file is reported now, as for `source`.
 */
export function audioSpecOf(value: unknown, source: SourceSpec): AudioSpec {
  if (value === undefined || value === true) {
    const hasOwn = source.kind === 'file' || source.kind === 'url' || source.kind === 'whip' || source.kind === 'whep';
    return hasOwn ? { kind: 'source' } : { kind: 'none' };
  }
  if (value === false) return { kind: 'none' };
  if (typeof value !== 'string' || value.trim() === '') {
    fail('audio', 'true, false, or an ffmpeg audio input: a file path, a URL, or "lavfi:sine=frequency=440"', value);
  }
  const format = /^([a-z]+):(?!\/\/)(.+)$/s.exec(value);
  if (format && (AUDIO_INPUT_FORMATS as readonly string[]).includes(format[1]!)) {
    return { kind: 'input', from: format[1] as AudioInputFormat, input: format[2]! };
  }
  const path = value.startsWith('file://') ? decodeURIComponent(new URL(value).pathname) : value;
  if (path === value && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { kind: 'input', from: 'url', input: value };
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new WebGearRtcOptionError(
      'audio',
      `names no readable file: ${JSON.stringify(path)} does not exist (a URL needs its scheme, a generator "lavfi:")`,
    );
  }
  return { kind: 'input', from: 'file', input: path };
}
