import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DOWN_MARGIN, HOLD_AFTER_DOWN_MS, RenditionChoice, START_SHARE, UP_CONFIRM_MS, UP_MARGIN,
} from '../../../../lib/sender/rendition-choice.ts';

const K = 1000;
/** A ladder whose rates (what each rung sends on average) and peaks (its busiest recent second) the test may change. */
function ladder(rates = [2500 * K, 800 * K, 250 * K], peaks = rates) {
  const current = { rates, peaks };
  return { current, choice: new RenditionChoice(() => current.rates, () => current.peaks) };
}

/** The estimate held from `from` for `forMs` (one feedback every 50 ms): the rung chosen at the end. */
function hold(choice: RenditionChoice, current: number, estimate: number, from: number, forMs: number): number {
  let rung = current;
  for (let t = from; t <= from + forMs; t += 50) rung = choice.choose(current, estimate, t);
  return rung;
}

describe('RenditionChoice', () => {
  test(`initial: the best rung taking at most ${START_SHARE * 100} % of the start estimate (a guess), the lowest when none does`, () => {
    const { choice } = ladder();
    assert.equal(choice.initial(10_000 * K), 0);
    assert.equal(choice.initial(5000 * K), 0, 'exactly twice its rate');
    assert.equal(choice.initial(4999 * K), 1);
    assert.equal(choice.initial(1600 * K), 1);
    assert.equal(choice.initial(1599 * K), 2);
    assert.equal(choice.initial(1000 * K), 2, 'the server\'s start estimate (1 Mbit/s) starts a far viewer on the bottom rung');
    assert.equal(choice.initial(100 * K), 2, 'never off the ladder');
  });

  test(`down once the estimate falls under ${DOWN_MARGIN} × the current rung's rate, straight to the rung it carries`, () => {
    const { choice } = ladder();
    assert.equal(choice.choose(0, 2500 * K * DOWN_MARGIN, 0), 0, 'at the margin: stays');
    assert.equal(choice.choose(0, 2500 * K * DOWN_MARGIN - 1, 0), 1);
    assert.equal(choice.choose(0, 1200 * K, 0), 1, 'under the top, above the middle: one down');
    assert.equal(choice.choose(0, 700 * K, 0), 2, 'not carrying the middle either: two down');
    assert.equal(choice.choose(1, 601 * K, 0), 1);
    assert.equal(choice.choose(1, 599 * K, 0), 2);
    assert.equal(choice.choose(2, 10 * K, 0), 2, 'the lowest stays the lowest');
  });

  test('down follows what a rung really sends, not its target', () => {
    const { current, choice } = ladder();
    current.rates = [1200 * K, 800 * K, 250 * K]; // a simple picture: the top sends far under its 2.5 M
    assert.equal(choice.choose(0, 1000 * K, 0), 0);
    assert.equal(choice.initial(2400 * K), 0);
  });

  test(`up one rung once the estimate has carried the next one's peak with ${Math.round((UP_MARGIN - 1) * 100)} % to spare for ${UP_CONFIRM_MS} ms`, () => {
    const { choice } = ladder();
    const enough = 800 * K * UP_MARGIN;
    assert.equal(hold(choice, 2, enough - 1, 0, 2000), 2, 'never with less');
    assert.equal(choice.choose(2, enough, 3000), 2, 'one feedback is not a trend');
    assert.equal(choice.choose(2, enough, 3000 + UP_CONFIRM_MS - 1), 2);
    assert.equal(choice.choose(2, enough, 3000 + UP_CONFIRM_MS), 1);
    assert.equal(hold(new RenditionChoice(() => [2500 * K, 800 * K, 250 * K]), 2, 20_000 * K, 0, UP_CONFIRM_MS), 1, 'one rung at a time');
    assert.equal(choice.choose(0, 20_000 * K, 5000), 0, 'the top stays the top');
  });

  test('a probe that just showed the bar is the confirmation: up at once, and the decision holds until the keyframe', () => {
    const { choice } = ladder();
    const enough = 800 * K * UP_MARGIN;
    const view = (probed?: number) => ({ bitrate: enough, queueDelayMs: 0, measured: true, probed });
    assert.equal(choice.choose(2, view(enough - 1), 3000), 2, 'a probe under the bar confirms nothing');
    assert.equal(choice.choose(2, view(enough), 3050), 1, 'at once');
    assert.equal(choice.choose(2, view(), 3100), 1, 'the next feedback (no probe judged) keeps it');
    assert.equal(choice.choose(2, { ...view(), bitrate: enough - 1 }, 3150), 2, 'not once the estimate falls under the bar');
    assert.equal(choice.choose(2, view(), 3200), 2, 'confirmed afresh from there');
  });

  test('a dip under the margin restarts the confirmation', () => {
    const { choice } = ladder();
    const enough = 800 * K * UP_MARGIN;
    choice.choose(2, enough, 0);
    choice.choose(2, enough, 400);
    assert.equal(choice.choose(2, enough - 1, 450), 2);
    assert.equal(choice.choose(2, enough, 500), 2, 'confirmed afresh from 500 ms');
    assert.equal(choice.choose(2, enough, 999), 2);
    assert.equal(choice.choose(2, enough, 1000), 1);
  });

  test('up needs room for the next rung\'s peak (keyframes), not its average', () => {
    const { choice } = ladder([2500 * K, 800 * K, 250 * K], [3500 * K, 1100 * K, 300 * K]);
    assert.equal(hold(choice, 2, 800 * K * UP_MARGIN, 0, 1000), 2);
    assert.equal(hold(choice, 2, 1100 * K * UP_MARGIN, 2000, 1000), 1);
  });

  test('switched(): after a switch the next step up is confirmed afresh', () => {
    const { choice } = ladder();
    const enough = 2500 * K * UP_MARGIN;
    choice.choose(1, enough, 0);
    choice.choose(1, enough, 400);
    choice.switched();
    assert.equal(choice.choose(1, enough, 500), 1);
    assert.equal(choice.choose(1, enough, 999), 1);
    assert.equal(choice.choose(1, enough, 1000), 0);
  });

  test(`no step up for ${HOLD_AFTER_DOWN_MS} ms after a step down`, () => {
    const { choice } = ladder();
    assert.equal(choice.choose(0, 1000 * K, 5000), 1, 'down at 5 s');
    assert.equal(hold(choice, 1, 5000 * K, 5000, HOLD_AFTER_DOWN_MS - 1), 1, 'held');
    assert.equal(hold(choice, 1, 5000 * K, 5000 + HOLD_AFTER_DOWN_MS, UP_CONFIRM_MS), 0, 'free again (and confirmed)');
    // A hold does not stop a further step down.
    assert.equal(choice.choose(0, 1000 * K, 10_000), 1);
    assert.equal(choice.choose(1, 300 * K, 10_001), 2);
    assert.equal(hold(choice, 2, 5000 * K, 10_001, HOLD_AFTER_DOWN_MS - 2), 2, 'the hold runs from the latest step down');
  });

  test('a step down decided elsewhere (the pacer\'s queue) holds the step up too, and restarts its confirmation', () => {
    const { choice } = ladder();
    choice.choose(1, 5000 * K, 0);
    choice.steppedDown(100);
    assert.equal(hold(choice, 1, 5000 * K, 200, HOLD_AFTER_DOWN_MS - 200), 1);
    assert.equal(choice.choose(1, 5000 * K, 100 + HOLD_AFTER_DOWN_MS), 1, 'confirmation starts after the hold');
    assert.equal(choice.choose(1, 5000 * K, 100 + HOLD_AFTER_DOWN_MS + UP_CONFIRM_MS), 0);
  });

  test('inside the band (0.75 × the current rung to 1.25 × the next one\'s peak): no switch either way', () => {
    const { choice } = ladder();
    for (const estimate of [600 * K, 800 * K, 1000 * K, 2000 * K, 3124 * K]) assert.equal(hold(choice, 1, estimate, 0, 2000), 1, String(estimate));
  });

  test('probeTarget: 1.2 × what the rung above needs to go up (its peak with the margin), none at the top', () => {
    const { current, choice } = ladder([2500 * K, 800 * K, 250 * K], [3000 * K, 1000 * K, 300 * K]);
    assert.equal(choice.probeTarget(0), undefined);
    assert.equal(choice.probeTarget(1), 3000 * K * UP_MARGIN * 1.2);
    assert.equal(choice.probeTarget(2), 1000 * K * UP_MARGIN * 1.2);
    current.peaks = [2000 * K, 400 * K, 100 * K];
    assert.equal(choice.probeTarget(2), 400 * K * UP_MARGIN * 1.2, 'from the peaks now');
  });

  test('probeTarget: none once the estimate clears the bar (the step up only waits for its confirmation)', () => {
    const { choice } = ladder([2500 * K, 800 * K, 250 * K], [3000 * K, 1000 * K, 300 * K]);
    assert.equal(choice.upBar(2), 1000 * K * UP_MARGIN);
    assert.equal(choice.probeTarget(2, 1000 * K * UP_MARGIN - 1), 1000 * K * UP_MARGIN * 1.2);
    assert.equal(choice.probeTarget(2, 1000 * K * UP_MARGIN), undefined);
  });
});
