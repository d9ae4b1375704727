// Projects so a developer can run one layer at a time
// (`npx jest --selectProjects unit`); `npm test` (scripts/test-all.ts) runs all
// but container.
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};

/** @type {import('jest').Config} */
module.exports = {
  // 2 cores in CI: the kernel and e2e suites start real processes and VMs.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'kernel', testMatch: ['<rootDir>/test/kernel/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // The packages people install: the .deb (built, linted, installed into
    // fresh Debian roots), npm pack.
    { ...common, displayName: 'package', testMatch: ['<rootDir>/test/package/**/*.test.ts'] },
    // The container image built and run with podman: `npm run test:container`,
    // outside `npm test` (scripts/test-all.ts names the projects it runs) for
    // its cost: an image build with apt and npm inside it.
    { ...common, displayName: 'container', testMatch: ['<rootDir>/test/container/**/*.test.ts'] },
  ],
};
