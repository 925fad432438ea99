/**
 * THE option table: every option of `webgearRtc()` once, with its check, its default and its line of
 * documentation. The known names, the options type users write (`WebGearRtcOptions`), the resolved type
 * (`ResolvedOptions`) and the README's options table all follow from it.
 */
import { MEDIA_OPTIONS } from './media-options.ts';
import type { InputOf, OutputOf } from './option-spec.ts';
import { SCALE_OPTIONS } from './scale-options.ts';
import { WEB_OPTIONS } from './web-options.ts';

/** In the README's order: the source and its encoding, then serving, then past one box (push, metrics). */
export const OPTION_TABLE = { ...MEDIA_OPTIONS, ...WEB_OPTIONS, ...SCALE_OPTIONS };

export type OptionName = keyof typeof OPTION_TABLE;

/**
 * Options of `webgearRtc()`. Names are vidgear WebGear_RTC's, in camelCase
 * (`frame_size_reduction` → `frameSizeReduction`). Each is documented where it is defined (the option
 * table), which is what editors show.
 */
export type WebGearRtcOptions = { [K in OptionName]?: InputOf<(typeof OPTION_TABLE)[K]> };

/** The options after validation, with every default filled in. */
export type ResolvedOptions = { -readonly [K in OptionName]: OutputOf<(typeof OPTION_TABLE)[K]> };

export const OPTION_NAMES: ReadonlySet<string> = new Set(Object.keys(OPTION_TABLE));

/** The README's options table, as markdown (a unit test keeps the README equal to it). */
export function optionsTableMarkdown(): string {
  const rows = Object.entries(OPTION_TABLE).map(([name, spec]) => `| \`${name}\` | ${spec.default} | ${spec.doc} |`);
  return ['| option | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
