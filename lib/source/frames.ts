/** Raw frames: what a custom stream hands over and what VideoCapture yields. */

/** Pixel layouts a frame may come in (ffmpeg's names). */
export type PixelFormat = 'rgb24' | 'bgr24' | 'rgba' | 'bgra' | 'gray' | 'yuv420p';

export const PIXEL_FORMATS: readonly PixelFormat[] = ['rgb24', 'bgr24', 'rgba', 'bgra', 'gray', 'yuv420p'];

/** One picture: tightly packed rows, no padding. */
export interface VideoFrame {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  format: PixelFormat;
}

/**
 * Frames from your own code (vidgear's `custom_stream`): `read()` returns the next frame — now or as
 * a Promise — or `null`/`undefined` once the stream has ended; `stop()` releases it.
 */
export interface CustomStream {
  read(): VideoFrame | null | undefined | Promise<VideoFrame | null | undefined>;
  stop(): void | Promise<void>;
}

/** Bytes one frame of this size and format takes. */
export function frameByteLength(width: number, height: number, format: PixelFormat): number {
  switch (format) {
    case 'rgb24':
    case 'bgr24':
      return width * height * 3;
    case 'rgba':
    case 'bgra':
      return width * height * 4;
    case 'gray':
      return width * height;
    case 'yuv420p':
      return width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
  }
}

export function isCustomStream(value: unknown): value is CustomStream {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as CustomStream).read === 'function' &&
    typeof (value as CustomStream).stop === 'function'
  );
}

/** Why `frame` is not a usable frame, or undefined when it is. */
export function frameProblem(frame: unknown): string | undefined {
  if (frame === null || typeof frame !== 'object') return `read() returned ${typeof frame}, not a frame`;
  const { data, width, height, format } = frame as Partial<VideoFrame>;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    return 'frame.data must be a Uint8Array (a Buffer is one) or a Uint8ClampedArray (canvas ImageData.data)';
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width! < 2 || height! < 2) {
    return `frame.width and frame.height must be integers ≥ 2 (got ${width}x${height})`;
  }
  if (!PIXEL_FORMATS.includes(format as PixelFormat)) {
    return `frame.format must be one of ${PIXEL_FORMATS.join(', ')} (got ${JSON.stringify(format)})`;
  }
  const expected = frameByteLength(width!, height!, format!);
  if (data.byteLength !== expected) {
    return `frame.data holds ${data.byteLength} bytes; a ${width}x${height} ${format} frame takes ${expected}`;
  }
  return undefined;
}
