/**
 * Hostile peers that take part in a handshake: a viewer that holds its DTLS handshake back (so the
 * server's session stays "handshaking" while the tests throw things at it), and viewers that forge
 * their handshake (a garbage CertificateVerify or Finished, with their own, offered certificate).
 */
import { randomBytes } from 'node:crypto';
import { waitFor, type WeriftViewer } from '../helpers.ts';
import { connectLoopbackViewer, onDtlsClient, type DtlsClient } from './harness.ts';

export interface HeldViewer {
  viewer: WeriftViewer;
  /** Lets its DTLS client send its ClientHello, at last. */
  release(): void;
}

/** A viewer whose ICE is up but whose DTLS client waits for `release()`: the server's DTLS session is still handshaking. */
export async function connectHeldViewer(url: string): Promise<HeldViewer> {
  const viewer = await connectLoopbackViewer(url);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let client: DtlsClient | undefined;
  onDtlsClient(viewer, (created) => {
    client = created;
    const connect = created.connect.bind(created);
    created.connect = async () => {
      await released;
      return connect();
    };
  });
  if (!(await waitFor(() => client !== undefined, 10_000, 20))) {
    await viewer.close();
    throw new Error('the held viewer\'s ICE did not come up');
  }
  return { viewer, release };
}

/**
 * A viewer that completes its side of the handshake with its own certificate (the one its offer's
 * fingerprint names) but signs its CertificateVerify with garbage, or sends a garbage Finished.
 * `close()` also ends its DTLS retransmissions, which werift would otherwise keep up for ~30 s.
 */
export async function connectForgingViewer(url: string, forge: 'certificate-verify' | 'finished'): Promise<WeriftViewer> {
  const viewer = await connectLoopbackViewer(url);
  let forger: DtlsClient | undefined;
  onDtlsClient(viewer, (client) => {
    forger = client;
    if (forge === 'certificate-verify') client.cipher.signatureData = () => randomBytes(72);
    else client.cipher.verifyData = () => randomBytes(12);
  });
  const close = viewer.close;
  viewer.close = async () => {
    if (forger) forger.dtls.flight = Number.MAX_SAFE_INTEGER;
    await close();
  };
  return viewer;
}
