/**
 * One viewer's VP8 PictureIDs (RFC 7741 §4.2), numbered on across whatever it is fed in turn, as its
 * sequence numbers and timestamps are (outgoing-stream.ts). Each rendition's encoder numbers its own
 * pictures, and a GOP replay sends pictures again: a viewer switched from one rendition to another, or sent
 * a replay after a picture loss, would see PictureIDs jump back to ones it has decoded. Chromium drops such
 * a picture as already decoded, and every picture after it that refers to it: the picture froze for up to
 * a GOP (seen: 0.8–3 s after a join's replay answered a PLI). Here the first picture of a new source takes
 * the number after the last one sent; within a source the encoder's own steps (and its gaps) are kept.
 */
export class PictureIds {
  #offset = 0;
  #last = -1;
  #lastSource = -1;
  #rebase = false;

  /** Its state, to hand over to a viewer's lane in C and take back (native-lane.ts). */
  get state(): { offset: number; last: number; lastSource: number; rebase: boolean } {
    return { offset: this.#offset, last: this.#last, lastSource: this.#lastSource, rebase: this.#rebase };
  }

  set state(state: { offset: number; last: number; lastSource: number; rebase: boolean }) {
    this.#offset = state.offset;
    this.#last = state.last;
    this.#lastSource = state.lastSource;
    this.#rebase = state.rebase;
  }

  /** The next picture starts a new source (a switch, a replay): it is numbered after the last one sent. */
  rebase(): void {
    if (this.#last >= 0) this.#rebase = true;
  }

  /**
   * The viewer's PictureID for picture `sourceId` of the current source, in the same width: `mask` 0x7fff
   * (15 bits) or 0x7f (7 bits). The first source keeps its own numbers; numbers that go back start a new
   * source as `rebase()` does.
   */
  map(sourceId: number, mask: number): number {
    // The source's numbers went back (its encoder started again: ffmpeg restarted, a new publisher): a new source.
    if (this.#lastSource >= 0 && ((sourceId - this.#lastSource) & mask) > mask >> 1) this.#rebase = true;
    this.#lastSource = sourceId;
    if (this.#rebase) {
      this.#offset = (this.#last + 1 - sourceId) & mask;
      this.#rebase = false;
    }
    const id = (sourceId + this.#offset) & mask;
    this.#last = id;
    return id;
  }
}
