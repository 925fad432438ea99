/**
 * Time-stamped frames for latency measurement: the wall-clock time (ms, modulo 2^32) drawn as 32 black
 * or white blocks across the top of each frame, read back from the picture the browser presents.
 */
import type { CustomStream, VideoFrame } from 'webgear-rtc';

export const STAMP_BITS = 32;
export const STAMP_BLOCK = 16;

/** A customStream of `width`x`height` rgb24 frames: a moving gradient below a band carrying Date.now(). */
export function stampedFrames(width: number, height: number): CustomStream {
  const data = Buffer.alloc(width * height * 3);
  let tick = 0;
  return {
    read(): VideoFrame {
      tick++;
      for (let y = STAMP_BLOCK * 2; y < height; y++) {
        const shade = (y + tick * 4) & 0xff;
        data.fill(shade, y * width * 3, (y + 1) * width * 3);
      }
      const stamp = Date.now() % 2 ** 32;
      for (let bit = 0; bit < STAMP_BITS; bit++) {
        const value = (Math.floor(stamp / 2 ** (STAMP_BITS - 1 - bit)) & 1) * 255;
        for (let y = 0; y < STAMP_BLOCK; y++) {
          const start = (y * width + bit * STAMP_BLOCK) * 3;
          data.fill(value, start, start + STAMP_BLOCK * 3);
        }
      }
      return { data, width, height, format: 'rgb24' };
    },
    stop() {},
  };
}
