// The classic connect rule (options.js): which security and port.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { classic, splitHost } from '../options.js';
import { FtpInvalidInput } from '../errors.js';

test('plain FTP leaves the port to the host', () => {
  assert.deepEqual(classic({ host: 'ftp.example.com' }), {
    host: 'ftp.example.com', port: undefined, security: 'none', forceProt: false, timeoutMs: undefined,
  });
});

test('secure on 990, or without a port, is implicit on 990', () => {
  assert.equal(classic({ host: 'h', port: 990, secure: true }).security, 'implicit');
  const c = classic({ host: 'h', secure: true, forceProt: true });
  assert.deepEqual([c.port, c.security, c.forceProt], [990, 'implicit', true]);
});

test('secure on another port is explicit', () => {
  assert.equal(classic({ host: 'h', port: 21, secure: true }).security, 'explicit');
  assert.deepEqual(classic({ host: 'h:2121', secure: true }), {
    host: 'h', port: 2121, security: 'explicit', forceProt: false, timeoutMs: undefined,
  });
});

test('an ftps:// URL is implicit on its port', () => {
  const c = classic({ host: 'ftps://127.0.0.1:40123', forceProt: true });
  assert.deepEqual([c.host, c.port, c.security], ['127.0.0.1', 40123, 'implicit']);
  assert.equal(classic({ host: 'ftps://h' }).port, 990);
  assert.equal(classic({ host: 'ftp://h:2121/' }).security, 'none');
});

test('IPv6', () => {
  assert.deepEqual(splitHost('[::1]:21'), { scheme: undefined, host: '::1', port: 21 });
  assert.deepEqual(splitHost('::1'), { scheme: undefined, host: '::1', port: undefined });
});

test('forceProt needs TLS; two different ports are refused', () => {
  assert.throws(() => classic({ host: 'h', forceProt: true }), FtpInvalidInput);
  assert.throws(() => classic({ host: 'h:2121', port: 21 }), /two ports/);
  assert.equal(classic({ host: 'h:21', port: 21 }).port, 21);
});

test('bad hosts, ports and timeouts', () => {
  for (const host of [undefined, '', '  ', 'http://h', 'ftp://u:p@h', 'ftp://h/dir', 'h:0', 'h:99999', 'h:x', '[::1', ':21']) {
    assert.throws(() => classic({ host }), FtpInvalidInput, String(host));
  }
  for (const port of [0, 65536, '21', 1.5, -1]) {
    assert.throws(() => classic({ host: 'h', port }), FtpInvalidInput, String(port));
  }
  for (const timeout of [0, -1, '5', true]) {
    assert.throws(() => classic({ host: 'h', timeout }), FtpInvalidInput, String(timeout));
  }
  assert.equal(classic({ host: 'h', timeout: 2.5 }).timeoutMs, 2500);
  assert.equal(classic({ host: 'h', timeout: 1e9 }).timeoutMs, 0xffffffff);
});
