/**
 * Keyframe requests sent upstream (PLI to a WebRTC publisher or origin), at most one per layer per
 * interval: every viewer that loses its picture asks, and a keyframe costs the publisher several times a
 * normal frame. Within the interval the keyframe asked for is on its way anyway.
 */

/** At most one request per layer this often (a keyframe comes back within one round trip and a frame). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 500;

export class KeyframeRequests<Layer> {
  readonly #intervalMs: number;
  readonly #lastAt = new Map<Layer, number>();
  /** Requests let through, and refused as too soon. */
  sent = 0;
  suppressed = 0;

  constructor(intervalMs = KEYFRAME_REQUEST_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /** Whether a request for `layer` may go out at `nowMs`; if so it counts as sent then. */
  allow(layer: Layer, nowMs: number): boolean {
    const last = this.#lastAt.get(layer);
    if (last !== undefined && nowMs - last < this.#intervalMs) {
      this.suppressed++;
      return false;
    }
    this.#lastAt.set(layer, nowMs);
    this.sent++;
    return true;
  }

  /** Whether a request for `layer` would be let through at `nowMs` (nothing counted). */
  due(layer: Layer, nowMs: number): boolean {
    const last = this.#lastAt.get(layer);
    return last === undefined || nowMs - last >= this.#intervalMs;
  }

  /** Forgets a layer that is gone (a publisher that left). */
  forget(layer: Layer): void {
    this.#lastAt.delete(layer);
  }
}
