/** Where webgear-rtc writes what it has to say. Any object with these methods fits (console, pino, …). */
export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

const noop = (): void => {};

/**
 * Wraps the user's logger (default: console). Like vidgear, `logging: false` keeps it quiet, but
 * warnings and errors are always written: a dying ffmpeg must never go unnoticed.
 */
export function createLogger(logging: boolean, sink: Logger = console): Logger {
  const tag = 'webgear-rtc:';
  return {
    debug: logging ? (message, ...details) => sink.debug(`${tag} ${message}`, ...details) : noop,
    info: logging ? (message, ...details) => sink.info(`${tag} ${message}`, ...details) : noop,
    warn: (message, ...details) => sink.warn(`${tag} ${message}`, ...details),
    error: (message, ...details) => sink.error(`${tag} ${message}`, ...details),
  };
}
