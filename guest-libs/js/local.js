// Where a local path is: which granted directory (WASI preopen) holds it, and
// the path inside it. The same rule as the Python library: relative paths start
// in the local directory (the first grant, or the one chosen); absolute ones
// must be inside a grant (the longest matching one); `..` never climbs out.
// Pure JavaScript, unit-tested under Node.

import { FtpLocalError } from './errors.js';

/** `{ absolute, parts }` with `.` dropped and `..` applied. */
export function parts(path) {
  const out = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new FtpLocalError(`local path ${JSON.stringify(path)} climbs above its directory`, 'not-permitted');
      out.pop();
    } else {
      out.push(part);
    }
  }
  return { absolute: path.startsWith('/'), parts: out };
}

function join(a, b) {
  return a.endsWith('/') ? a + b : `${a}/${b}`;
}

/** `[index into preopens, path inside it]` ('.' for the grant itself). */
export function resolve(path, preopens, localDir) {
  if (preopens.length === 0) {
    throw new FtpLocalError('no local directory: the operator granted none (ftp-host run --dir HOST_DIR::/local)', 'no-entry');
  }
  if (typeof path !== 'string' || path === '') throw new FtpLocalError(`bad local path ${JSON.stringify(path)}`, 'invalid');
  if (path.includes('\0')) throw new FtpLocalError(`local path ${JSON.stringify(path)} contains NUL`, 'invalid');
  const start = localDir ?? preopens[0];
  const wanted = parts(path.startsWith('/') ? path : join(start, path));
  let best;
  preopens.forEach((name, index) => {
    const root = parts(name);
    const matches = root.absolute === wanted.absolute && root.parts.every((p, i) => wanted.parts[i] === p);
    if (matches && (best === undefined || root.parts.length > best.length)) best = { length: root.parts.length, index };
  });
  if (best === undefined) {
    throw new FtpLocalError(
      `local path ${JSON.stringify(path)} is outside the granted directories (${preopens.join(', ')})`,
      'not-permitted',
    );
  }
  return [best.index, wanted.parts.slice(best.length).join('/') || '.'];
}

/** The guest path of `inside` in the grant named `preopen`. */
export function display(preopen, inside) {
  return inside === '.' ? preopen : join(preopen, inside);
}

/** The base name of a remote path (`a/b/c.txt` -> `c.txt`). */
export function basename(path) {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
