/**
 * Where ffmpeg's RTP comes in: one UDP socket on 127.0.0.1, every sender (each ffmpeg run's video and audio
 * outputs, the slate) under its own SSRC, told apart here. Packets of an SSRC nobody routed (a previous run's
 * last packets, anything not ours) are dropped, as is ffmpeg's RTCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../logger.ts';
import { isRtcp, isRtp, ssrcOf } from '../rtp/rtp-packet.ts';

/**
 * A keyframe arrives as a burst of packets: room for a few of them even when the event loop is late. Also
 * what a WebRTC source's ICE sockets get (lib/werift/receive-buffer.ts).
 */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export type RtpHandler = (packet: Buffer) => void;

export class RtpSocket {
  readonly #socket: Socket;
  readonly #routes = new Map<number, RtpHandler>();
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (packet) => {
      if (!isRtp(packet) || isRtcp(packet)) return;
      this.#routes.get(ssrcOf(packet))?.(packet);
    });
  }

  /** Binds a socket on 127.0.0.1 (loopback only: nobody on the network can inject into the stream). */
  static async open(logger: Logger): Promise<RtpSocket> {
    const socket = createSocket('udp4');
    socket.on('error', (error) => logger.error(`RTP socket error: ${error.message}`));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '127.0.0.1', port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
    } catch {
      // the kernel caps it (net.core.rmem_max); the default still works
    }
    return new RtpSocket(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** Sends the packets of `ssrc` to `handler` from now on (0 routes nothing). */
  route(ssrc: number, handler: RtpHandler): void {
    if (ssrc !== 0) this.#routes.set(ssrc, handler);
  }

  unroute(ssrc: number): void {
    this.#routes.delete(ssrc);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#routes.clear();
    this.#socket.close();
  }
}
