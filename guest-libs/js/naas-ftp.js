// naas-ftp: the classic FTP driver API for ftp-host plugins written in
// JavaScript (ComponentizeJS).
//
//   import { connect } from './naas-ftp.js';
//   const ftp = await connect(user, passwd, { host: 'ftp.example.com' });
//   await ftp.get('/path/to/file/in/ftp');            // saved in the granted directory
//   await ftp.send('/path/to/local/file', '/path/to/file/in/ftp');
//   await ftp.listDirectory();                        // names
//
// Every call is async, so plugin code is written as it will be once WIT
// calls are asynchronous; today they complete before the promise is returned.
// Bulk data never passes through JavaScript: `get` and `send` hand the host a
// file in a granted directory (`download.saveTo`, `upload.sendFrom`) and the
// host moves the whole file in one call. Failures throw an FtpError
// subclass per WIT error case (FtpNotFound, FtpDenied, ...). Types: naas-ftp.d.ts.

import * as client from 'naas:ftp/client@0.2.0';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

import { FtpError, FtpInvalidInput, FtpIo, FtpLocalError, FtpUnsupported, fromWit } from './errors.js';
import { classic, timeoutMs } from './options.js';
import { basename, display, resolve } from './local.js';

export * from './errors.js';
export { classic } from './options.js';

/** The naas:ftp WIT version this library speaks. */
export const WIT_VERSION = '0.2.0';
/** Suffix of the temporary file `get` writes before renaming it into place. */
export const PART_SUFFIX = '.naas-ftp-part';

/** Run a WIT call; a failed `result` becomes the typed error. */
function call(fn) {
  try {
    return fn();
  } catch (e) {
    if (e?.payload?.tag !== undefined) throw fromWit(e.payload);
    throw e;
  }
}

function drop(resource) {
  resource?.[Symbol.dispose]?.();
}

/** A wasi:filesystem failure (the payload is the error-code name). */
function localError(e, what) {
  const code = typeof e?.payload === 'string' ? e.payload : String(e?.payload ?? e);
  return new FtpLocalError(`${what}: ${code}`, code);
}

/** Have the host move the whole file (`saveTo` or `sendFrom` of a transfer,
 * from offset 0): undefined when it did, else the typed error, which the
 * transfer's `finish` reports too. */
function moved(move, file) {
  try {
    move(file, 0n);
    return undefined;
  } catch (e) {
    if (e?.payload?.tag !== undefined) return fromWit(e.payload);
    throw e;
  }
}

function streamFailure(e) {
  const inner = e?.payload?.val;
  return inner?.toDebugString ? inner.toDebugString() : String(e?.payload?.tag ?? e);
}

let preopens;
/** `[descriptor, guest path]` of every directory the operator granted. */
function grants() {
  preopens ??= getDirectories();
  return preopens;
}

/** The guest paths of the granted directories, in order. */
export function grantedDirs() {
  return grants().map(([, name]) => name);
}

/**
 * Connect and log in, as the classic driver did.
 * `options`: `{ host, port, secure, forceProt, timeout }` (timeout in seconds),
 * or just the host as a string. See options.js for the rule that picks plain
 * FTP, explicit or implicit FTPS.
 */
export async function connect(user, passwd, options = {}) {
  const o = classic(typeof options === 'string' ? { host: options } : options);
  return new Ftp(call(() => client.connect({ ...o, user, password: passwd })));
}

/** Connect with the WIT's connect-options spelled out (`security`: `none`,
 * `explicit` or `implicit`), for when the classic rule does not fit. */
export async function openSession({ host, port, user = 'anonymous', password = '', security = 'none', forceProt = false, timeout } = {}) {
  if (!['none', 'explicit', 'implicit'].includes(security)) {
    throw new FtpInvalidInput(`bad security ${JSON.stringify(security)}: none, explicit or implicit`);
  }
  const options = { host, port, user, password, security, forceProt, timeoutMs: timeoutMs(timeout) };
  return new Ftp(call(() => client.connect(options)));
}

/** Connect to a server profile the operator configured by name. */
export async function connectProfile(name) {
  return new Ftp(call(() => client.connectProfile(name)));
}

/** A logged-in session. `await using ftp = await connect(...)` (or
 * `try/finally { await ftp.quit() }`) closes it. */
export class Ftp {
  #session;
  #localDir;

  constructor(session) {
    this.#session = session;
  }

  // -- the classic three -----------------------------------------------------

