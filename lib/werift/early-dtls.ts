import type { RTCPeerConnection } from 'werift';

/** The parts of werift 0.25's transports this file touches. */
interface DtlsTransportLike {
  state: string;
  onStateChange: { subscribe(handler: (state: string) => void): unknown };
  iceTransport: {
    connection: {
      onData: { subscribe(handler: (data: Buffer) => void): { unSubscribe(): void }; execute(data: Buffer): void };
    };
  };
}

/** A browser retransmits its ClientHello a few times; more than this early is not a handshake. */
const MAX_EARLY_PACKETS = 8;
const isDtls = (data: Buffer): boolean => data.length > 0 && data[0]! > 19 && data[0]! < 64;

/**
 * Keeps the DTLS packets a browser sends before werift listens for them, and hands them to werift's DTLS
 * server once it does. The browser (ICE controlling) is connected as soon as its own check succeeds and
 * sends its ClientHello at once; werift (controlled) starts DTLS only when it too sees ICE connected, a
 * few ms later, and drops what came before. The browser then resends only after its retransmission
 * timer (Chromium: 50 ms, then 100 ms…): that wait was most of "ICE connected → DTLS connected"
 * (docs/benchmarks.md). Returns how many transports it watches: 0 if werift's layout changed, which only
 * loses the speed-up.
 */
export function keepEarlyDtlsPackets(pc: RTCPeerConnection): number {
  let watched = 0;
  for (const transport of pc.dtlsTransports as unknown as DtlsTransportLike[]) {
    const onData = transport.iceTransport?.connection?.onData;
    if (typeof onData?.subscribe !== 'function' || typeof transport.onStateChange?.subscribe !== 'function') continue;
    const early: Buffer[] = [];
    const subscription = onData.subscribe((data) => {
      if (transport.state === 'new' && isDtls(data) && early.length < MAX_EARLY_PACKETS) early.push(data);
    });
    transport.onStateChange.subscribe((state) => {
      if (state === 'new') return;
      subscription.unSubscribe();
      // werift creates its DTLS server right after it announces "connecting", in the same tick.
      if (state === 'connecting') queueMicrotask(() => early.splice(0).forEach((data) => onData.execute(data)));
    });
    watched++;
  }
  return watched;
}
