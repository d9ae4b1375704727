/** Our SHA-256 (src/compiler/sha256.ts) against node:crypto, at every padding boundary. */
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../../../src/compiler/sha256';

const reference = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('known answer: the empty string and "abc" (FIPS 180-4 examples)', () => {
  expect(sha256Hex(new Uint8Array())).toBe(
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('equals node:crypto for every length 0..300 and a 40 KB filter', () => {
  for (let n = 0; n <= 300; n++) {
    const b = new Uint8Array(randomBytes(n));
    expect([n, sha256Hex(b)]).toEqual([n, reference(b)]);
  }
  const big = new Uint8Array(randomBytes(4096 * 8 + 5));
  expect(sha256Hex(big)).toBe(reference(big));
});
