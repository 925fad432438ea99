/**
 * Our transport-wide congestion control feedback on a receiving transceiver instead of werift's
 * (lib/rtp/twcc-writer.ts says what is wrong with werift 0.25's): werift's ReceiverTWCC is replaced by an
 * inert one before media arrives, and our feedback goes out through the transceiver's DTLS transport as
 * raw RTCP.
 */
import type { RTCRtpTransceiver } from 'werift';

/** The parts of werift 0.25's receiver and transport this file touches. */
interface ReceiverInternals {
  receiverTWCC?: { twccRunning: boolean; handleTWCC(sequence: number): void };
}
interface DtlsTransportInternals {
  sendRtcp(packets: Array<{ serialize(): Buffer }>): Promise<void>;
}

/** werift creates its own ReceiverTWCC only when the receiver has none: it keeps this one. */
const inert = (): NonNullable<ReceiverInternals['receiverTWCC']> => ({ twccRunning: false, handleTWCC: () => {} });

/**
 * Stops werift's transport-cc feedback on `transceiver` for good (call it after the local description is
 * set: negotiation creates werift's). Returns a function sending one raw RTCP packet on the transceiver's
 * transport, or a reason when werift's layout has no place for this (then werift's feedback stays).
 */
export function takeOverTransportFeedback(transceiver: RTCRtpTransceiver): ((rtcp: Buffer) => void) | string {
  const receiver = transceiver.receiver as unknown as ReceiverInternals;
  const transport = () => transceiver.receiver.dtlsTransport as unknown as DtlsTransportInternals | undefined;
  if (!('receiverTWCC' in receiver)) return "werift's layout changed: receiver.receiverTWCC not found";
  if (typeof transport()?.sendRtcp !== 'function') return "werift's layout changed: dtlsTransport.sendRtcp() not found";
  if (receiver.receiverTWCC) receiver.receiverTWCC.twccRunning = false; // ends its 100 ms loop
  receiver.receiverTWCC = inert();
  return (rtcp: Buffer) => {
    // Before DTLS is up there is no SRTCP context: werift rejects, and there is nothing to report yet.
    transport()?.sendRtcp([{ serialize: () => rtcp }]).catch(() => {});
  };
}
