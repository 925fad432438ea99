/**
 * RTCP packets built field by field for the tests, and a transport-cc feedback encoder that writes
 * what Chromium's receiver writes (libwebrtc's TransportFeedback): the reference time is the first
 * received packet's arrival floored to 64 ms, deltas are on a 250 µs grid that does not drift, runs of
 * one symbol become run-length chunks, mixed stretches 1-bit vectors (14 symbols) or, when a large or
 * negative delta is among them, 2-bit vectors (7 symbols).
 */

/** One RTCP packet: header (V=2, padding if asked, count/FMT, PT, length) around `body`. */
export function rtcpPacket(type: number, countOrFormat: number, body: Buffer, padding = 0): Buffer {
  const padded = padding > 0 ? Buffer.concat([body, Buffer.alloc(padding - 1), Buffer.from([padding])]) : body;
  if ((padded.length % 4) !== 0) throw new Error('rtcpPacket: body must be a multiple of 4 octets');
  const header = Buffer.alloc(4);
  header[0] = 0x80 | (padding > 0 ? 0x20 : 0) | countOrFormat;
  header[1] = type;
  header.writeUInt16BE(padded.length / 4, 2);
  return Buffer.concat([header, padded]);
}

export interface BlockFields {
  ssrc: number;
  fractionLost?: number; // 0–255
  cumulativeLost?: number;
  highestSequence?: number;
  jitter?: number;
  lsr?: number;
  dlsr?: number;
}

function reportBlock(block: BlockFields): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32BE(block.ssrc >>> 0, 0);
  b[4] = block.fractionLost ?? 0;
  b.writeIntBE(block.cumulativeLost ?? 0, 5, 3);
  b.writeUInt32BE((block.highestSequence ?? 0) >>> 0, 8);
  b.writeUInt32BE((block.jitter ?? 0) >>> 0, 12);
  b.writeUInt32BE((block.lsr ?? 0) >>> 0, 16);
  b.writeUInt32BE((block.dlsr ?? 0) >>> 0, 20);
  return b;
}

export function receiverReport(reporterSsrc: number, blocks: BlockFields[]): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(reporterSsrc >>> 0);
  return rtcpPacket(201, blocks.length, Buffer.concat([head, ...blocks.map(reportBlock)]));
}

export function senderReport(senderSsrc: number, blocks: BlockFields[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32BE(senderSsrc >>> 0);
  head.writeUInt32BE(0xe000_0000, 4); // NTP seconds
  head.writeUInt32BE(0x8000_0000, 8); // NTP fraction
  head.writeUInt32BE(12345, 12);
  head.writeUInt32BE(10, 16);
  head.writeUInt32BE(1000, 20);
  return rtcpPacket(200, blocks.length, Buffer.concat([head, ...blocks.map(reportBlock)]));
}

const ssrcs = (sender: number, media: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(sender >>> 0, 0);
  b.writeUInt32BE(media >>> 0, 4);
  return b;
};

/** Generic NACK with (PID, BLP) pairs. */
export function nack(sender: number, media: number, pairs: Array<[number, number]>): Buffer {
  const fci = Buffer.alloc(4 * pairs.length);
  pairs.forEach(([pid, blp], i) => {
    fci.writeUInt16BE(pid, 4 * i);
    fci.writeUInt16BE(blp, 4 * i + 2);
  });
  return rtcpPacket(205, 1, Buffer.concat([ssrcs(sender, media), fci]));
}

export const pli = (sender: number, media: number): Buffer => rtcpPacket(206, 1, ssrcs(sender, media));

export function fir(sender: number, targets: number[]): Buffer {
  const fci = Buffer.alloc(8 * targets.length);
  targets.forEach((ssrc, i) => {
    fci.writeUInt32BE(ssrc >>> 0, 8 * i);
    fci[8 * i + 4] = i;
  });
  return rtcpPacket(206, 4, Buffer.concat([ssrcs(sender, 0), fci]));
}

export function remb(sender: number, bitrate: number, targets: number[]): Buffer {
  let exponent = 0;
  while (bitrate / 2 ** exponent > 0x3ffff) exponent++;
  const mantissa = Math.floor(bitrate / 2 ** exponent);
  const fci = Buffer.alloc(8 + 4 * targets.length);
  fci.write('REMB', 0, 'ascii');
  fci[4] = targets.length;
  fci[5] = (exponent << 2) | (mantissa >> 16);
  fci.writeUInt16BE(mantissa & 0xffff, 6);
  targets.forEach((ssrc, i) => fci.writeUInt32BE(ssrc >>> 0, 8 + 4 * i));
  return rtcpPacket(206, 15, Buffer.concat([ssrcs(sender, 0), fci]));
}

export function sdes(ssrc: number, cname: string): Buffer {
  const item = Buffer.concat([Buffer.from([1, cname.length]), Buffer.from(cname, 'ascii')]);
  const chunk = Buffer.concat([Buffer.alloc(4), item, Buffer.alloc(4 - ((4 + item.length) % 4))]);
  chunk.writeUInt32BE(ssrc >>> 0, 0);
  return rtcpPacket(202, 1, chunk);
}

/** A transport-cc RTPFB packet around a raw FCI (zero-padded to 32 bits). */
export function transportFeedback(sender: number, media: number, fci: Buffer): Buffer {
  const padded = Buffer.concat([fci, Buffer.alloc((4 - (fci.length % 4)) % 4)]);
  return rtcpPacket(205, 15, Buffer.concat([ssrcs(sender, media), padded]));
}

/** A raw FCI from explicit fields: chunks and delta bytes as given (for hand-built cases). */
export function twccFci(base: number, count: number, referenceTime: number, feedbackCount: number, chunks: number[], deltas: number[]): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(base & 0xffff, 0);
  head.writeUInt16BE(count, 2);
  head.writeUIntBE(referenceTime & 0xffffff, 4, 3);
  head[7] = feedbackCount & 0xff;
  const chunkBytes = Buffer.alloc(2 * chunks.length);
  chunks.forEach((c, i) => chunkBytes.writeUInt16BE(c, 2 * i));
  return Buffer.concat([head, chunkBytes, Buffer.from(deltas)]);
}