  /** Download the remote `path` into the local directory under its base name
   * (or to `destPath`). Streams, atomically (a temporary name renamed into
   * place). Resolves to the local path written. */
  async get(path, destPath = undefined) {
    return (await this.download(path, destPath)).path;
  }

  /** Upload the local file `path` to the remote `destPath` (default: its base
   * name), replacing it. Streams. Resolves to the bytes the server took. */
  async send(path, destPath = undefined) {
    const dest = destPath ?? basename(path);
    if (!dest) throw new FtpInvalidInput(`no file name in ${JSON.stringify(path)}: give destPath`);
    const [directory, grant, inside] = this.#locate(path);
    let file;
    try {
      file = directory.openAt({ symlinkFollow: true }, inside, {}, { read: true });
    } catch (e) {
      throw localError(e, `cannot open ${display(grant, inside)}`);
    }
    try {
      let upload = call(() => this.#session.openSend(dest, { tag: 'replace' }));
      try {
        const failure = moved((f, at) => upload.sendFrom(f, at), file);
        // Not finished: dropping the upload (finally) aborts it, so a
        // replacement never puts part of the file in place.
        if (failure !== undefined) throw failure;
        const done = upload;
        upload = undefined;
        const sent = call(() => client.Upload.finish(done));
        return Number(sent);
      } finally {
        drop(upload);
      }
    } finally {
      drop(file);
    }
  }

  /** The names in a remote directory (NLST); the current one by default. */
  async listDirectory(path = undefined) {
    return call(() => this.#session.listDirectory(path));
  }

  // -- more ------------------------------------------------------------------

  /** Like `get`, resolving to `{ path, bytes }`. */
  async download(path, destPath = undefined) {
    const name = destPath ?? basename(path);
    if (!name) throw new FtpInvalidInput(`no file name in ${JSON.stringify(path)}: give destPath`);
    const [directory, grant, inside] = this.#locate(name);
    const slash = inside.lastIndexOf('/');
    const base = inside.slice(slash + 1);
    if (base === '' || base === '.') throw new FtpInvalidInput(`local path ${JSON.stringify(name)} is a directory: give a file name`);
    const tmp = `${inside.slice(0, slash + 1)}.${base}${PART_SUFFIX}`;
    let download = call(() => this.#session.openGet(path, 0n));
    try {
      let file;
      try {
        file = directory.openAt({}, tmp, { create: true, truncate: true }, { write: true });
      } catch (e) {
        throw localError(e, `cannot create ${display(grant, tmp)}`);
      }
      let failure;
      try {
        failure = moved((f, at) => download.saveTo(f, at), file);
      } finally {
        drop(file);
      }
      // Only the server's final reply says the whole file arrived (a failed
      // move is its verdict too, as the same typed error).
      const done = download;
      download = undefined;
      const bytes = Number(call(() => client.Download.finish(done)));
      if (failure !== undefined) throw failure;
      try {
        directory.renameAt(tmp, directory, inside);
      } catch (e) {
        throw localError(e, `cannot rename into ${display(grant, inside)}`);
      }
      return { path: display(grant, inside), bytes };
    } catch (e) {
      drop(download);
      try {
        directory.unlinkFileAt(tmp);
      } catch {
        // not created, or already gone
      }
      throw e;
    }
  }

  /** The remote file's bytes as an async iterable of Uint8Array chunks, from
   * `offset`; the server's verdict is thrown at the end (typed). Breaking out
   * of the loop abandons the transfer. */
  async *read(path, { offset = 0, chunkSize = 65536 } = {}) {
    let download = call(() => this.#session.openGet(path, BigInt(offset)));
    let body;
    try {
      body = call(() => download.body());
      for (;;) {
        let chunk;
        try {
          chunk = body.blockingRead(BigInt(chunkSize));
        } catch (e) {
          if (e?.payload?.tag === 'closed') break;
          throw new FtpIo(`download of ${path} failed: ${streamFailure(e)}`);
        }
        yield chunk;
      }
      drop(body);
      body = undefined;
      const done = download;
      download = undefined;
      call(() => client.Download.finish(done));
    } finally {
      drop(body);
      drop(download);
    }
  }

  /** Upload from an iterable or async iterable of Uint8Array/string chunks,
   * replacing the remote file (or appending with `{ append: true }`). */
  async write(path, chunks, { append = false } = {}) {
    const mode = append ? { tag: 'append' } : { tag: 'replace' };
    let upload = call(() => this.#session.openSend(path, mode));
    let body;
    try {
      body = call(() => upload.body());
      const encoder = new TextEncoder();
      for await (const chunk of chunks) {
        let rest = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
        while (rest.length > 0) {
          let permit = Number(body.checkWrite());
          if (permit === 0) {
            body.blockingFlush(); // waits until the host took everything
            continue;
          }
          const n = Math.min(permit, rest.length);
          body.write(rest.subarray(0, n));
          rest = rest.subarray(n);
        }
      }
      body.blockingFlush();
      drop(body);
      body = undefined;
      const done = upload;
      upload = undefined;
      return Number(call(() => client.Upload.finish(done)));
    } catch (e) {
      if (e?.payload?.tag === 'closed' || e?.payload?.tag === 'last-operation-failed') {
        throw new FtpIo(`upload to ${path} failed: ${streamFailure(e)}`);
      }
      throw e;
    } finally {
      drop(body);
      drop(upload);
    }
  }

  /** The whole remote file in memory (capped by the operator's in-memory
   * limit: FtpTooLarge above it; use `get` or `read`). */
  async readBytes(path) {
    return call(() => this.#session.get(path));
  }

  /** Replace the remote file with `data` (Uint8Array or string), in memory. */
  async writeBytes(path, data) {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    return Number(call(() => this.#session.send(path, bytes)));
  }

  async size(path) {
    return Number(call(() => this.#session.size(path)));
  }

  async pwd() {
    return call(() => this.#session.pwd());
  }

  async cwd(path) {
    call(() => this.#session.cwd(path));
  }

  // naas:ftp 0.2.0: structured listings and file management. Built against
  // an older WIT they throw FtpUnsupported.

  /** Entries `{ name, kind, size, modified: Date, permissions, target }`. */
  async list(path = undefined) {
    return this.#v2('list', path).map(entry);
  }

  async stat(path) {
    return entry(this.#v2('stat', path));
  }

  async mkdir(path, { parents = false } = {}) {
    this.#v2('mkdir', path, parents);
  }

  async rmdir(path) {
    this.#v2('rmdir', path);
  }

  async delete(path) {
    this.#v2('delete', path);
  }

  async rename(from, to) {
    this.#v2('rename', from, to);
  }

  /** The last modification time, a Date (MDTM). */
  async modified(path) {
    return toDate(this.#v2('modified', path));
  }

  /** Set the modification time (MFMT) from a Date or milliseconds. */
  async setModified(path, when) {
    const ms = when instanceof Date ? when.getTime() : Number(when);
    if (!Number.isFinite(ms)) throw new FtpInvalidInput(`bad time ${JSON.stringify(when)}`);
    const seconds = Math.floor(ms / 1000);
    this.#v2('setModified', path, { seconds: BigInt(seconds), nanoseconds: Math.round((ms - seconds * 1000) * 1e6) });
  }

  async features() {
    return this.#v2('features');
  }

  #v2(name, ...args) {
    const session = this.#session;
    if (typeof session?.[name] !== 'function') {
      throw new FtpUnsupported(`${name} needs naas:ftp 0.2.0; this plugin was built against an older WIT`);
    }
    return call(() => session[name](...args));
  }

  // -- local directory and closing -------------------------------------------

  /** Where `get` saves and relative `send` paths start: the first granted
   * directory unless set. */
  get localDir() {
    if (this.#localDir !== undefined) return this.#localDir;
    const dirs = grantedDirs();
    if (dirs.length === 0) throw new FtpLocalError('no local directory: the operator granted none', 'no-entry');
    return dirs[0];
  }

  set localDir(path) {
    resolve(path, grantedDirs(), undefined); // must be inside a grant
    this.#localDir = path;
  }

  /** Log out (QUIT) and close the connection. */
  async quit() {
    try {
      call(() => this.#session.quit());
    } finally {
      this.close();
    }
  }

  /** Close the connection without waiting for the server's goodbye. */
  close() {
    const session = this.#session;
    this.#session = undefined;
    drop(session);
  }

  [Symbol.dispose]() {
    this.close();
  }

  async [Symbol.asyncDispose]() {
    if (this.#session !== undefined) await this.quit();
  }

  #locate(path) {
    const all = grants();
    const [index, inside] = resolve(path, all.map(([, name]) => name), this.#localDir);
    const [descriptor, name] = all[index];
    return [descriptor, name, inside];
  }
}

function toDate(t) {
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanoseconds / 1e6));
}

function entry(e) {
  return {
    name: e.name,
    kind: e.kind,
    size: e.size === undefined ? undefined : Number(e.size),
    modified: e.modified === undefined ? undefined : toDate(e.modified),
    permissions: e.permissions,
    target: e.target,
  };
}
