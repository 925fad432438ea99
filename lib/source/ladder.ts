/**
 * The ladder of renditions: the same picture at several sizes and bitrates, encoded once each by one ffmpeg,
 * so that every viewer gets the best one its own link carries (lib/sender/ chooses per viewer). The top rung
 * is the source at the `bitrate` option (a passthrough H.264 source: its own stream); the lower rungs are
 * scaled down from it.
 */

/** A lower rung as the `renditions` option names it: a picture height and a bitrate. */
export interface RenditionSpec {
  height: number;
  bitrate: number;
}

/** `'auto'`: rungs that follow the source size; a list: these lower rungs; `[]`: the source alone. */
export type LadderSpec = 'auto' | RenditionSpec[];

/** One rung as ffmpeg is asked for it. */
export interface Rung {
  /** How the picture is scaled from the top rung's: a height in pixels, a fraction of it, or not at all. */
  scale: { height: number } | { fraction: number } | undefined;
  bitrate: number;
}

/** The lowest picture worth sending: below it a rung is left out. */
export const MIN_RUNG_HEIGHT = 120;
/**
 * 'auto': half and quarter size, at about a third and a twelfth of the top bitrate (2.5 Mbit/s → 800 k, 200 k).
 * The bottom rung is for links of ~300 kbit/s: at 250 k it filled 90 % of one with its keyframes and packet
 * overhead, and a joiner's GOP or a source's catch-up burst overflowed it (gaps of 2–3 s); at 200 k, 75 %.
 */
const AUTO_RUNGS = [
  { fraction: 1 / 2, share: 0.32 },
  { fraction: 1 / 4, share: 0.08 },
];
const MIN_RUNG_BITRATE = 100_000;

/**
 * The rungs for a source whose top picture is `topHeight` pixels high (undefined when not known before
 * ffmpeg runs: a URL that could not be probed): top first. Rungs below MIN_RUNG_HEIGHT, or not below the
 * top, are left out.
 */
export function planLadder(spec: LadderSpec, topBitrate: number, topHeight: number | undefined): Rung[] {
  const top: Rung = { scale: undefined, bitrate: topBitrate };
  if (spec === 'auto') {
    const lower = AUTO_RUNGS.filter(({ fraction }) => topHeight === undefined || topHeight * fraction >= MIN_RUNG_HEIGHT);
    return [
      top,
      ...lower.map(({ fraction, share }) => ({
        scale: { fraction },
        bitrate: Math.max(MIN_RUNG_BITRATE, Math.min(topBitrate, Math.round(topBitrate * share))),
      })),
    ];
  }
  const lower = [...spec]
    .filter(({ height }) => topHeight === undefined || height < topHeight)
    .sort((a, b) => b.height - a.height);
  return [top, ...lower.map(({ height, bitrate }) => ({ scale: { height }, bitrate }))];
}
