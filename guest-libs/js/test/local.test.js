// Local paths -> granted directory + path inside it (local.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { basename, display, resolve } from '../local.js';
import { FtpLocalError } from '../errors.js';

const GRANTS = ['/data', '/data/out', '/path/to/local'];

test('relative paths start in the first grant, or the chosen local dir', () => {
  assert.deepEqual(resolve('file.bin', GRANTS), [0, 'file.bin']);
  assert.deepEqual(resolve('a/./b/../c.txt', GRANTS), [0, 'a/c.txt']);
  assert.deepEqual(resolve('f', GRANTS, '/path/to/local'), [2, 'f']);
  assert.deepEqual(resolve('f', GRANTS, '/data/sub'), [0, 'sub/f']);
});

test('absolute paths pick the longest grant', () => {
  assert.deepEqual(resolve('/path/to/local/file', GRANTS), [2, 'file']);
  assert.deepEqual(resolve('/data/out/x', GRANTS), [1, 'x']);
  assert.deepEqual(resolve('/data/outside', GRANTS), [0, 'outside']);
  assert.deepEqual(resolve('/data', GRANTS), [0, '.']);
});

test('outside every grant, NUL, or no grant at all', () => {
  for (const path of ['/etc/passwd', '/path/to/localx', '../x', '/data/../etc/passwd', '/..', 'a\0b']) {
    assert.throws(() => resolve(path, GRANTS), FtpLocalError, path);
  }
  assert.throws(() => resolve('f', []), /granted none/);
});

test('display and basename', () => {
  assert.equal(display('/local', 'a/b'), '/local/a/b');
  assert.equal(display('/local', '.'), '/local');
  assert.equal(basename('/path/to/file/in/ftp'), 'ftp');
  assert.equal(basename('dir/'), 'dir');
  assert.equal(basename('x'), 'x');
});
