/**
 * How fast a viewer's pacer may send, from its link's estimate and what its current rendition sends.
 */

/**
 * The pacing rate is this many times the estimate: the rendition choice keeps the average under the
 * estimate; the pacer spreads the bursts (a keyframe) so that the link's queue absorbs them, and holds the
 * stream back only when the link really is full. libwebrtc uses 2.5; measured on a link with 100 ms of
 * queue, a 360p keyframe at 2.5× an 800 kbit/s estimate overflowed it, at 1.5× it did not.
 */
const PACING_FACTOR = 1.5;
/** Before the estimate is measured the link is a guess: the start estimate itself, no more… */
const START_PACING_FACTOR = 1;
/**
 * …and never faster than this many times the start rung's rate: a joiner's GOP is a burst that a thin link
 * (300 kbit/s, a 4 KB queue) would mostly drop. At 1.5 × the 200k rung the replay went at a 300 kbit/s
 * link's whole rate, its packet headers (~3.5 %) over it, for the seconds it takes to drain beside the live
 * stream: the link's queue filled and dropped (bench/links.ts cap300: frozen 0.7–0.9 s in 4 of 8 runs,
 * NACKs mostly refused over budget); at 1.3, 0 of 4 froze, nothing dropped. The keyframe itself goes
 * sooner (`Pacer.boostFrame`).
 */
const START_RUNG_PACING_FACTOR = 1.3;
/** Never below the current rendition's bitrate times this (it must get through, even over budget). */
const MIN_PACING_FACTOR = 1.2;

/** Without an estimate nothing is held back (bit/s). */
export const UNPACED = 1e9;

/**
 * The pacing rate (bit/s) for `estimate` when the current rendition sends `rungRate`; `measured`: whether
 * the estimate is a measure yet or still the start's guess.
 */
export function pacingRate(estimate: number, rungRate: number, measured: boolean): number {
  if (!measured) return Math.max(rungRate, Math.min(estimate * START_PACING_FACTOR, rungRate * START_RUNG_PACING_FACTOR));
  return Math.max(estimate * PACING_FACTOR, rungRate * MIN_PACING_FACTOR);
}
