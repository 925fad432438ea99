/** The rows of the option table about the picture and sound: what is read, and how it is encoded. */
import type { CustomStream } from '../lib/source/frames.ts';
import type { LadderSpec, RenditionSpec } from '../lib/source/ladder.ts';
import type { Transcode, VideoCodec } from '../lib/types.ts';
import { COLORSPACES } from '../lib/source/ffmpeg/ffmpeg-args.ts';
import { invalidOption as fail } from '../lib/errors.ts';
import { option } from './option-spec.ts';
import { booleanOption, choiceOption, integerPairOption, numberOption, stringOption } from './option-validators.ts';
import { audioSpecOf } from '../lib/source/source-spec.ts';

export const MEDIA_OPTIONS = {
  /**
   * What to stream: a file path, a URL (`rtsp://`, `http://`, `udp://`, …), a camera (`0` → `/dev/video0`,
   * or a device path such as `/dev/video2`), `'testsrc'` for a built-in moving test pattern, `'whip'` to
   * take a WHIP publisher's WebRTC stream (a browser at `/publish`, OBS), or `'whep+http://host/path'`
   * (or `whep+https://`) to pull another server's WHEP stream as its edge. WebRTC sources are sent as is.
   */
  source: option<string | number>()({
    doc: "file path, URL (`rtsp://`, `http://`, `udp://`, …), camera index (`0` → `/dev/video0`) or device path, `'testsrc'`, `'whip'` (a WHIP publisher: a browser at `/publish`, OBS; [WHIP](docs/sources/whip.md)) or `'whep+http(s)://host/path'` (another server's WHEP stream, pulled; [WHEP pull](docs/sources/whep.md))",
    default: '— (this or `customStream`)',
    // Resolved together with customStream (resolve-options.ts): the context holds the result.
    resolve: (_value, _name, context) => context.source,
  }),
  /**
   * Frames from your own code (vidgear's `custom_stream`): any object with `read()` (sync or async,
   * returning `{data, width, height, format}` or null at the end) and `stop()`. Read `framerate` times
   * a second (default 30). Takes the place of `source`.
   */
  customStream: option<CustomStream>()({
    doc: 'your own frames: `{ read(), stop() }`, `read()` sync or async returning `{data, width, height, format}` or `null` at the end; `new VideoCapture(...)` fits ([custom streams](docs/sources/custom-stream.md))',
    default: '—',
    resolve: (_value, _name, context) => (context.source.kind === 'frames' ? context.source.stream : undefined),
  }),
  /** Seconds to wait before reading the source (vidgear's `time_delay`). Default 0. */
  timeDelay: option<number>()({
    doc: 'seconds to wait before reading the source',
    default: '`0`',
    resolve: (value, name) => numberOption(name, value, { min: 0, max: 3600, integer: false }) ?? 0,
  }),
  /** Extra ffmpeg input options, placed before `-i` (e.g. `['-rtsp_transport', 'udp']`). */
  inputOptions: option<string[]>()({
    doc: 'extra ffmpeg input options, placed before `-i`',
    default: '`[]`',
    resolve: (value, name) => {
      if (value === undefined) return [];
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
        fail(name, 'an array of strings (ffmpeg arguments)', value);
      }
      return [...(value as string[])];
    },
  }),
  /** An ffmpeg `-vf` filter chain applied after the source is read (e.g. `'hflip,eq=contrast=1.2'`). */
  filters: option<string>()({
    doc: "an ffmpeg `-vf` chain applied to the source (`'hflip,eq=contrast=1.2'`)",
    default: '—',
    resolve: (value, name) => stringOption(name, value),
  }),
  /** Steady a shaky picture, live (ffmpeg `deshake`), as vidgear's `stabilize`. Default false. */
  stabilize: option<boolean>()({
    doc: 'steady a shaky picture, live (ffmpeg `deshake`)',
    default: '`false`',
    resolve: (value, name) => booleanOption(name, value, false),
  }),
  /**
   * vidgear's `colorspace`, an OpenCV conversion name, applied to the picture where ffmpeg can express
   * it: see `COLORSPACES`. Others are refused with the list.
   */
  colorspace: option<string>()({
    doc: `vidgear's OpenCV names ffmpeg can express: ${Object.keys(COLORSPACES).map((name) => `\`${name}\``).join(', ')}`,
    default: '—',
    resolve: (value, name) => {
      const colorspace = stringOption(name, value);
      if (colorspace !== undefined && !(colorspace in COLORSPACES)) fail(name, `one of ${Object.keys(COLORSPACES).join(', ')}`, colorspace);
      return colorspace;
    },
  }),
  /** `'vp8'` (default, libvpx realtime) or `'h264'` (libx264 zerolatency, baseline, no B-frames). */
  codec: option<VideoCodec>()({
    doc: "`'vp8'` (libvpx realtime, plays everywhere) or `'h264'` (libx264 zerolatency, baseline, no B-frames)",
    default: "`'vp8'`",
    resolve: (value, name) => choiceOption<VideoCodec>(name, value, ['vp8', 'h264'], 'vp8'),
  }),
  /** Target video bitrate in bits per second. Default 2 500 000 (good 720p30). */
  bitrate: option<number>()({
    doc: "video bitrate in bits/s (good 720p30; vidgear's aiortc used 500 kbps)",
    default: '`2500000`',
    resolve: (value, name) => numberOption(name, value, { min: 50_000, max: 50_000_000, integer: true }) ?? 2_500_000,
  }),
  /**
   * The ladder of renditions every viewer chooses from, by its own link (issue: a hotel Wi-Fi must still
   * play). `'auto'` (default): the source at `bitrate`, half its size at about a third of it, a quarter at a
   * tenth (720p at 2.5 Mbit/s → 360p at 800 kbit/s → 180p at 250 kbit/s), leaving out rungs under 120 px.
   * A list: these lower rungs, `{ height, bitrate }`, under the source. `false` or `[]`: the source alone.
   * One ffmpeg encodes every rung once, whatever the number of viewers.
   */
  renditions: option<'auto' | false | RenditionSpec[]>()({
    doc: "the ladder each viewer's link chooses from: `'auto'` (the source at `bitrate`, half size at ~⅓ of it, quarter size at ~1/12: 720p 2.5 Mbit/s → 360p 800 kbit/s → 180p 200 kbit/s), a list of lower rungs `{height, bitrate}`, or `false` (the source alone) ([real networks](docs/real-networks.md))",
    default: "`'auto'`",
    resolve: (value, name): LadderSpec => {
      if (value === undefined || value === 'auto') return 'auto';
      if (value === false) return [];
      const isRung = (rung: unknown) => {
        const { height, bitrate } = (rung ?? {}) as Partial<RenditionSpec>;
        return typeof height === 'number' && Number.isInteger(height) && height >= 16 && height <= 8192 &&
          typeof bitrate === 'number' && Number.isInteger(bitrate) && bitrate >= 50_000 && bitrate <= 50_000_000;
      };
      if (!Array.isArray(value) || value.length > 4 || !value.every(isRung)) {
        fail(name, "'auto', false, or up to 4 lower rungs [{ height: 16–8192, bitrate: 50000–50000000 }]", value);
      }
      return (value as RenditionSpec[]).map(({ height, bitrate }) => ({ height, bitrate }));
    },
  }),
  /**
   * Keyframe interval in frames. Default 30. A joining viewer gets the packets since the last keyframe
   * (the GOP cache) and decodes a picture at once, so this sets the size of that burst, not a wait.
   */
  gop: option<number>()({
    doc: 'keyframe interval in frames. A new viewer does not wait for the next keyframe: it gets the packets since the last one (the GOP cache) and shows a picture at once. Longer GOPs cost less bitrate but more burst for each joiner',
    default: '`30`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 600, integer: true }) ?? 30,
  }),
  /** Shrinks every frame by this percentage (0–90), keeping even dimensions. Default 20, as vidgear. */
  frameSizeReduction: option<number>()({
    doc: 'shrink frames by this percentage (0–90), as vidgear; even dimensions kept. The CLI defaults to 0',
    default: '`20`',
    resolve: (value, name) => numberOption(name, value, { min: 0, max: 90, integer: false }) ?? 20,
  }),
  /** Frame size `[width, height]` asked of a camera or of `'testsrc'` (default 1280x720 for testsrc). */
  resolution: option<[number, number]>()({
    doc: "frame size asked of a camera or of `'testsrc'`",
    default: 'testsrc: `[1280, 720]`',
    resolve: (value, name) => integerPairOption(name, value, 16, 8192),
  }),
  /** Frame rate asked of a camera or of `'testsrc'` (default 30 for testsrc). */
  framerate: option<number>()({
    doc: "frame rate asked of a camera or `'testsrc'`; how often a `customStream` is read; the rate of the \"No Input\" / \"The End\" picture",
    default: 'testsrc, customStream: `30`',
    resolve: (value, name) => numberOption(name, value, { min: 1, max: 240, integer: false }),
  }),
  /** Play a file source again from the start when it ends. Default false: a file plays once, as in vidgear. */
  loop: option<boolean>()({
    doc: 'play a file again when it ends (vidgear plays a file once)',
    default: '`false`',
    resolve: (value, name) => booleanOption(name, value, false),
  }),
  /** Accepted for vidgear compatibility: every viewer always gets the live stream here. */
  enableLiveBroadcast: option<boolean>()({
    doc: 'accepted for vidgear compatibility: every viewer always gets the live stream',
    default: '`true`',
    resolve: (value, name) => booleanOption(name, value, true),
  }),
  /**
   * While the source is down or after it ended (once it has delivered), keep streaming a generated
   * "No Input" picture at the size viewers were watching and at `framerate` (default 30), so viewers keep
   * a live stream (vidgear's `enable_infinite_frames`). Default false: a finished source shows "The End"
   * for a second, then the stream stops sending (the connection stays up).
   */
  enableInfiniteFrames: option<boolean>()({
    doc: 'while the source is down (after it delivered once) or after it ended, send a generated "No Input" picture at the size viewers were watching; without it a finished file or custom stream shows "The End" for 1 s, then nothing ([details](docs/sources/README.md#when-a-source-ends-or-drops))',
    default: '`false`',
    resolve: (value, name) => booleanOption(name, value, false),
  }),
  /**
   * Whether ffmpeg encodes the source: `'auto'` (default) sends an H.264 source as is (`-c:v copy`,
   * near-zero CPU) when `codec` is `'h264'`, the source has no B-frames and no filter or size reduction is
   * asked; `'always'` encodes; `'never'` refuses a source that would need encoding.
   */
  transcode: option<Transcode>()({
    doc: "`'auto'`: with `codec: 'h264'`, `frameSizeReduction: 0` and no `filters`/`stabilize`/`colorspace`, an H.264 file or URL without B-frames is sent as is (`-c:v copy`: 1.3 % of a core for a 640x360 30 fps file, against ≈12 % encoding); `'always'`: encode; `'never'`: never encode (options that need encoding throw) ([details](docs/sources/file.md#h264-passthrough-transcode))",
    default: "`'auto'`",
    resolve: (value, name) => choiceOption<Transcode>(name, value, ['auto', 'always', 'never'], 'auto'),
  }),
  /**
   * Audio sent to every viewer with the video, as Opus (encoded once, by the same ffmpeg). `true` (default):
   * the source's first audio stream, if a file or URL has one (a camera, `'testsrc'` and a custom stream
   * have none). `false`: never any audio. A string: an extra ffmpeg audio input, which is how a custom
   * stream or a video-only source gets sound: a file path, a URL, or `'<format>:<input>'` for ffmpeg's
   * `lavfi`, `alsa` or `pulse` input formats (`'lavfi:sine=frequency=440'`, `'alsa:default'`). A viewer
   * whose offer has no audio section gets the video alone.
   */
  audio: option<boolean | string>()({
    doc: "sound for every viewer whose offer asks for it, as Opus encoded once by the same ffmpeg: `true` the source's own (a file or URL that has some), `false` none, or an extra input for a custom stream, camera or silent file: a file, a URL, `'lavfi:sine=frequency=440'`, `'alsa:default'` ([audio](docs/audio.md))",
    default: '`true`',
    resolve: (value, _name, context) => audioSpecOf(value, context.source),
  }),
  /** Path of the ffmpeg binary. Default: `FFMPEG_PATH`, ffmpeg-static, then `ffmpeg` on PATH. */
  ffmpegPath: option<string>()({
    doc: 'the ffmpeg binary',
    default: 'see below',
    resolve: (value, name) => stringOption(name, value),
  }),
};
