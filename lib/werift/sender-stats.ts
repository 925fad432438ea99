/** A viewer's counters as werift's sender keeps them (its synchronous stats, without the transport's part). */
import type { RTCRtpSender } from 'werift';
import { flushSenderCounts } from './sender-access.ts';

export interface SenderCounts {
  packetsSent: number;
  bytesSent: number;
  nackCount: number;
  pliCount: number;
  /** Packets the viewer reported lost (RTCP receiver reports). */
  packetsLost: number;
  /**
   * Round-trip time from the viewer's last receiver report, in seconds; never negative. werift reads
   * its clock in whole milliseconds (`Date.now()`), so a sub-millisecond round trip (loopback) can come
   * out as much as 1 ms below zero: that is 0, as libwebrtc clamps it too (to 1 ms).
   */
  roundTripTime: number | undefined;
}

/**
 * The fields werift 0.25's sender keeps these counters in, which its `collectStats()` copies into its
 * outbound-rtp and remote-inbound-rtp entries (packetCount → packetsSent, octetCount → bytesSent,
 * remotePacketsLost → packetsLost, rtt → roundTripTime).
 */
interface CountFields {
  packetCount: number;
  octetCount: number;
  nackCount: number;
  pliCount: number;
  remotePacketsLost?: number;
  rtt?: number;
}

/** The sender's counter fields, or undefined when this werift does not keep them there. */
const countFields = (sender: RTCRtpSender): CountFields | undefined => {
  const fields = sender as unknown as Partial<CountFields>;
  return typeof fields.packetCount === 'number' && typeof fields.octetCount === 'number' &&
    typeof fields.nackCount === 'number' && typeof fields.pliCount === 'number'
    ? (fields as CountFields)
    : undefined;
};

/**
 * One sender's counters, read where werift keeps them: a stats reading of 1000 viewers built werift's whole
 * report for each (ids made of strings, codec and media-source entries) to take six numbers from it, 4 MB of
 * garbage a reading. A werift that keeps them elsewhere is read through `collectStats()` (the synchronous
 * half of getStats()), as before.
 */
export function senderCounts(sender: RTCRtpSender, now: number): SenderCounts {
  flushSenderCounts(sender); // what the direct path counted since werift's last read
  const fields = countFields(sender);
  if (fields) {
    return {
      packetsSent: fields.packetCount,
      bytesSent: fields.octetCount,
      nackCount: fields.nackCount,
      pliCount: fields.pliCount,
      packetsLost: fields.remotePacketsLost ?? 0,
      roundTripTime: typeof fields.rtt === 'number' ? Math.max(0, fields.rtt) : undefined,
    };
  }
  const counts: SenderCounts = { packetsSent: 0, bytesSent: 0, nackCount: 0, pliCount: 0, packetsLost: 0, roundTripTime: undefined };
  for (const entry of sender.collectStats(now) as unknown as Record<string, unknown>[]) {
    const number = (key: string) => (typeof entry[key] === 'number' ? (entry[key] as number) : 0);
    if (entry.type === 'outbound-rtp') {
      counts.packetsSent += number('packetsSent');
      counts.bytesSent += number('bytesSent');
      counts.nackCount += number('nackCount');
      counts.pliCount += number('pliCount');
    } else if (entry.type === 'remote-inbound-rtp') {
      counts.packetsLost += number('packetsLost');
      if (typeof entry.roundTripTime === 'number') counts.roundTripTime = Math.max(0, entry.roundTripTime);
    }
  }
  return counts;
}
