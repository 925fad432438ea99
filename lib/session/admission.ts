/**
 * Who may start connecting now. Viewers that are still connecting (an offer answered, ICE and DTLS not done)
 * have their own cap and a short deadline (`connectTimeout`), apart from `maxViewers`: a flood of offers
 * that never connect cannot take the places of viewers who watch. And one address may have only a few
 * sessions connecting at once, so that one client cannot fill even that cap alone.
 */
import { SignalingError } from '../errors.ts';

export interface AdmissionLimits {
  /** Sessions connecting at once, all addresses together. */
  maxConnecting: number;
  /** Sessions connecting at once from one address. */
  maxConnectingPerAddress: number;
}

/** A place among the connecting sessions, given back once the session is connected or gone. */
export interface AdmissionTicket {
  release(): void;
}

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #byAddress = new Map<string, number>();
  #connecting = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Sessions connecting now. */
  get connecting(): number {
    return this.#connecting;
  }

  /**
   * A place for a session from `address` (undefined: not known, counted only in the total). Throws a
   * SignalingError: 503 when too many sessions connect at once, 429 when too many from this address.
   */
  enter(address: string | undefined): AdmissionTicket {
    if (this.#connecting >= this.#limits.maxConnecting) {
      throw new SignalingError(503, `${this.#connecting} viewers are connecting at once; try again in a moment`, {
        'Retry-After': '2',
      });
    }
    const fromAddress = address === undefined ? 0 : (this.#byAddress.get(address) ?? 0);
    if (address !== undefined && fromAddress >= this.#limits.maxConnectingPerAddress) {
      throw new SignalingError(429, `too many sessions connecting from ${address} at once (${fromAddress})`, {
        'Retry-After': '5',
      });
    }
    this.#connecting++;
    if (address !== undefined) this.#byAddress.set(address, fromAddress + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#connecting--;
        if (address === undefined) return;
        const left = (this.#byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.#byAddress.set(address, left);
        else this.#byAddress.delete(address);
      },
    };
  }
}
