import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AUDIO_BITRATE, AUDIO_PAYLOAD_TYPE, audioInputArgs, buildFfmpegArgs, buildSlateArgs, COLORSPACES, endsByItself, inputArgs,
  RTP_PAYLOAD_TYPE, type EncodeSettings,
} from '../../../../../lib/source/ffmpeg/ffmpeg-args.ts';

/** The resolved options' defaults for a testsrc, with `overrides`. */
const settings = (overrides: Partial<EncodeSettings> = {}): EncodeSettings => ({
  source: { kind: 'testsrc' }, codec: 'vp8', bitrate: 2_500_000, gop: 30, frameSizeReduction: 20, resolution: undefined,
  framerate: undefined, loop: false, inputOptions: [], filters: undefined, stabilize: false, colorspace: undefined,
  audio: { kind: 'none' }, ...overrides,
});

const PORT = 40_000;
const SSRC = 1_234_567;
const AUDIO_SSRC = 7_654_321;

const HEAD = ['-hide_banner', '-loglevel', 'warning', '-nostats'];
const VIDEO_ONLY = ['-an', '-sn', '-dn', '-map', '0:v:0'];
const VP8 = [
  '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-threads', '1',
  '-auto-alt-ref', '0', '-lag-in-frames', '0', '-error-resilient', '1', '-max-intra-rate', '900',
  '-b:v', '2500000', '-maxrate', '2500000', '-bufsize', '2500000', '-g', '30', '-keyint_min', '30',
];
const H264 = [
  '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-bf', '0', '-sc_threshold', '0',
  '-b:v', '2500000', '-maxrate', '2500000', '-bufsize', '2500000', '-g', '30', '-keyint_min', '30',
];
const SCALE_80 = ['-vf', 'scale=trunc(iw*0.8/2)*2:trunc(ih*0.8/2)*2'];
const EVEN_CROP = ['-vf', 'crop=trunc(iw/2)*2:trunc(ih/2)*2'];
const ENCODE_TAIL = ['-fps_mode', 'passthrough', '-pix_fmt', 'yuv420p'];
const RTP_OUT = ['-f', 'rtp', '-payload_type', '96', '-ssrc', String(SSRC), `rtp://127.0.0.1:${PORT}?pkt_size=1200&rtcpport=${PORT}`];
const OPUS_FROM = (input: 0 | 1) => [
  '-map', `${input}:a:0`, '-vn', '-sn', '-dn', '-c:a', 'libopus', '-b:a', '64000', '-ar', '48000', '-ac', '2',
  '-application', 'lowdelay', '-frame_duration', '20',
  '-f', 'rtp', '-payload_type', '111', '-ssrc', String(AUDIO_SSRC), `rtp://127.0.0.1:${PORT}?pkt_size=1200&rtcpport=${PORT}`,
];

