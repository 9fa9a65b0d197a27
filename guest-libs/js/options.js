// The classic `connect(user, passwd, {host, port, secure, forceProt, timeout})`
// call, turned into the host's connect-options. The same rule as the Python
// library (guest-libs/python/naas_ftp/options.py):
//
// - `host` is a name or address, optionally with a port (`ftp.example.com:2121`,
//   `[::1]:21`), or a URL: `ftp://HOST[:PORT]`, or `ftps://HOST[:PORT]`,
//   implicit FTPS.
// - secure false: plain FTP (port 21 unless given).
// - secure true: no port -> 990, implicit FTPS (the classic driver's default);
//   port 990 -> implicit; any other port -> explicit FTPS (AUTH TLS).
// - forceProt needs TLS; timeout is in seconds.
//
// Pure JavaScript, unit-tested under Node.

import { FtpInvalidInput } from './errors.js';

export const IMPLICIT_PORT = 990;
export const MAX_TIMEOUT_MS = 0xffffffff;

function parsePort(text, context) {
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > 0xffff) {
    throw new FtpInvalidInput(`bad port ${JSON.stringify(text)} in ${JSON.stringify(context)}: expected 1-65535`);
  }
  return Number(text);
}

/** `{ scheme, host, port }` from a host string. */
export function splitHost(host) {
  if (typeof host !== 'string' || !host.trim()) {
    throw new FtpInvalidInput('connect needs a host, e.g. { host: "ftp.example.com" }');
  }
  let text = host.trim();
  let scheme;
  const at = text.indexOf('://');
  if (at >= 0) {
    scheme = text.slice(0, at).toLowerCase();
    text = text.slice(at + 3);
    if (scheme !== 'ftp' && scheme !== 'ftps') {
      throw new FtpInvalidInput(`unsupported URL scheme in host ${JSON.stringify(host)}: use ftp:// or ftps://`);
    }
    if (text.includes('@')) {
      throw new FtpInvalidInput(`host ${JSON.stringify(host)} holds credentials: pass them as user and passwd`);
    }
    text = text.replace(/\/+$/, '');
    if (text.includes('/')) {
      throw new FtpInvalidInput(`host ${JSON.stringify(host)} holds a path: connect, then use paths in calls`);
    }
  }
  let name = text;
  let port;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new FtpInvalidInput(`host ${JSON.stringify(host)}: missing ']'`);
    name = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest) {
      if (!rest.startsWith(':')) throw new FtpInvalidInput(`host ${JSON.stringify(host)}: junk after ']'`);
      port = parsePort(rest.slice(1), host);
    }
  } else if (text.split(':').length === 2) {
    [name] = text.split(':');
    port = parsePort(text.split(':')[1], host);
  }
  if (!name) throw new FtpInvalidInput(`host ${JSON.stringify(host)} has no server name`);
  return { scheme, host: name, port };
}

/** Seconds -> whole milliseconds (at least 1), or undefined. */
export function timeoutMs(timeout) {
  if (timeout === undefined || timeout === null) return undefined;
  if (typeof timeout !== 'number' || !(timeout > 0)) {
    throw new FtpInvalidInput(`bad timeout ${JSON.stringify(timeout)}: expected a number of seconds above 0`);
  }
  return Math.min(Math.max(1, Math.round(timeout * 1000)), MAX_TIMEOUT_MS);
}

/** `{ host, port, security, forceProt, timeoutMs }` (connect-options without
 * the credentials) for the classic arguments. */
export function classic({ host, port, secure = false, forceProt = false, timeout } = {}) {
  if (host === undefined || host === null) {
    throw new FtpInvalidInput(
      'connect needs a host, e.g. connect(user, passwd, { host: "ftp.example.com" }); ' +
        'to use a server the operator configured, call connectProfile(name)',
    );
  }
  const split = splitHost(host);
  if (port !== undefined && port !== null) {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
      throw new FtpInvalidInput(`bad port ${JSON.stringify(port)}: expected 1-65535`);
    }
    if (split.port !== undefined && split.port !== port) {
      throw new FtpInvalidInput(`two ports: ${split.port} in host ${JSON.stringify(host)} and port ${port}`);
    }
  } else {
    port = split.port;
  }
  let security = 'none';
  if (split.scheme === 'ftps') {
    security = 'implicit';
    port ??= IMPLICIT_PORT;
  } else if (secure) {
    port ??= IMPLICIT_PORT;
    security = port === IMPLICIT_PORT ? 'implicit' : 'explicit';
  }
  if (forceProt && security === 'none') {
    throw new FtpInvalidInput('forceProt needs FTPS: add secure: true (plain FTP has no TLS to protect with)');
  }
  return { host: split.host, port, security, forceProt: Boolean(forceProt), timeoutMs: timeoutMs(timeout) };
}
