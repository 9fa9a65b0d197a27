// Example ftp-host plugin in JavaScript, built into a component by
// ComponentizeJS (SpiderMonkey/StarlingMonkey inside the component).
//
// Usage (everything after `--` on the `ftp-host run` command line):
//
//   --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//   [--force-prot] [--timeout-ms N] COMMAND [ARGS...]
//
//   ls [DIR]             print the names in DIR
//   sha256 PATH...       download each file and print its SHA-256 and size
//   cat PATH             download a file and print it
//   put PATH TEXT        upload TEXT to PATH
//   publish NAME TEXT... upload each TEXT as NAME-1.txt, NAME-2.txt, ... and an
//                        index NAME.json, then list what was published
//
// A failed call is reported as `KIND: message`, KIND being the WIT error case
// (`not-found`, `auth`, ...), so an operator or a test can tell them apart.

// Imports of the world become ES modules; WIT names turn camelCase.
import { connect } from 'naas:ftp/client@0.2.0';

const USAGE =
  'usage: --host HOST [--port P] [--user U] [--password W] ' +
  '[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] ' +
  'ls|sha256|cat|put|publish ...';

// Returning a string gives `ok`; throwing gives `err` (see the catch below).
// `run` may be async: the component waits for the promise.
export async function run(args) {
  const { options, command } = parseArgs(args);
  let ftp;
  try {
    ftp = connect(options);
    const summary = await runCommand(ftp, command);
    ftp.quit();
    return summary;
  } catch (e) {
    // A failed WIT call throws an error whose `payload` is the WIT `error`
    // variant: `{ tag: 'not-found', val: '...' }`.
    throw e?.payload ? describe(e.payload) : e;
  } finally {
    ftp?.[Symbol.dispose](); // drop the session resource
  }
}

async function runCommand(ftp, [name, ...rest]) {
  switch (name) {
    case 'ls': {
      const names = ftp.listDirectory(rest[0]); // option<string>: undefined is none
      names.forEach((n) => console.log(n));
      return `${names.length} entries`;
    }
    case 'sha256':
      if (rest.length === 0) break;
      for (const path of rest) {
        const data = ftp.get(path); // list<u8> arrives as a Uint8Array
        console.log(`${await sha256(data)}  ${data.length}  ${path}`);
      }
      return `${rest.length} files checked`;
    case 'cat': {
      if (rest.length === 0) break;
      const data = ftp.get(rest[0]);
      // console.log always ends with a newline: do not print a second one.
      const text = new TextDecoder().decode(data);
      if (text) console.log(text.endsWith('\n') ? text.slice(0, -1) : text);
      return `${data.length} bytes`;
    }
    case 'put': {
      if (rest.length === 0) break;
      const [path, text = ''] = rest;
      const sent = ftp.send(path, new TextEncoder().encode(text)); // u64: a BigInt
      return `uploaded ${sent} bytes to ${path}`;
    }
    case 'publish':
      if (rest.length < 2) break;
      return publish(ftp, rest[0], rest.slice(1));
  }
  const shown = [name, ...rest].map((a) => JSON.stringify(a)).join(', ');
  throw describe({
    tag: 'invalid-input',
    val: `unknown command [${shown}]: expected ls, sha256, cat, put or publish`,
  });
}

// What JavaScript is good at: build a few documents and a JSON index, upload
// them, and show the result.
async function publish(ftp, name, texts) {
  const encoder = new TextEncoder();
  const files = [];
  for (const [i, text] of texts.entries()) {
    const path = `${name}-${i + 1}.txt`;
    const data = encoder.encode(text + '\n');
    files.push({ path, bytes: Number(ftp.send(path, data)), sha256: await sha256(data) });
  }
  const index = JSON.stringify({ name, files }, null, 2) + '\n';
  ftp.send(`${name}.json`, encoder.encode(index));

  const ours = (n) => n === `${name}.json` || n.startsWith(`${name}-`);
  ftp.listDirectory().filter(ours).sort().forEach((n) => console.log(n));
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
    security: 'none', // WIT enums are strings
    forceProt: false,
    timeoutMs: undefined,
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
      case '--timeout-ms': options.timeoutMs = number(arg, 0xffffffff); break;
      default:
        if (!options.host) throw USAGE;
        return { options, command: [arg, ...rest] };
    }
  }
  throw USAGE;
}

// `KIND: message`; for a protocol error `protocol: CODE MESSAGE`. Variant tags
// are already the WIT case names in kebab-case.
function describe({ tag, val }) {
  return tag === 'protocol' ? `protocol: ${val.code} ${val.message}` : `${tag}: ${val}`;
}
