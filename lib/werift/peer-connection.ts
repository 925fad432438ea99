/**
 * A viewer's werift peer connection, set up the way this server needs it: one codec (what ffmpeg produces),
 * one socket per viewer, the DTLS server role, and the browser's early ClientHello kept.
 */
import { RTCPeerConnection, useTransportWideCC, type RTCRtpTransceiver } from 'werift';
import type { IceServer, VideoCodec } from '../types.ts';
import { opusCodecParameters, rtpCodecParameters } from './codecs.ts';
import { keepEarlyDtlsPackets } from './early-dtls.ts';

/** How each viewer's peer connection is set up. */
export interface PeerSettings {
  codec: VideoCodec;
  iceServers: IceServer[];
  iceAdditionalHostAddresses: string[];
  icePortRange: [number, number] | undefined;
}

export function createPeerConnection(settings: PeerSettings, { audio }: { audio: boolean }): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: { audio: audio ? [opusCodecParameters()] : [], video: [rtpCodecParameters(settings.codec)] },
    // Transport-wide congestion control on the video: the browser's feedback gives each viewer its estimate.
    headerExtensions: { video: [useTransportWideCC()], audio: [] },
    iceServers: settings.iceServers,
    iceAdditionalHostAddresses: settings.iceAdditionalHostAddresses,
    ...(settings.icePortRange ? { icePortRange: settings.icePortRange } : {}),
    iceUseIpv6: false, // one socket per viewer instead of two
  });
}

/**
 * Before the answer is made: answer as the DTLS server (a=setup:passive, allowed by RFC 8842), so the
 * browser sends its ClientHello the moment ICE connects (as the client, werift waits a fixed 100 ms before
 * its own), and keep that ClientHello if it comes before werift listens (it would wait for a resend).
 */
export function prepareDtls(pc: RTCPeerConnection, video: RTCRtpTransceiver): void {
  if (video.dtlsTransport.role === 'auto') video.dtlsTransport.role = 'server';
  keepEarlyDtlsPackets(pc);
}
