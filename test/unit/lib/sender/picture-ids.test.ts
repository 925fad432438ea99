/** lib/sender/picture-ids.ts: a viewer's VP8 PictureIDs never go back to ones it has seen. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PictureIds } from '../../../../lib/sender/picture-ids.ts';

test('the first source keeps its numbers; after a rebase (a switch, a replay) the next picture is the one after the last sent', () => {
  const ids = new PictureIds();
  assert.deepEqual([5, 5, 6, 7].map((id) => ids.map(id, 0x7fff)), [5, 5, 6, 7], 'every packet of a picture: the same number');
  ids.rebase();
  // A GOP replayed from picture 3 (the viewer has decoded up to 7): 8, 9, 10, not 3, 4, 5 again.
  assert.deepEqual([3, 3, 4, 5].map((id) => ids.map(id, 0x7fff)), [8, 8, 9, 10]);
  ids.rebase();
  // Another rendition, whose encoder numbers from 120: on from 11; its own gaps are kept.
  assert.deepEqual([120, 121, 123].map((id) => ids.map(id, 0x7fff)), [11, 12, 14]);
});

test('15-bit numbers wrap at 32768 and 7-bit ones at 128, as the source\'s did', () => {
  const wide = new PictureIds();
  assert.deepEqual([32766, 32767, 0, 1].map((id) => wide.map(id, 0x7fff)), [32766, 32767, 0, 1]);
  wide.rebase();
  assert.equal(wide.map(500, 0x7fff), 2);
  const narrow = new PictureIds();
  assert.deepEqual([126, 127, 0].map((id) => narrow.map(id, 0x7f)), [126, 127, 0]);
  narrow.rebase();
  assert.equal(narrow.map(60, 0x7f), 1);
});

test('numbers that go back without a rebase (the encoder started again) are a new source too; forward jumps are kept', () => {
  const ids = new PictureIds();
  assert.deepEqual([900, 901].map((id) => ids.map(id, 0x7fff)), [900, 901]);
  assert.equal(ids.map(0, 0x7fff), 902, 'ffmpeg restarted: its numbers begin at 0 again');
  assert.equal(ids.map(1, 0x7fff), 903);
  assert.equal(ids.map(11, 0x7fff), 913, 'a gap in the source (frames it skipped) stays a gap');
});
