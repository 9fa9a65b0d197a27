// Example ftp-host plugin in JavaScript, built into a component by
// ComponentizeJS (SpiderMonkey/StarlingMonkey inside the component), written
// with the naas-ftp library (guest-libs/js).
//
// Usage (everything after `--` on the `ftp-host run` command line):
//
//   --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//   [--force-prot] [--timeout-ms N] COMMAND [ARGS...]
//
//   ls [DIR]             print the names in DIR
//   ls -l [DIR]          print DIR's entries, sorted by name: KIND SIZE MODIFIED NAME
//                        (naas:ftp 0.2.0; the format of guest-examples/README.md)
//   mkdir [-p] DIR       create DIR (with -p its parents too, and no error if it exists)
//   mv FROM TO           rename or move FROM to TO
//   rm PATH              delete the file PATH
//   rmdir DIR            remove the empty directory DIR
//   sha256 PATH...       download each file and print its SHA-256 and size
//   cat PATH             download a file and print it
//   put PATH TEXT        upload TEXT to PATH
//   download REMOTE LOCAL
//                        stream REMOTE into LOCAL (in a directory the operator
//                        granted with --dir), atomically
//   publish NAME TEXT... upload each TEXT as NAME-1.txt, NAME-2.txt, ... and an
//                        index NAME.json, then list what was published
//
// A failed call is reported as `KIND: message`, KIND being the WIT error case
// (`not-found`, `auth`, ...), so an operator or a test can tell them apart.

// The library; its path is relative to this file (the build runs from the
// repository root so ComponentizeJS can reach it).
import { openSession, FtpError, FtpInvalidInput } from '../../guest-libs/js/naas-ftp.js';
// Imports of the world become ES modules. This example's world adds
// wasi:cli/stdout to the plugin world (see build.sh) so `cat` can write raw
// bytes: console.log takes a string and stops at the first NUL.
import { getStdout } from 'wasi:cli/stdout@0.2.12';

const USAGE =
  'usage: --host HOST [--port P] [--user U] [--password W] ' +
  '[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] ' +
  'ls|sha256|cat|put|download|mkdir|mv|rm|rmdir|publish ...';

// Returning a string gives `ok`; throwing gives `err` (see the catch below).
// `run` may be async: the component waits for the promise.
export async function run(args) {
  const { options, command } = parseArgs(args);
  let ftp;
  try {
    ftp = await openSession(options);
    const summary = await runCommand(ftp, command);
    await ftp.quit();
    return summary;
  } catch (e) {
    // The library throws one FtpError subclass per WIT error case
    // (FtpNotFound, FtpAuth, ...); describe() is `KIND: message`.
    throw e instanceof FtpError ? e.describe() : e;
  } finally {
    ftp?.close(); // drops the session if quit did not run
  }
}

async function runCommand(ftp, [name, ...rest]) {
  switch (name) {
    case 'ls': {
      if (rest[0] === '-l') {
        const entries = await ftp.list(rest[1]);
        entries.sort((a, b) => byCodePoints(a.name, b.name)).forEach((e) => console.log(entryLine(e)));
        return `${entries.length} entries`;
      }
      const names = await ftp.listDirectory(rest[0]); // undefined: the current directory
      names.forEach((n) => console.log(n));
      return `${names.length} entries`;
    }
    case 'sha256':
      if (rest.length === 0) break;
      for (const path of rest) {
        const data = await ftp.readBytes(path); // a Uint8Array
        console.log(`${await sha256(data)}  ${data.length}  ${path}`);
      }
      return `${rest.length} files checked`;
    case 'cat': {
      if (rest.length === 0) break;
      const data = await ftp.readBytes(rest[0]);
      writeStdout(data); // the exact bytes, NULs and all
      return `${data.length} bytes`;
    }
    case 'put': {
      if (rest.length === 0) break;
      const [path, text = ''] = rest;
      const sent = await ftp.writeBytes(path, text);
      return `uploaded ${sent} bytes to ${path}`;
    }
    case 'download': {
      if (rest.length < 2) break;
      const [remote, local] = rest;
      // Streams: the bytes go from the network to the file inside the host.
      const { bytes } = await ftp.download(remote, local);
      return `downloaded ${remote} to ${local} (${bytes} bytes, ${bytes} this time)`;
    }
    case 'mkdir': {
      const parents = rest[0] === '-p';
      const path = parents ? rest[1] : rest[0];
      if (path === undefined) break;
      await ftp.mkdir(path, { parents });
      return `created directory ${path}`;
    }
    case 'mv':
      if (rest.length < 2) break;
      await ftp.rename(rest[0], rest[1]);
      return `renamed ${rest[0]} to ${rest[1]}`;
    case 'rm':
      if (rest.length < 1) break;
      await ftp.delete(rest[0]);
      return `deleted ${rest[0]}`;
    case 'rmdir':
      if (rest.length < 1) break;
      await ftp.rmdir(rest[0]);
      return `removed directory ${rest[0]}`;
    case 'publish':
      if (rest.length < 2) break;
      return publish(ftp, rest[0], rest.slice(1));
  }
  const shown = [name, ...rest].map((a) => JSON.stringify(a)).join(', ');
  throw new FtpInvalidInput(`unknown command [${shown}]: expected ls, sha256, cat, put, download, mkdir, mv, rm, rmdir or publish`);
}