/** One packet a receiver reports: its transport sequence number and its arrival time in µs (undefined: lost). */
export interface ReportedPacket {
  sequence: number;
  arrivalUs: number | undefined;
}

/**
 * Encodes what a receiver reports for consecutive transport sequence numbers (the first entry is the
 * base; every later sequence number must follow by one, modulo 2^16) as Chromium does. Returns
 * undefined if a delta does not fit in 16 bits (Chromium then starts a new feedback packet).
 */
export function encodeTwcc(packets: ReportedPacket[], feedbackCount: number): Buffer | undefined {
  const first = packets.find((p) => p.arrivalUs !== undefined);
  if (!first || first.arrivalUs === undefined) return undefined;
  const reference = Math.floor(first.arrivalUs / 64_000);
  let clock = reference * 64_000;
  const symbols: number[] = [];
  const deltaBytes: number[] = [];
  for (const p of packets) {
    if (p.arrivalUs === undefined) {
      symbols.push(0);
      continue;
    }
    const ticks = Math.round((p.arrivalUs - clock) / 250);
    clock += ticks * 250; // the grid, not the true time: no drift over many deltas
    if (ticks >= 0 && ticks <= 255) {
      symbols.push(1);
      deltaBytes.push(ticks);
    } else if (ticks >= -32768 && ticks <= 32767) {
      symbols.push(2);
      deltaBytes.push((ticks >> 8) & 0xff, ticks & 0xff);
    } else {
      return undefined;
    }
  }
  const chunks: number[] = [];
  for (let i = 0; i < symbols.length; ) {
    let run = 1;
    while (i + run < symbols.length && symbols[i + run] === symbols[i] && run < 0x1fff) run++;
    const window14 = symbols.slice(i, i + 14);
    if (run >= 14 || (run === symbols.length - i && run >= 7) || (run >= 7 && window14.some((s) => s === 2))) {
      chunks.push((symbols[i]! << 13) | run);
      i += run;
    } else if (!window14.includes(2)) {
      let chunk = 0x8000;
      window14.forEach((s, k) => (chunk |= s << (13 - k)));
      chunks.push(chunk);
      i += window14.length;
    } else {
      const window7 = symbols.slice(i, i + 7);
      let chunk = 0xc000;
      window7.forEach((s, k) => (chunk |= s << (12 - 2 * k)));
      chunks.push(chunk);
      i += window7.length;
    }
  }
  return twccFci(packets[0]!.sequence, packets.length, reference, feedbackCount, chunks, deltaBytes);
}
