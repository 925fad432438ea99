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

/** Adds one sender's counters from werift's `collectStats()` (the synchronous half of getStats()). */
export function senderCounts(sender: RTCRtpSender, now: number): SenderCounts {
  flushSenderCounts(sender); // what the direct path counted since werift's last read
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
