import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createInlineScript } from '../../../middleware/inline-script.ts';

describe('inline_script (templates)', () => {
  const root = mkdtempSync(join(tmpdir(), 'webgear-inline-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const folder = (name: string, files: Record<string, string>): string => {
    const dir = join(root, name);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    return dir;
  };

  test('the first folder that has the file gives it, as a <script> element', () => {
    const mine = folder('mine', { 'js/other.js': 'mine()' });
    const theme = folder('theme', { 'js/custom.js': 'theme()', 'js/other.js': 'theme()' });
    const inline = createInlineScript([mine, theme]);
    assert.equal(String(inline('js/custom.js')), '<script>theme()</script>');
    assert.equal(String(inline('/js/other.js')), '<script>mine()</script>', 'a leading slash as url_for takes it');
  });

  test('nothing in the file can end the element or open a comment in it', () => {
    const dir = folder('escape', { 'a.js': 'const s = "</script><script>alert(1)</SCRIPT>"; const c = "<!-- x";' });
    const html = String(createInlineScript([dir])('a.js'));
    assert.equal(html.match(/<\/script/gi)?.length, 1, `one end tag: ${html}`);
    assert.ok(!html.includes('<!--'), html);
    assert.ok(html.includes('"<\\/script><script>alert(1)<\\/SCRIPT>"'), 'still the same string to JavaScript');
  });

  test('a changed file is read again', () => {
    const dir = folder('change', { 'a.js': 'one()' });
    const inline = createInlineScript([dir]);
    assert.equal(String(inline('a.js')), '<script>one()</script>');
    writeFileSync(join(dir, 'a.js'), 'two()');
    utimesSync(join(dir, 'a.js'), new Date(), new Date(Date.now() + 5_000));
    assert.equal(String(inline('a.js')), '<script>two()</script>');
  });

  test('a missing file, or a path out of the folders, is an error naming it', () => {
    const dir = folder('missing', { 'js/a.js': 'a()' });
    const inline = createInlineScript([dir]);
    assert.throws(() => inline('js/nope.js'), /inline_script: no static file "js\/nope\.js"/);
    assert.throws(() => inline('../missing/js/a.js'), /inline_script: "\.\.\/missing\/js\/a\.js" is not a path inside the static folders/);
    assert.throws(() => inline('js'), /no static file "js"/, 'a folder is not a file');
    assert.throws(() => inline(''), /is not a path inside/);
  });
});
