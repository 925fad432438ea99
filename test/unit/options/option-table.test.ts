import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { WebGearRtcOptionError } from '../../../lib/errors.ts';
import { OPTION_NAMES, OPTION_TABLE, optionsTableMarkdown, type OptionName } from '../../../options/option-table.ts';
import { resolveOptions } from '../../../options/resolve-options.ts';
import { README, readmeOptionsTable } from '../../../scripts/docs-options.ts';

/** Options as plain JavaScript may pass them: wrong types included. */
const resolveLoose = (options: Record<string, unknown>) => resolveOptions(options as never);

/**
 * Values each option must refuse. Every option of the table is here: a new option without its bad values
 * fails the first test below.
 */
const BAD_VALUES: Record<OptionName, unknown[]> = {
  source: [-1, 2.5, '', null, { path: 'a.mp4' }, '/nonexistent/clip.mp4', 'whep+ftp://origin/whep', 'whep+'],
  customStream: [{ read: () => null }, 'frames', null],
  timeDelay: [-1, '1', 3_601, Number.NaN],
  inputOptions: ['-re', [1], ['-re', null]],
  filters: ['', 42, ['hflip']],
  stabilize: ['yes', 1, null],
  colorspace: ['COLOR_BGR2HSV', '', 7],
  codec: ['vp9', 'VP8', 'H264', null],
  bitrate: [1_000, 2_500_000.5, '2500000', 60_000_000],
  maxConnecting: [0, 1.5, '10', 10_001],
  maxConnectingPerAddress: [0, 2.5, '4', null],
  maxEventLoopDelay: [-1, '50', 10_001, Number.NaN],
  renditions: [true, 'on', null, [{ height: 360 }], [{ height: 360, bitrate: 1_000 }], [{ height: 8, bitrate: 800_000 }],
    [{ height: 360.5, bitrate: 800_000 }], Array(5).fill({ height: 360, bitrate: 800_000 })],
  gop: [0, 1.5, 601, '30'],
  frameSizeReduction: [-1, 91, '20', Number.NaN],
  resolution: [[640], [640, 480, 3], [640.5, 480], [8, 8], [640, 9_000], '640x480'],
  framerate: [0, 241, '30', Number.POSITIVE_INFINITY],
  loop: [1, 'true', null],
  enableLiveBroadcast: ['true', 0],
  enableInfiniteFrames: [null, 'false'],
  transcode: ['sometimes', true, 'ALWAYS'],
  audio: [42, '', '   ', '/nonexistent/music.flac', { input: 'x' }],
  ffmpegPath: [7, '', ['ffmpeg']],
  logging: ['verbose', 1],
  logger: [{ info() {} }, console.log, null, 'console'],
  customDataLocation: [5, ''],
  overwriteDefaultFiles: ['no', 0],
  prefix: ['cam', '/a?b', '/a b', '', 3],
  basePath: ['base', '/x#y', ''],
  templates: ['/nonexistent/templates', [1], [''], 42],
  static: [['/nonexistent/static'], [null], {}],
  maxViewers: [0, -3, 1.5, 10_001],
  connectTimeout: [0, 301, '20'],
  bodyLimit: [100, 64.5, 17 * 1024 * 1024],
  whipToken: ['', 42, 'secret' /* with a source that is not 'whip' */],
  authorize: ['admin', true, {}],
  iceServers: [[{ urls: 'http://stun.example.com' }], { urls: 'stun:x' }, [{ urls: [] }], [{ urls: 'stun:x', username: 1 }], ['stun:x']],
  iceAdditionalHostAddresses: [[''], '127.0.0.1', [1]],
  icePortRange: [[5_000, 4_000], [5_000, 5_000], [0, 10], [10, 70_000], [5_000]],
  corsOrigins: ['https://a.example/path', 'example.com', [], ['*'], 5],
  stats: ['yes', 1, null],
  jitterBufferTarget: [-1, 4_001, '100'],
  publish: ['', 'whip.example.com/endpoint', 'ftp://whip.example.com/x', 42, null, false, [], { token: 't' },
    { url: 'not a url' }, { url: 'http://whip.example.com/x', token: '' }, { url: 'http://whip.example.com/x', token: 'a\r\nb' },
    { url: 'http://whip.example.com/x', iceServers: ['stun:x'] }, { url: 'http://whip.example.com/x', bearer: 't' }],
  metrics: ['yes', 1, null],
};

/** The options that name `name` with `value`: with a source, unless the value is the source. */
const withValue = (name: string, value: unknown): Record<string, unknown> =>
  name === 'source' || name === 'customStream' ? { [name]: value } : { source: 'testsrc', [name]: value };

describe('the option table', () => {
  test('every option has bad values in this test, and only options do', () => {
    assert.deepEqual(Object.keys(BAD_VALUES).sort(), [...OPTION_NAMES].sort());
  });

  for (const [name, values] of Object.entries(BAD_VALUES)) {
    test(`${name}: a wrong value is a WebGearRtcOptionError naming "${name}"`, () => {
      for (const value of values) {
        assert.throws(() => resolveLoose(withValue(name, value)), (error: unknown) => {
          assert.ok(error instanceof WebGearRtcOptionError, `${String(value)}: ${String(error)}`);
          assert.ok(error instanceof TypeError);
          assert.equal(error.name, 'WebGearRtcOptionError');
          // An object option names its field: "publish.url".
          assert.ok(error.option === name || error.option.startsWith(`${name}.`), `${String(value)}: ${error.message}`);
          assert.ok(error.message.startsWith(`webgear-rtc: option "${error.option}" `), error.message);
          return true;
        }, `${name} accepted ${String(value)}`);
      }
    });
  }

  test('OPTION_NAMES are the table\'s names, in the README\'s order', () => {
    assert.deepEqual([...OPTION_NAMES], Object.keys(OPTION_TABLE));
    assert.equal(Object.keys(OPTION_TABLE)[0], 'source');
  });
});

