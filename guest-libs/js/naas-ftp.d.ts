// Types of naas-ftp (naas-ftp.js): the classic FTP driver API for ftp-host
// plugins written in JavaScript.

/** The naas:ftp WIT version this library speaks. */
export const WIT_VERSION: string;
/** Suffix of the temporary file `get` writes before renaming it into place. */
export const PART_SUFFIX: string;

/** The classic connect arguments. */
export interface ConnectOptions {
  /** `ftp.example.com`, `ftp.example.com:2121`, `[::1]:21`, `ftp://HOST[:PORT]`
   * or `ftps://HOST[:PORT]` (implicit FTPS). */
  host: string;
  /** Default: 21; 990 when `secure`. */
  port?: number;
  /** FTPS: implicit on port 990 (the default port when secure), explicit (AUTH TLS) on any other. */
  secure?: boolean;
  /** Require encrypted data connections (PBSZ 0 + PROT P); needs `secure`. */
  forceProt?: boolean;
  /** Deadline of each network operation, in seconds. */
  timeout?: number;
}

/** The WIT's connect-options, spelled out. */
export interface SessionOptions {
  host: string;
  port?: number;
  user?: string;
  password?: string;
  security?: 'none' | 'explicit' | 'implicit';
  forceProt?: boolean;
  /** Seconds. */
  timeout?: number;
}

/** One entry of `Ftp.list()` or what `Ftp.stat()` found (naas:ftp 0.2.0). */
export interface Entry {
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'other';
  size?: number;
  /** UTC; approximate when it came from a LIST line. */
  modified?: Date;
  permissions?: string;
  target?: string;
}

/** The classic connect: plain FTP, or FTPS as `secure`/the host URL say. */
export function connect(user: string, passwd: string, options: ConnectOptions | string): Promise<Ftp>;
/** Connect with explicit connect-options. */
export function openSession(options: SessionOptions): Promise<Ftp>;
/** Connect to a server profile the operator configured by name. */
export function connectProfile(name: string): Promise<Ftp>;
/** The guest paths of the directories the operator granted. */
export function grantedDirs(): string[];
/** The connection the classic arguments describe (pure; for tests and tools). */
export function classic(options: ConnectOptions): {
  host: string;
  port?: number;
  security: 'none' | 'explicit' | 'implicit';
  forceProt: boolean;
  timeoutMs?: number;
};

/** A logged-in session. */
export class Ftp implements Disposable, AsyncDisposable {
  /** Download `path` into the local directory under its base name (or to
   * `destPath`), streamed and atomic; resolves to the local path. */
  get(path: string, destPath?: string): Promise<string>;
  /** Upload the local file `path` to `destPath` (default: its base name); resolves to the bytes sent. */
  send(path: string, destPath?: string): Promise<number>;
  /** The names in a remote directory (NLST). */
  listDirectory(path?: string): Promise<string[]>;

  /** Like `get`, with the byte count. */
  download(path: string, destPath?: string): Promise<{ path: string; bytes: number }>;
  /** The remote file as chunks; the server's verdict is thrown at the end. */
  read(path: string, options?: { offset?: number; chunkSize?: number }): AsyncGenerator<Uint8Array, void, void>;
  /** Upload chunks (replacing, or appending with `{ append: true }`); resolves to the bytes sent. */
  write(
    path: string,
    chunks: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>,
    options?: { append?: boolean },
  ): Promise<number>;
  /** The whole file in memory (capped by the operator: FtpTooLarge). */
  readBytes(path: string): Promise<Uint8Array>;
  writeBytes(path: string, data: Uint8Array | string): Promise<number>;
  size(path: string): Promise<number>;
  pwd(): Promise<string>;
  cwd(path: string): Promise<void>;

  // naas:ftp 0.2.0 (FtpUnsupported when built against an older WIT)
  list(path?: string): Promise<Entry[]>;
  stat(path: string): Promise<Entry>;
  mkdir(path: string, options?: { parents?: boolean }): Promise<void>;
  rmdir(path: string): Promise<void>;
  delete(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  modified(path: string): Promise<Date>;
  setModified(path: string, when: Date | number): Promise<void>;
  features(): Promise<string[]>;

  /** Where `get` saves and relative `send` paths start (default: the first grant). */
  localDir: string;
  /** Log out (QUIT) and close. */
  quit(): Promise<void>;
  /** Close without QUIT. */
  close(): void;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Base of every error; `kind` is the WIT error case. */
export class FtpError extends Error {
  static kind: string;
  kind: string;
  /** `KIND: message`. */
  describe(): string;
}
export class FtpDenied extends FtpError {}
export class FtpConnect extends FtpError {}
export class FtpTls extends FtpError {}
export class FtpAuth extends FtpError {}
export class FtpNotFound extends FtpError {}
export class FtpPermission extends FtpError {}
export class FtpTimeout extends FtpError {}
export class FtpInvalidInput extends FtpError {}
export class FtpTooLarge extends FtpError {}
export class FtpIo extends FtpError {}
export class FtpUnsupported extends FtpError {}
export class FtpProtocol extends FtpError {
  constructor(message: string, code?: number);
  /** The server's three-digit reply code; 0 when unparsable. */
  code: number;
}
export class FtpLocalError extends FtpError {
  constructor(message: string, code?: string);
  /** The wasi:filesystem error code, e.g. `no-entry`. */
  code?: string;
}
/** WIT case -> error class. */
export const BY_KIND: Record<string, typeof FtpError>;
/** The typed error for a WIT error payload `{ tag, val }`. */
export function fromWit(payload: { tag: string; val: unknown }): FtpError;
