/**
 * A larger kernel receive buffer on werift's ICE sockets of a connection that receives media (a WHIP
 * publisher, a WHEP origin). werift's sockets keep the kernel's default (208 KB here): a publisher's 2.5
 * Mbit/s of simulcast fills that in about a third of a second, in kernel bytes, so a stall of this process
 * that long (a burst of joins, a GC, a machine short of CPU) dropped the publisher's packets at the
 * socket, and the publisher read the loss as congestion.
 */
import type { RTCPeerConnection } from 'werift';
import { RECEIVE_BUFFER_BYTES } from '../ingest/rtp-socket.ts';

/** The parts of werift 0.25's ICE layer this file reaches. */
interface IceInternals {
  iceTransports?: Array<{ connection?: { protocols?: Array<{ transport?: { socket?: { setRecvBufferSize?(bytes: number): void } } }> } }>;
}

/**
 * Asks for `bytes` of receive buffer (default: the ffmpeg ingest socket's 4 MB) on every UDP socket `pc`'s
 * ICE gathered (call it once gathering is done: after setLocalDescription). Returns how many sockets took
 * it; the kernel caps it at net.core.rmem_max.
 */
export function enlargeReceiveBuffers(pc: RTCPeerConnection, bytes = RECEIVE_BUFFER_BYTES): number {
  let enlarged = 0;
  for (const transport of (pc as unknown as IceInternals).iceTransports ?? []) {
    for (const protocol of transport.connection?.protocols ?? []) {
      const socket = protocol.transport?.socket;
      if (typeof socket?.setRecvBufferSize !== 'function') continue; // TCP, or a layout werift changed
      try {
        socket.setRecvBufferSize(bytes);
        enlarged++;
      } catch {
        // not bound (closed already): nothing to receive on it
      }
    }
  }
  return enlarged;
}
