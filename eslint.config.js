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
);