describe('buildFfmpegArgs: sources', () => {
  test('testsrc: 1280x720 at 30 by default, read in real time, VP8 at 80 % size', () => {
    assert.deepEqual(buildFfmpegArgs(settings(), PORT, SSRC), [
      ...HEAD, '-re', '-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=30',
      ...VIDEO_ONLY, ...SCALE_80, ...ENCODE_TAIL, ...VP8, ...RTP_OUT,
    ]);
  });

  test('testsrc with a resolution, a frame rate and input options (before -i)', () => {
    const args = buildFfmpegArgs(settings({ resolution: [640, 360], framerate: 25, inputOptions: ['-t', '5'] }), PORT, SSRC);
    assert.deepEqual(args.slice(4, 11), ['-re', '-f', 'lavfi', '-t', '5', '-i', 'testsrc=size=640x360:rate=25']);
  });

  test('a file: read in real time, once', () => {
    const file = settings({ source: { kind: 'file', path: '/media/clip one.mp4' }, frameSizeReduction: 0 });
    assert.deepEqual(buildFfmpegArgs(file, PORT, SSRC), [
      ...HEAD, '-re', '-i', '/media/clip one.mp4', ...VIDEO_ONLY, ...EVEN_CROP, ...ENCODE_TAIL, ...VP8, ...RTP_OUT,
    ]);
  });

  test('a looped file: -stream_loop -1, unless each wrap is a new run (loopByRestart)', () => {
    const looped = settings({ source: { kind: 'file', path: '/media/a.mp4' }, loop: true, inputOptions: ['-ss', '3'] });
    assert.deepEqual(buildFfmpegArgs(looped, PORT, SSRC).slice(4, 11), ['-re', '-stream_loop', '-1', '-ss', '3', '-i', '/media/a.mp4']);
    assert.deepEqual(buildFfmpegArgs(looped, PORT, SSRC, { loopByRestart: true }).slice(4, 9), ['-re', '-ss', '3', '-i', '/media/a.mp4']);
    assert.ok(!buildFfmpegArgs(looped, PORT, SSRC, { loopByRestart: true }).includes('-stream_loop'));
  });

  test('a URL: no input buffering; RTSP over TCP, before the user\'s options (the last one wins in ffmpeg)', () => {
    const url = (address: string, inputOptions: string[] = []) =>
      inputArgs(settings({ source: { kind: 'url', url: address }, inputOptions }));
    assert.deepEqual(url('http://cam.local/stream.m3u8'), ['-fflags', 'nobuffer', '-flags', 'low_delay', '-i', 'http://cam.local/stream.m3u8']);
    assert.deepEqual(url('udp://239.0.0.1:1234'), ['-fflags', 'nobuffer', '-flags', 'low_delay', '-i', 'udp://239.0.0.1:1234']);
    assert.deepEqual(url('rtsp://cam.local/live'), ['-fflags', 'nobuffer', '-flags', 'low_delay', '-rtsp_transport', 'tcp', '-i', 'rtsp://cam.local/live']);
    assert.deepEqual(url('RTSPS://cam.local/live').slice(4, 6), ['-rtsp_transport', 'tcp']);
    assert.deepEqual(url('rtsp://cam.local/live', ['-rtsp_transport', 'udp']).slice(4, 8), ['-rtsp_transport', 'tcp', '-rtsp_transport', 'udp']);
    assert.ok(!url('rtmp://server/live').includes('-rtsp_transport'));
  });

  test('a camera: v4l2 on Linux with the size and rate asked, avfoundation by index on macOS', () => {
    const camera = settings({ source: { kind: 'device', path: '/dev/video2' }, resolution: [640, 480], framerate: 15, inputOptions: ['-input_format', 'mjpeg'] });
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    try {
      Object.defineProperty(process, 'platform', { value: 'linux' });
      assert.deepEqual(inputArgs(camera), ['-f', 'v4l2', '-video_size', '640x480', '-framerate', '15', '-input_format', 'mjpeg', '-i', '/dev/video2']);
      assert.deepEqual(inputArgs(settings({ source: { kind: 'device', path: '/dev/video0' } })), ['-f', 'v4l2', '-i', '/dev/video0'], 'the camera\'s own size and rate');
      Object.defineProperty(process, 'platform', { value: 'darwin' });
      assert.deepEqual(inputArgs(camera), ['-f', 'avfoundation', '-video_size', '640x480', '-framerate', '15', '-input_format', 'mjpeg', '-i', '2']);
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
  });

  test('custom frames: raw video of the geometry given on stdin, stamped on arrival', () => {
    const frames = settings({ source: { kind: 'frames', stream: { read: () => null, stop: () => {} } }, frameSizeReduction: 0 });
    assert.deepEqual(buildFfmpegArgs(frames, PORT, SSRC, { raw: { width: 641, height: 479, format: 'bgr24' } }), [
      ...HEAD, '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-video_size', '641x479', '-use_wallclock_as_timestamps', '1', '-i', 'pipe:0',
      ...VIDEO_ONLY, ...EVEN_CROP, ...ENCODE_TAIL, ...VP8, ...RTP_OUT,
    ]);
    assert.deepEqual(inputArgs(frames, { width: 2, height: 2, format: 'yuv420p' }).slice(0, 6), ['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', '2x2']);
    assert.throws(() => buildFfmpegArgs(frames, PORT, SSRC), /raw frame geometry is needed/);
  });
});

describe('buildFfmpegArgs: video', () => {
  test('copy: the H.264 as is, with SPS/PPS in-band before each keyframe, and no filter or encoder', () => {
    const file = settings({ source: { kind: 'file', path: '/media/h264.mp4' }, codec: 'h264', frameSizeReduction: 0 });
    assert.deepEqual(buildFfmpegArgs(file, PORT, SSRC, { copy: true }), [
      ...HEAD, '-re', '-i', '/media/h264.mp4', ...VIDEO_ONLY,
      '-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,dump_extra=freq=keyframe', ...RTP_OUT,
    ]);
  });

  test('H.264 encoding: libx264 zerolatency baseline, no B-frames, no scene-cut keyframes', () => {
    assert.deepEqual(buildFfmpegArgs(settings({ codec: 'h264' }), PORT, SSRC).slice(-H264.length - RTP_OUT.length, -RTP_OUT.length), H264);
  });

  test('VP8 keyframes are bounded as libwebrtc bounds them: 30 × the frame rate in % of a frame\'s share, at least 300 %', () => {
    const at = (args: string[]) => args[args.indexOf('-max-intra-rate') + 1];
    assert.equal(at(buildFfmpegArgs(settings(), PORT, SSRC)), '900', 'the source\'s own rate: taken as 30');
    assert.equal(at(buildFfmpegArgs(settings({ framerate: 60 }), PORT, SSRC)), '1800');
    assert.equal(at(buildFfmpegArgs(settings({ framerate: 5 }), PORT, SSRC)), '300');
    assert.equal(buildFfmpegArgs(settings({ codec: 'h264' }), PORT, SSRC).includes('-max-intra-rate'), false, 'libx264 has no such option');
  });

  test('bitrate and GOP go to the rate control and keyframe interval', () => {
    const args = buildFfmpegArgs(settings({ bitrate: 800_000, gop: 60 }), PORT, SSRC);
    const at = (flag: string) => args[args.indexOf(flag) + 1];
    assert.deepEqual(['-b:v', '-maxrate', '-bufsize', '-g', '-keyint_min'].map(at), ['800000', '800000', '800000', '60', '60']);
  });

  test('the filter chain: deshake, the colour conversion, the user\'s filters, then the size reduction', () => {
    const vf = (overrides: Partial<EncodeSettings>) => {
      const args = buildFfmpegArgs(settings(overrides), PORT, SSRC);
      assert.equal(args.filter((arg) => arg === '-vf').length, 1);
      return args[args.indexOf('-vf') + 1];
    };
    assert.equal(vf({ frameSizeReduction: 0 }), 'crop=trunc(iw/2)*2:trunc(ih/2)*2');
    assert.equal(vf({ frameSizeReduction: 50 }), 'scale=trunc(iw*0.5/2)*2:trunc(ih*0.5/2)*2');
    assert.equal(vf({ frameSizeReduction: 25 }), 'scale=trunc(iw*0.75/2)*2:trunc(ih*0.75/2)*2');
    assert.equal(vf({ stabilize: true, frameSizeReduction: 0 }), 'deshake,crop=trunc(iw/2)*2:trunc(ih/2)*2');
    assert.equal(vf({ colorspace: 'COLOR_BGR2GRAY' }), 'format=gray,scale=trunc(iw*0.8/2)*2:trunc(ih*0.8/2)*2');
    assert.equal(vf({ filters: 'hflip,eq=contrast=1.2', frameSizeReduction: 0 }), 'hflip,eq=contrast=1.2,crop=trunc(iw/2)*2:trunc(ih/2)*2');
    assert.equal(
      vf({ stabilize: true, colorspace: 'COLOR_RGB2BGR', filters: 'hflip', frameSizeReduction: 50 }),
      'deshake,colorchannelmixer=rr=0:rb=1:br=1:bb=0,hflip,scale=trunc(iw*0.5/2)*2:trunc(ih*0.5/2)*2',
    );
  });

  test('every colorspace name maps to a filter', () => {
    for (const [name, filter] of Object.entries(COLORSPACES)) {
      assert.ok(filter.length > 0, name);
      assert.ok(buildFfmpegArgs(settings({ colorspace: name }), PORT, SSRC).some((arg) => arg.startsWith(`${filter},`)), name);
    }
  });
});

describe('buildFfmpegArgs: audio', () => {
  const file = (audio: EncodeSettings['audio'], loop = false) =>
    settings({ source: { kind: 'file', path: '/media/a.mp4' }, audio, loop, frameSizeReduction: 0 });

  test("the source's own audio: a second output from input 0", () => {
    assert.deepEqual(buildFfmpegArgs(file({ kind: 'source' }), PORT, SSRC, { audioSsrc: AUDIO_SSRC }), [
      ...HEAD, '-re', '-i', '/media/a.mp4', ...VIDEO_ONLY, ...EVEN_CROP, ...ENCODE_TAIL, ...VP8, ...RTP_OUT, ...OPUS_FROM(0),
    ]);
  });

  test('no audio SSRC (the source has none, or the plan said no), or audio off: video only', () => {
    assert.deepEqual(buildFfmpegArgs(file({ kind: 'source' }), PORT, SSRC), buildFfmpegArgs(file({ kind: 'none' }), PORT, SSRC));
    assert.deepEqual(buildFfmpegArgs(file({ kind: 'none' }), PORT, SSRC, { audioSsrc: AUDIO_SSRC }), buildFfmpegArgs(file({ kind: 'none' }), PORT, SSRC));
    const extra = buildFfmpegArgs(file({ kind: 'input', from: 'lavfi', input: 'sine' }), PORT, SSRC);
    assert.equal(extra.filter((arg) => arg === '-i').length, 1, 'no extra input without an audio SSRC');
  });

  test('an extra input: opened after the video input, its audio as the second output (input 1)', () => {
    const cases: [EncodeSettings['audio'], string[]][] = [
      [{ kind: 'input', from: 'file', input: '/media/music.flac' }, ['-re', '-i', '/media/music.flac']],
      [{ kind: 'input', from: 'url', input: 'http://radio.local/stream' }, ['-i', 'http://radio.local/stream']],
      [{ kind: 'input', from: 'lavfi', input: 'sine=frequency=440' }, ['-re', '-f', 'lavfi', '-i', 'sine=frequency=440']],
      [{ kind: 'input', from: 'alsa', input: 'default' }, ['-f', 'alsa', '-i', 'default']],
      [{ kind: 'input', from: 'pulse', input: 'alsa_input.usb' }, ['-f', 'pulse', '-i', 'alsa_input.usb']],
    ];
    for (const [audio, input] of cases) {
      assert.deepEqual(buildFfmpegArgs(file(audio), PORT, SSRC, { audioSsrc: AUDIO_SSRC }), [
        ...HEAD, '-re', '-i', '/media/a.mp4', ...input, ...VIDEO_ONLY, ...EVEN_CROP, ...ENCODE_TAIL, ...VP8, ...RTP_OUT, ...OPUS_FROM(1),
      ], JSON.stringify(audio));
    }
  });

  test('an extra audio file loops with a looped source, not when each wrap is a new run', () => {
    const audio = { kind: 'input', from: 'file', input: '/media/music.flac' } as const;
    assert.deepEqual(buildFfmpegArgs(file(audio, true), PORT, SSRC, { audioSsrc: AUDIO_SSRC }).slice(4, 13), [
      '-re', '-stream_loop', '-1', '-i', '/media/a.mp4', '-re', '-stream_loop', '-1', '-i',
    ]);
    assert.deepEqual(buildFfmpegArgs(file(audio, true), PORT, SSRC, { audioSsrc: AUDIO_SSRC, loopByRestart: true }).slice(4, 10), [
      '-re', '-i', '/media/a.mp4', '-re', '-i', '/media/music.flac',
    ]);
    assert.deepEqual(audioInputArgs({ kind: 'input', from: 'url', input: 'rtsp://mic' }, true), ['-i', 'rtsp://mic'], 'a live input is never looped');
  });

  test('with copy, the audio is still encoded as Opus', () => {
    const args = buildFfmpegArgs(settings({ source: { kind: 'url', url: 'rtsp://cam/1' }, codec: 'h264', frameSizeReduction: 0, audio: { kind: 'source' } }),
      PORT, SSRC, { copy: true, audioSsrc: AUDIO_SSRC });
    assert.deepEqual(args.slice(-OPUS_FROM(0).length), OPUS_FROM(0));
    assert.equal(args[args.indexOf('-c:v') + 1], 'copy');
  });

  test('the constants the outputs use', () => {
    assert.equal(RTP_PAYLOAD_TYPE, 96);
    assert.equal(AUDIO_PAYLOAD_TYPE, 111);
    assert.equal(AUDIO_BITRATE, 64_000);
  });
});

describe('buildSlateArgs', () => {
  const SLATE_VP8 = VP8.map((arg) => (arg === '2500000' ? '250000' : arg));

  test('a dark picture with the text centred, at a tenth of the bitrate, until stopped', () => {
    assert.deepEqual(buildSlateArgs(settings(), { text: 'No Input', width: 1278, height: 718, framerate: 30, drawText: true }, PORT, SSRC), [
      ...HEAD, '-re', '-f', 'lavfi', '-i', 'color=c=0x202020:size=1278x718:rate=30',
      '-vf', "drawtext=text='No Input':fontcolor=white:fontsize=h/8:x=(w-text_w)/2:y=(h-text_h)/2",
      '-pix_fmt', 'yuv420p', ...SLATE_VP8, ...RTP_OUT,
    ]);
  });

  test('for some seconds; without text; in H.264; the bitrate never under 50 kb/s', () => {
    const args = buildSlateArgs(settings({ codec: 'h264', bitrate: 300_000, gop: 15 }), { text: 'The End', width: 640, height: 360, framerate: 25, seconds: 1, drawText: false }, PORT, SSRC);
    assert.deepEqual(args, [
      ...HEAD, '-re', '-f', 'lavfi', '-i', 'color=c=0x202020:size=640x360:rate=25:duration=1', '-pix_fmt', 'yuv420p',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-bf', '0', '-sc_threshold', '0',
      '-b:v', '50000', '-maxrate', '50000', '-bufsize', '50000', '-g', '15', '-keyint_min', '15', ...RTP_OUT,
    ]);
  });

  test("the text's colons and backslashes are escaped for drawtext", () => {
    const args = buildSlateArgs(settings(), { text: '12:00 \\ now', width: 640, height: 360, framerate: 30, drawText: true }, PORT, SSRC);
    assert.equal(args[args.indexOf('-vf') + 1]!.split(':fontcolor')[0], "drawtext=text='12\\:00 \\\\ now'");
  });
});

describe('endsByItself', () => {
  test('a file played once and a custom stream end; a looped file, testsrc, URLs and cameras do not', () => {
    const stream = { read: () => null, stop: () => {} };
    assert.equal(endsByItself({ source: { kind: 'file', path: '/a.mp4' }, loop: false }), true);
    assert.equal(endsByItself({ source: { kind: 'file', path: '/a.mp4' }, loop: true }), false);
    assert.equal(endsByItself({ source: { kind: 'frames', stream }, loop: false }), true);
    assert.equal(endsByItself({ source: { kind: 'frames', stream }, loop: true }), true);
    assert.equal(endsByItself({ source: { kind: 'testsrc' }, loop: false }), false);
    assert.equal(endsByItself({ source: { kind: 'url', url: 'rtsp://x/y' }, loop: false }), false);
    assert.equal(endsByItself({ source: { kind: 'device', path: '/dev/video0' }, loop: false }), false);
  });
});