/** The README's options table as rows: name → its default column. */
function readmeDefaults(): Map<string, string> {
  const { table } = readmeOptionsTable(readFileSync(README, 'utf8'));
  const rows = table.split('\n').slice(2);
  return new Map(rows.map((row) => {
    const [, name, defaultColumn] = row.split(/(?<!\\)\|/).map((cell) => cell.trim());
    return [name!.replace(/`/g, ''), defaultColumn!];
  }));
}

/** What options left out resolve to when the README's default is no plain value, with why. */
const DESCRIBED_DEFAULTS: Record<string, { readme: string; resolved: unknown }> = {
  source: { readme: '— (this or `customStream`)', resolved: { kind: 'testsrc' } }, // given here: one of the two is required
  customStream: { readme: '—', resolved: undefined },
  filters: { readme: '—', resolved: undefined },
  colorspace: { readme: '—', resolved: undefined },
  resolution: { readme: 'testsrc: `[1280, 720]`', resolved: undefined }, // applied by the ffmpeg command (ffmpeg-args)
  framerate: { readme: 'testsrc, customStream: `30`', resolved: undefined }, // idem, and by the frame pump
  ffmpegPath: { readme: 'see below', resolved: undefined }, // looked for when ffmpeg starts
  logger: { readme: '`console`', resolved: undefined }, // createLogger(logging, sink = console)
  customDataLocation: { readme: '`~/.vidgear`', resolved: undefined }, // resolved by the data-files step
  prefix: { readme: '—', resolved: undefined },
  basePath: { readme: 'per request', resolved: undefined },
  templates: { readme: '—', resolved: [] },
  static: { readme: '—', resolved: [] },
  authorize: { readme: '—', resolved: undefined },
  whipToken: { readme: '—', resolved: undefined },
  icePortRange: { readme: 'OS ports', resolved: undefined },
  maxConnecting: { readme: '`maxViewers`', resolved: undefined },
  jitterBufferTarget: { readme: "the browser's", resolved: undefined },
  publish: { readme: '—', resolved: undefined },
};

describe('defaults', () => {
  const defaults = readmeDefaults();
  const resolved = resolveLoose({ source: 'testsrc' }) as Record<string, unknown>;

  test('the README lists every option', () => {
    assert.deepEqual([...defaults.keys()].sort(), [...OPTION_NAMES].sort());
  });

  for (const name of OPTION_NAMES) {
    test(`${name}: leaving it out is what the README's default column says`, () => {
      const readme = defaults.get(name);
      const described = DESCRIBED_DEFAULTS[name];
      if (described) {
        assert.equal(readme, described.readme, 'the README describes this default in words: update DESCRIBED_DEFAULTS with the code');
        assert.deepEqual(resolved[name], described.resolved);
        return;
      }
      // A plain value in backticks (`0`, `'vp8'`, `[]`, `true`): passing it resolves as leaving the option out.
      const literal = /^`([^`]+)`$/.exec(readme ?? '')?.[1];
      assert.ok(literal !== undefined, `the README's default for ${name} is ${readme}: a value in backticks, or a DESCRIBED_DEFAULTS entry`);
      const value: unknown = JSON.parse(literal.replace(/'/g, '"'));
      assert.deepEqual(resolved[name], (resolveLoose({ source: 'testsrc', [name]: value }) as Record<string, unknown>)[name]);
    });
  }

  test('the plain defaults, spelled out', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(resolved).filter(([name]) => !(name in DESCRIBED_DEFAULTS))),
      {
        timeDelay: 0, inputOptions: [], stabilize: false, codec: 'vp8', bitrate: 2_500_000, renditions: 'auto', gop: 30, frameSizeReduction: 20,
        loop: false, enableLiveBroadcast: true, enableInfiniteFrames: false, transcode: 'auto', audio: { kind: 'none' },
        logging: false, overwriteDefaultFiles: false, maxViewers: 100, maxConnectingPerAddress: 10, maxEventLoopDelay: 50, connectTimeout: 10, bodyLimit: 65_536,
        iceServers: [], iceAdditionalHostAddresses: [], corsOrigins: '*', stats: true, metrics: false,
      },
    );
  });
});

describe("the README's options table", () => {
  test('is optionsTableMarkdown() (npm run docs:options rewrites it)', () => {
    const { table } = readmeOptionsTable(readFileSync(README, 'utf8'));
    try {
      // Line by line: the assertion's diff then shows the rows that differ.
      assert.deepEqual(table.split('\n'), optionsTableMarkdown().split('\n'));
    } catch (error) {
      // The hint first, then the assertion's diff (without its dump of both whole tables).
      throw new Error(`README.md's options table is out of date: run \`npm run docs:options\` (+ README.md, - the option table).\n${(error as Error).message}`);
    }
  });

  test('optionsTableMarkdown(): a header, then one row per option with its default and its doc', () => {
    const lines = optionsTableMarkdown().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['| option | default | meaning |', '|---|---|---|']);
    assert.equal(lines.length, 2 + OPTION_NAMES.size);
    assert.equal(lines[2], `| \`source\` | ${OPTION_TABLE.source.default} | ${OPTION_TABLE.source.doc} |`);
    for (const line of lines.slice(2)) assert.equal(line.split(/(?<!\\)\|/).length, 5, `an unescaped | in: ${line}`);
  });
});
