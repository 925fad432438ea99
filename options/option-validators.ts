/**
 * The checks the option table is made of: each takes the raw value a user passed (undefined when the
 * option was left out) and returns the resolved value, or throws a WebGearRtcOptionError naming the option
 * and saying what it must be.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { invalidOption as fail, WebGearRtcOptionError } from '../lib/errors.ts';
import type { IceServer } from '../lib/types.ts';


export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(name, 'true or false', value);
  return value;
}

export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
  return value as F | undefined;
}

export interface NumberRange {
  min: number;
  max: number;
  integer: boolean;
}

export function numberOption(name: string, value: unknown, { min, max, integer }: NumberRange): number | undefined {
  if (value === undefined) return undefined;
  const kind = integer ? 'an integer' : 'a number';
  const ok = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value));
  if (!ok || value < min || value > max) fail(name, `${kind} from ${min} to ${max}`, value);
  return value;
}

export function stringOption(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(name, 'a non-empty string', value);
  return value;
}

/** One of `choices`, or `fallback` when not given. */
export function choiceOption<T extends string>(name: string, value: unknown, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) fail(name, choices.map((choice) => `"${choice}"`).join(', ').replace(/, ([^,]*)$/, ' or $1'), value);
  return value as T;
}

/** A URL path prefix such as `/cam`, without its trailing slash. */
export function pathPrefixOption(name: string, value: unknown): string | undefined {
  const path = stringOption(name, value);
  if (path === undefined) return undefined;
  if (!path.startsWith('/') || /[?#\s]/.test(path)) fail(name, 'a path starting with "/"', path);
  return path.replace(/\/+$/, '');
}

/** A directory path or an array of them, each existing; returned absolute, in search order. */
export function directoryListOption(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item !== '')) {
    fail(name, 'a directory path or an array of them', value);
  }
  return list.map((dir: string) => {
    const path = resolve(dir);
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      throw new WebGearRtcOptionError(name, `names no existing directory: ${JSON.stringify(dir)}`);
    }
    return path;
  });
}

export function integerPairOption(name: string, value: unknown, min: number, max: number): [number, number] | undefined {
  if (value === undefined) return undefined;
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max);
  if (!ok) fail(name, `a pair of integers from ${min} to ${max}`, value);
  return [value[0], value[1]];
}

export function stringListOption(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
    fail(name, 'an array of non-empty strings', value);
  }
  return [...value];
}

export function iceServersOption(name: string, value: unknown): IceServer[] {
  if (value === undefined) return [];
  const isUrl = (url: unknown) => typeof url === 'string' && /^(stun|stuns|turn|turns):/.test(url);
  const isServer = (server: Partial<IceServer> | null) =>
    server !== null &&
    typeof server === 'object' &&
    (Array.isArray(server.urls) ? server.urls.length > 0 && server.urls.every(isUrl) : isUrl(server.urls)) &&
    (server.username === undefined || typeof server.username === 'string') &&
    (server.credential === undefined || typeof server.credential === 'string');
  if (!Array.isArray(value) || !value.every(isServer)) {
    fail(name, 'an array of {urls: "stun:…" | "turn:…", username?, credential?}', value);
  }
  return (value as IceServer[]).map((server) => ({ ...server }));
}

/** `'*'`, or the origins (`scheme://host[:port]`, no path) allowed by CORS. */
export function originListOption(name: string, value: unknown): '*' | string[] {
  if (value === undefined || value === '*') return '*';
  const list = typeof value === 'string' ? [value] : value;
  const isOrigin = (item: unknown) => typeof item === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(item);
  if (!Array.isArray(list) || list.length === 0 || !list.every(isOrigin)) {
    fail(name, '"*", an origin such as "https://example.com" (no path), or an array of them', value);
  }
  return [...(list as string[])];
}

/** `true`, `false` or a guard `(ctx) => boolean | Promise<boolean>`. */
export function switchOrGuardOption<G>(name: string, value: unknown, fallback: boolean): boolean | G {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean' && typeof value !== 'function') fail(name, 'true, false or a function (ctx) => boolean', value);
  return value as boolean | G;
}
