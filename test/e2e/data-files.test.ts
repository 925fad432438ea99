/** vidgear's data-files workflow: the theme is copied to `<customDataLocation>/webgear_rtc`, where users edit it. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { webgearRtc, type Logger, type WebGearRtcOptions } from 'webgear-rtc';
import { tempDir, testOptions } from './helpers.ts';

/** The package's own theme, as published: `templates/{templates,static}`. */
const PACKAGE_THEME = fileURLToPath(new URL('../../templates/', import.meta.url));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Constructs the middleware (which prepares the data files) and closes it again. */
async function construct(options: WebGearRtcOptions): Promise<void> {
  const rtc = webgearRtc(options);
  await rtc.close();
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string) => void lines.push(message);
  return { lines, debug: push, info: push, warn: push, error: push };
}

describe('data files', () => {
  test('a fresh customDataLocation gets the whole default theme, byte for byte', async (t) => {
    const data = tempDir();
    t.after(data.cleanup);
    await construct(testOptions(data.path));

    const root = join(data.path, 'webgear_rtc');
    for (const name of ['index.html', 'base.html', '404.html', '500.html']) {
      assert.ok(existsSync(join(root, 'templates', name)), `templates/${name} was written`);
    }
    for (const name of ['css/custom.css', 'js/custom.js']) {
      assert.ok(existsSync(join(root, 'static', name)), `static/${name} was written`);
    }
    assert.ok(readdirSync(join(root, 'static', 'img')).length > 0, 'static/img/ holds the images');

    const expected = listFiles(PACKAGE_THEME);
    assert.ok(expected.length >= 8, `the package theme has its files (${expected.join(', ')})`);
    assert.deepEqual(listFiles(root), expected);
    for (const file of expected) {
      assert.ok(
        readFileSync(join(root, file)).equals(readFileSync(join(PACKAGE_THEME, file))),
        `${file} is identical to the package's`,
      );
    }
    // Nothing is written outside <location>/webgear_rtc.
    assert.deepEqual(readdirSync(data.path), ['webgear_rtc']);
  });

  test("a user's edit survives a second construction, even when a missing 404.html makes the defaults be copied again", async (t) => {
    const data = tempDir();
    t.after(data.cleanup);
    await construct(testOptions(data.path));
    const templates = join(data.path, 'webgear_rtc', 'templates');
    const edited = '{% extends "base.html" %}{% block content %}<p>my own page</p>{% endblock %}\n';
    writeFileSync(join(templates, 'index.html'), edited);

    await construct(testOptions(data.path));
    assert.equal(readFileSync(join(templates, 'index.html'), 'utf8'), edited, 'no overwrite when nothing is missing');

    rmSync(join(templates, '404.html'));
    await construct(testOptions(data.path));
    assert.equal(readFileSync(join(templates, 'index.html'), 'utf8'), edited, 'the edit stays');
    assert.equal(
      readFileSync(join(templates, '404.html'), 'utf8'),
      readFileSync(join(PACKAGE_THEME, 'templates', '404.html'), 'utf8'),
      '404.html comes back',
    );
  });

  test('overwriteDefaultFiles restores the default files and leaves extra user files alone', async (t) => {
    const data = tempDir();
    t.after(data.cleanup);
    await construct(testOptions(data.path));
    const root = join(data.path, 'webgear_rtc');
    writeFileSync(join(root, 'templates', 'index.html'), '<p>edited</p>\n');
    writeFileSync(join(root, 'static', 'css', 'custom.css'), 'body { color: red }\n');
    writeFileSync(join(root, 'templates', 'custom.html'), '<p>mine</p>\n');
    mkdirSync(join(root, 'static', 'extra'));
    writeFileSync(join(root, 'static', 'extra', 'logo.png'), 'png');

    await construct(testOptions(data.path, { overwriteDefaultFiles: true }));
    for (const file of ['templates/index.html', 'static/css/custom.css']) {
      assert.ok(readFileSync(join(root, file)).equals(readFileSync(join(PACKAGE_THEME, file))), `${file} restored`);
    }
    assert.equal(readFileSync(join(root, 'templates', 'custom.html'), 'utf8'), '<p>mine</p>\n');
    assert.equal(readFileSync(join(root, 'static', 'extra', 'logo.png'), 'utf8'), 'png');
  });

  test('with logging on, the data-file location is logged', async (t) => {
    const data = tempDir();
    t.after(data.cleanup);
    const logger = collectingLogger();
    await construct(testOptions(data.path, { logging: true, logger }));
    const root = join(data.path, 'webgear_rtc');
    assert.ok(
      logger.lines.some((line) => line.includes(root)),
      `a log line names ${root}: ${JSON.stringify(logger.lines)}`,
    );
  });

  test('with logging off, nothing is logged about data files', async (t) => {
    const data = tempDir();
    t.after(data.cleanup);
    const logger = collectingLogger();
    await construct(testOptions(data.path, { logging: false, logger }));
    assert.deepEqual(logger.lines, []);
    assert.ok(existsSync(join(data.path, 'webgear_rtc', 'templates', 'index.html')), 'the files are written all the same');
  });
});
