/**
 * Extra paths for files=deny: QEMU_SANDBOXED_FILES and the site config's
 * "files" key.
 */
import { ConfigError, validateConfig } from '../../../src/policy/config';
import { ExtraFilesError, parseExtraFilesEnv } from '../../../src/policy/extra-files';

test('the environment variable: ACCESS:PATH entries separated by ;', () => {
  expect(parseExtraFilesEnv('rw:/srv/a;ro:/srv/b c:d;;')).toEqual([
    { path: '/srv/a', access: 'rw', origin: 'QEMU_SANDBOXED_FILES' },
    { path: '/srv/b c:d', access: 'ro', origin: 'QEMU_SANDBOXED_FILES' },
  ]);
  expect(() => parseExtraFilesEnv('/srv/a')).toThrow(ExtraFilesError);
  expect(() => parseExtraFilesEnv('rw:srv/a')).toThrow('"srv/a" is not an absolute path');
});

test('the config key: absolute paths to "ro" or "rw"; anything else names the problem', () => {
  expect(validateConfig({ files: { '/srv/a': 'rw' } }, '/c.json').files).toEqual([
    { path: '/srv/a', access: 'rw', origin: 'files in /c.json' },
  ]);
  expect(() => validateConfig({ files: ['/srv/a'] }, '/c.json')).toThrow(ConfigError);
  expect(() => validateConfig({ files: { '/srv/a': 'write' } }, '/c.json')).toThrow(
    'config /c.json: "files": "/srv/a" must be "ro" or "rw"',
  );
  expect(() => validateConfig({ files: { 'srv/a': 'ro' } }, '/c.json')).toThrow(
    'is not an absolute path',
  );
});
