// The errors of naas-ftp: one class per case of the WIT `error` variant.
// Pure JavaScript (no WIT imports), so it is unit-tested under Node.

/** Base class. `kind` is the WIT error case (`not-found`, `auth`, ...). */
export class FtpError extends Error {
  static kind = 'error';
  constructor(message) {
    super(message);
    this.name = new.target.name;
    this.kind = new.target.kind;
  }
  /** `KIND: message`, the form the example plugins report. */
  describe() {
    return `${this.kind}: ${this.message}`;
  }
}

const kinded = (kind, name) => {
  const cls = { [name]: class extends FtpError { static kind = kind; } }[name];
  return cls;
};

/** The operator's policy does not allow this server, port, path or operation. */
export const FtpDenied = kinded('denied', 'FtpDenied');
/** The server could not be reached, or the session was lost. */
export const FtpConnect = kinded('connect', 'FtpConnect');
/** TLS failed: refused `AUTH TLS`, untrusted certificate, handshake. */
export const FtpTls = kinded('tls', 'FtpTls');
/** The server rejected the user name or password. */
export const FtpAuth = kinded('auth', 'FtpAuth');
/** The remote file or directory does not exist. */
export const FtpNotFound = kinded('not-found', 'FtpNotFound');
/** The server refused the operation on this path for this user. */
export const FtpPermission = kinded('permission', 'FtpPermission');
/** The operation did not finish within its deadline. */
export const FtpTimeout = kinded('timeout', 'FtpTimeout');
/** An argument is invalid (empty host, CR/LF/NUL in a path, closed session, ...). */
export const FtpInvalidInput = kinded('invalid-input', 'FtpInvalidInput');
/** A size limit set by the operator was reached. */
export const FtpTooLarge = kinded('too-large', 'FtpTooLarge');
/** Any other I/O failure while moving data. */
export const FtpIo = kinded('io', 'FtpIo');
/** The server (or the WIT version this plugin was built with) lacks the command. */
export const FtpUnsupported = kinded('unsupported', 'FtpUnsupported');

/** An unexpected server reply; `code` is its three-digit reply code (0: unparsable). */
export class FtpProtocol extends FtpError {
  static kind = 'protocol';
  constructor(message, code = 0) {
    super(message);
    this.code = code;
  }
  describe() {
    return `protocol: ${this.code} ${this.message}`;
  }
}

/** A local problem: no granted directory, a local file missing or not
 * writable. `code` is the wasi:filesystem error code (`no-entry`, ...). */
export class FtpLocalError extends FtpError {
  static kind = 'local';
  constructor(message, code = undefined) {
    super(message);
    this.code = code;
  }
}

/** WIT case -> class. */
export const BY_KIND = Object.fromEntries(
  [FtpDenied, FtpConnect, FtpTls, FtpAuth, FtpNotFound, FtpPermission, FtpTimeout, FtpProtocol,
    FtpInvalidInput, FtpTooLarge, FtpIo, FtpUnsupported].map((cls) => [cls.kind, cls]),
);

/** The exception for a WIT `error` value as ComponentizeJS throws it: the
 * thrown object's `payload` is `{ tag, val }`. */
export function fromWit(payload) {
  const { tag, val } = payload;
  if (tag === 'protocol') return new FtpProtocol(String(val?.message ?? val), Number(val?.code ?? 0));
  const cls = BY_KIND[tag];
  if (!cls) {
    // A case added to the WIT after this library: still an FtpError.
    const e = new FtpError(String(val));
    e.kind = tag;
    return e;
  }
  return new cls(String(val));
}
