/**
 * werift is patched at install (patches/: no default STUN, source checks, the DTLS record layer, STUN
 * authentication, handshake verification, bounded reassembly, no HelloVerifyRequest under ICE, ECDHE in
 * node:crypto, KeyObjects for node:crypto, Event's methods on its prototype, no promise per Event call, a
 * bounded memory of STUN transaction ids, consent rounds that allocate less, STUN messages serialized
 * into one Buffer, answers without header extensions the offer did not have). Each patch leaves a marker;
 * an unpatched werift is a hole (one datagram could silence a viewer), slow or large, so the server refuses
 * to start without them.
 */
import { Connection, DtlsServer, DtlsSocket, Event, Message, RTCPeerConnection } from 'werift';

interface Markers {
  patchNoDefaultStun?: boolean;
  patchSourceCheck?: boolean;
  patchStunAuth?: boolean;
  patchRecordLayer?: boolean;
  patchVerifyHandshake?: boolean;
  patchBoundedReassembly?: boolean;
  patchNoHelloVerify?: boolean;
  patchNativeEcdhe?: boolean;
  patchSecretKeys?: boolean;
  patchLazyMethods?: boolean;
  patchSyncExecute?: boolean;
  patchBoundedRequestIds?: boolean;
  patchSteadyConsent?: boolean;
  patchStunSerialize?: boolean;
  patchAnswerExtensions?: boolean;
}

const connection = Connection as unknown as Markers;
const dtls = DtlsSocket as unknown as Markers;
const dtlsServer = DtlsServer as unknown as Markers;
const event = Event as unknown as Markers;
const message = Message as unknown as Markers;
const peerConnection = RTCPeerConnection as unknown as Markers;

/** The patches (patches/*.patch) whose marker is missing from the werift that loaded; empty when all are there. */
export function missingWeriftPatches(): string[] {
  const patches: Array<[string, boolean | undefined]> = [
    ['001 no-default-stun', connection.patchNoDefaultStun],
    ['002 source-check', connection.patchSourceCheck],
    ['003 dtls-record-layer', dtls.patchRecordLayer],
    ['004 stun-auth', connection.patchStunAuth],
    ['005 verify-handshake', dtls.patchVerifyHandshake],
    ['006 bounded-reassembly', dtls.patchBoundedReassembly],
    ['007 no-hello-verify', dtlsServer.patchNoHelloVerify],
    ['008 native-ecdhe', dtls.patchNativeEcdhe],
    ['009 secret-keys', dtls.patchSecretKeys],
    ['010 lazy-event-methods', event.patchLazyMethods],
    ['011 sync-execute', event.patchSyncExecute],
    ['012 bounded-request-ids', connection.patchBoundedRequestIds],
    ['013 steady-consent', connection.patchSteadyConsent],
    ['014 stun-serialize', message.patchStunSerialize],
    ['015 answer-extensions', peerConnection.patchAnswerExtensions],
  ];
  return patches.filter(([, applied]) => applied !== true).map(([name]) => name);
}

/** Throws, naming what is missing and how to fix it, unless every patch is in the werift that loaded. */
export function assertWeriftPatched(): void {
  const missing = missingWeriftPatches();
  if (missing.length === 0) return;
  throw new Error(
    `webgear-rtc: werift is not patched (${missing.join(', ')}); it would let one datagram silence a viewer. ` +
      'Run "node node_modules/webgear-rtc/patches/apply.mjs" (install scripts were skipped?), or see patches/README.md',
  );
}
