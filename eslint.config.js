// @ts-check
/* eslint-disable @typescript-eslint/no-require-imports -- this config file is CommonJS */
const eslint = require('@eslint/js');
const tseslint = require('typescript-eslint');

const FFI = { group: ['@2060.io/*'], message: 'FFI lives in src/native only.' };
/** [layer, the layers above it] */
const LAYERS = [
  ['bpf', ['arch', 'policy', 'compiler', 'native', 'launch', 'cli', 'launcher']],
  ['arch', ['policy', 'compiler', 'native', 'launch', 'cli', 'launcher']],
  ['policy', ['compiler', 'native', 'launch', 'cli', 'launcher']],
  ['compiler', ['native', 'launch', 'cli', 'launcher']],
  ['native', ['launch', 'cli', 'launcher']],
  ['launch', ['cli', 'launcher']],
];

module.exports = tseslint.config(
  // Plain .js files are configs only; the project is TypeScript.
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/', '**/*.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // All FFI lives in src/native: nothing else touches pointers.
    files: ['**/*.ts'],
    ignores: ['src/native/**', 'test/kernel/native.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [FFI] }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='require'][arguments.0.value=/^@2060\\.io\\//]",
          message: 'FFI lives in src/native only.',
        },
      ],
    },
  },
  // Lower layers never import higher ones (bpf < arch < policy < compiler <
  // native < launch, the launch plan; cli and the launcher sit on top). Flat config replaces a rule
  // rather than merging it, so each layer's block repeats the FFI pattern.
  ...LAYERS.map(([layer, above]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...(layer === 'native' ? [] : [FFI]),
            {
              group: above.flatMap((l) => [`../${l}`, `../${l}/**`, `../../${l}`, `../../${l}/**`]),
              message: `src/${layer} must not import a higher layer (${above.join(', ')}).`,
            },
          ],
        },
      ],
    },
  })),
  {
    // A command is a leaf: what two commands share lives in src/cli, not in one of them.
    files: ['src/cli/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            FFI,
            {
              group: ['./*'],
              message:
                'a command must not import another command (move the shared part to src/cli).',
            },
          ],
        },
      ],
    },
  },
);
