/**
 * `compile --format c` is a C array a program can load: gcc compiles it
 * (-Wall -Werror) into a program that writes the array's bytes, and they
 * are byte for byte what `--format raw` writes, for this host's ABI.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { detectHostAbi } from '../../../src/arch';
import { run } from './run';
import { tempDir } from '../../helpers/tmp';

const tmp = tempDir('qs-compile-c-');

test.each(['on', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'])(
  '%s: the C array compiles and holds the raw bytes',
  async (policy) => {
    const abi = detectHostAbi();
    const c = await run(['compile', policy, '--format', 'c']);
    expect([c.code, c.stderr]).toEqual([0, '']);
    const raw = await run(['compile', policy, '--format', 'raw']);
    expect(raw.code).toBe(0);

    const dir = mkdtempSync(join(tmp, 'p-'));
    writeFileSync(join(dir, 'filter.h'), c.stdout);
    writeFileSync(
      join(dir, 'main.c'),
      '#include <stdio.h>\n#include "filter.h"\n' +
        'int main(void) {\n' +
        `  fwrite(qemu_sandbox_${abi}_prog.filter, sizeof(struct sock_filter), qemu_sandbox_${abi}_prog.len, stdout);\n` +
        '  return 0;\n}\n',
    );
    const gcc = await execa('gcc', ['-Wall', '-Werror', '-o', join(dir, 'dump'), 'main.c'], {
      cwd: dir,
      reject: false,
    });
    expect([gcc.exitCode, gcc.stderr]).toEqual([0, '']);
    const dump = await execa(join(dir, 'dump'), [], { encoding: null });
    expect(Buffer.compare(dump.stdout as Buffer, raw.stdoutBytes)).toBe(0);
  },
);
