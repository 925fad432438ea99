/**
 * The real-link tests' and benchmark's 720p30 source file: testsrc2 under temporal noise, hard enough to
 * compress that every rung of the default ladder sends its full bitrate (libvpx at the rungs' settings made
 * 2.57 Mbit/s at 1280x720, 823 kbit/s at 640x360, 267 kbit/s at 320x180 from it).
 *
 * It is stored cheap to decode (CRF 28, x264's fastdecode: 4.3 Mbit/s). The clip before it (CRF 20) was
 * 45 Mbit/s of noise whose decoding alone took half a core: with the ladder, ffmpeg took 1.3 of this
 * machine's 2 cores, Chromium 0.5, and the server, starved (half the time something waited for a core), went
 * 100–800 ms without running: frame gaps that were the machine's, not the link's or the sender's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/** The clip, `seconds` long, made once in `dir` (kept there: its name says how it was made). */
export function noisyClip(dir: string, seconds: number): string {
  const path = join(dir, `webgear-rtc-720p30-noise-crf28-${seconds}s.mp4`);
  if (!existsSync(path)) {
    const partial = `${path}.partial.mp4`;
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
      '-vf', 'noise=alls=12:allf=t', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'fastdecode', '-crf', '28',
      '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p', partial,
    ]);
    renameSync(partial, path);
  }
  return path;
}
