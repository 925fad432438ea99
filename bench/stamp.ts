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

/**
 * A live MJPEG-over-HTTP camera of stamped frames (640x480, 30 fps): each client gets a
 * multipart/x-mixed-replace stream from its own ffmpeg, fed a freshly stamped frame every 1/30 s, so
 * the stamp is the time the camera "captured" the frame.
 */
export async function startStampedMjpegCamera(): Promise<{ url: string; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:http');
  const stops = new Set<() => void>();
  const server = createServer((request, response) => {
    const encoder = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-video_size', '640x480',
      // One encoder thread: with frame threads, ffmpeg's MJPEG encoder holds each frame until the next one
      // comes (33 ms here), a delay no camera has.
      '-framerate', '30', '-i', 'pipe:0', '-threads', '1', '-q:v', '5', '-flush_packets', '1', '-f', 'mpjpeg', 'pipe:1',
    ], { stdio: ['pipe', 'pipe', 'ignore'] });
    const frames = stampedFrames(640, 480);
    const timer = setInterval(() => {
      // A camera drops frames it cannot hand on: never queue behind a busy encoder.
      if (encoder.stdin!.writableLength === 0) encoder.stdin!.write((frames.read() as VideoFrame).data);
    }, 1000 / 30);
    const stop = () => {
      clearInterval(timer);
      encoder.kill('SIGKILL');
    };
    stops.add(stop);
    encoder.stdin!.on('error', () => {});
    response.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace;boundary=ffmpeg' });
    encoder.stdout!.pipe(response);
    request.once('close', () => {
      stop();
      stops.delete(stop);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/stream.mjpg`,
    async stop() {
      for (const stop of stops) stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