// The `ls -l` line every example prints (guest-examples/README.md):
// `KIND SIZE MODIFIED NAME`, single spaces, `-` for what the server did not
// say, and ` -> TARGET` when the entry has a target. Times in UTC to the second.
function entryLine(e) {
  const size = e.size === undefined ? '-' : String(e.size);
  const modified = e.modified === undefined ? '-' : e.modified.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const line = `${e.kind} ${size} ${modified} ${e.name}`;
  return e.target == null ? line : `${line} -> ${e.target}`;
}

// Code point order (the UTF-8 byte order the other languages sort in):
// `<` on strings compares UTF-16 code units, which puts U+FFFD after an emoji.
function byCodePoints(a, b) {
  const x = [...a], y = [...b];
  for (let i = 0; i < x.length && i < y.length; i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// stdout as a wasi:io output stream: blocking-write-and-flush takes at most
// 4096 bytes a call.
function writeStdout(data) {
  const out = getStdout();
  try {
    for (let at = 0; at < data.length; at += 4096) out.blockingWriteAndFlush(data.subarray(at, at + 4096));
  } finally {
    out[Symbol.dispose]();
  }
}

// What JavaScript is good at: build a few documents and a JSON index, upload
// them, and show the result.
async function publish(ftp, name, texts) {
  const encoder = new TextEncoder();
  const files = [];
  for (const [i, text] of texts.entries()) {
    const path = `${name}-${i + 1}.txt`;
    const data = encoder.encode(text + '\n');
    files.push({ path, bytes: await ftp.writeBytes(path, data), sha256: await sha256(data) });
  }
  const index = JSON.stringify({ name, files }, null, 2) + '\n';
  await ftp.writeBytes(`${name}.json`, index);

  const ours = (n) => n === `${name}.json` || n.startsWith(`${name}-`);
  (await ftp.listDirectory()).filter(ours).sort().forEach((n) => console.log(n));
  return `published ${files.length} files and ${name}.json`;
}

// Web Crypto is built in: no hashing code to ship.
async function sha256(data) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function parseArgs(args) {
  const options = {
    host: '',
    port: undefined,
    user: 'anonymous',
    password: '',
    security: 'none',
    forceProt: false,
    timeout: undefined, // seconds
  };
  const rest = [...args];
  const value = (flag) => {
    if (rest.length === 0) throw `${flag} needs a value`;
    return rest.shift();
  };
  const number = (flag, max) => {
    const text = value(flag);
    if (!/^[0-9]+$/.test(text) || Number(text) > max) throw `bad ${flag} "${text}"`;
    return Number(text);
  };
  while (rest.length > 0) {
    const arg = rest.shift();
    switch (arg) {
      case '--host': options.host = value(arg); break;
      case '--port': options.port = number(arg, 0xffff); break;
      case '--user': options.user = value(arg); break;
      case '--password': options.password = value(arg); break;
      case '--security':
        options.security = value(arg);
        if (!['none', 'explicit', 'implicit'].includes(options.security))
          throw `bad --security "${options.security}": none, explicit or implicit`;
        break;
      case '--force-prot': options.forceProt = true; break;
      case '--timeout-ms': options.timeout = number(arg, 0xffffffff) / 1000; break;
      default:
        if (!options.host) throw USAGE;
        return { options, command: [arg, ...rest] };
    }
  }
  throw USAGE;
}
