// @ts-check
/* eslint-disable @typescript-eslint/no-require-imports -- this config file is CommonJS */
const eslint = require('@eslint/js');
const tseslint = require('typescript-eslint');

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
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['@2060.io/*'], message: 'FFI lives in src/native only.' }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='require'][arguments.0.value=/^@2060\\.io\\//]",
          message: 'FFI lives in src/native only.',
        },
      ],
    },
  },
);
