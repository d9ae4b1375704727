/**
 * The two lowest layers import nothing above them: src/bpf only itself,
 * src/arch only itself and src/bpf (bpf < arch < policy < compiler < launcher/cli).
 * Node built-ins are allowed; npm packages are not (both layers are pure data and logic).
 */
import * as fs from 'fs';
import * as path from 'path';
import { builtinModules } from 'module';
import * as os from 'os';

const SRC = path.resolve(__dirname, '../../../src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier of `import ... from`, `export ... from`, import() and require(). */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  return [...text.matchAll(re)].map((m) => m[1]);
}

function violations(layer: string, allowed: readonly string[]): string[] {
  const found: string[] = [];
  const files = sources(path.join(SRC, layer));
  expect(files.length).toBeGreaterThan(3);
  for (const file of files) {
    for (const spec of specifiers(file)) {
      const rel = path.relative(SRC, file);
      if (spec.startsWith('.')) {
        const target = path.relative(SRC, path.resolve(path.dirname(file), spec));
        const top = target.split(path.sep)[0];
        if (!allowed.includes(top)) found.push(`${rel} imports ${spec} (${top})`);
      } else if (!builtinModules.includes(spec.replace(/^node:/, ''))) {
        found.push(`${rel} imports the package ${spec}`);
      }
    }
  }
  return found;
}

describe('layering of src/bpf and src/arch', () => {
  test('src/bpf imports only src/bpf', () => {
    expect(violations('bpf', ['bpf'])).toEqual([]);
  });

  test('src/arch imports only src/arch and src/bpf', () => {
    expect(violations('arch', ['arch', 'bpf'])).toEqual([]);
  });

  test('the import scanner sees relative, package and dynamic imports', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
    const f = path.join(tmp, 'x.ts');
    fs.writeFileSync(
      f,
      "import { a } from '../policy';\nexport * from './b';\nimport 'pino';\nconst c = require(\"yargs\");\nvoid import('../cli/x');\n",
    );
    expect(specifiers(f)).toEqual(['../policy', './b', 'pino', 'yargs', '../cli/x']);
    fs.rmSync(tmp, { recursive: true });
  });
});
