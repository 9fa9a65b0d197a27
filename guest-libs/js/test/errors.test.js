// WIT error payloads -> typed errors (errors.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as errors from '../errors.js';
import { FtpError, FtpNotFound, FtpProtocol, fromWit } from '../errors.js';

test('every case has its class and keeps the message', () => {
  const cases = {
    denied: errors.FtpDenied, connect: errors.FtpConnect, tls: errors.FtpTls, auth: errors.FtpAuth,
    'not-found': errors.FtpNotFound, permission: errors.FtpPermission, timeout: errors.FtpTimeout,
    'invalid-input': errors.FtpInvalidInput, 'too-large': errors.FtpTooLarge, io: errors.FtpIo,
    unsupported: errors.FtpUnsupported,
  };
  for (const [tag, cls] of Object.entries(cases)) {
    const e = fromWit({ tag, val: `${tag} message` });
    assert.equal(e.constructor, cls, tag);
    assert.ok(e instanceof FtpError && e instanceof Error);
    assert.equal(e.message, `${tag} message`);
    assert.equal(e.kind, tag);
    assert.equal(e.name, cls.name);
    assert.equal(e.describe(), `${tag}: ${tag} message`);
  }
});

test('protocol carries the reply code', () => {
  const e = fromWit({ tag: 'protocol', val: { code: 504, message: 'Command not implemented' } });
  assert.ok(e instanceof FtpProtocol);
  assert.equal(e.code, 504);
  assert.equal(e.describe(), 'protocol: 504 Command not implemented');
});

test('a case from a newer WIT is still an FtpError', () => {
  const e = fromWit({ tag: 'quota-exceeded', val: 'over quota' });
  assert.equal(e.constructor, FtpError);
  assert.equal(e.describe(), 'quota-exceeded: over quota');
});

test('instanceof picks the case', () => {
  assert.ok(fromWit({ tag: 'not-found', val: 'x' }) instanceof FtpNotFound);
  assert.ok(!(fromWit({ tag: 'auth', val: 'x' }) instanceof FtpNotFound));
});
