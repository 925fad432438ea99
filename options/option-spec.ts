/** The shape of one row of the option table (option-table.ts). */
import type { SourceSpec } from '../lib/types.ts';

/** What an option's check may look at besides its own value: the source, resolved first. */
export interface OptionContext {
  source: SourceSpec;
}

/** One option: its check and default, and its line in the README's options table. */
export interface OptionSpec<In, Out> {
  /** The README's "meaning" column (markdown). */
  readonly doc: string;
  /** The README's "default" column (markdown). */
  readonly default: string;
  /**
   * Checks the value a user gave (undefined when left out) and returns it resolved, defaults filled in.
   * Throws a WebGearRtcOptionError naming the option (`name`) and what it must be.
   */
  resolve(value: unknown, name: string, context: OptionContext): Out;
  /** Never set: it carries the type a TypeScript user passes. */
  readonly input?: In;
}

/**
 * A row of the table whose users pass an `In`: `option<number>()({ doc, default, resolve })`. The resolved
 * type comes from `resolve`.
 */
export const option =
  <In>() =>
  <Out>(spec: Omit<OptionSpec<In, Out>, 'input'>): OptionSpec<In, Out> =>
    spec;

/** The type users pass for a row. */
export type InputOf<S> = S extends OptionSpec<infer In, unknown> ? In : never;
/** The type a row resolves to. */
export type OutputOf<S> = S extends OptionSpec<unknown, infer Out> ? Out : never;
