import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const vendorSdks = ['@grpc/*', '@kubernetes/*', '@google-cloud/*', 'bullmq', 'ioredis', 'prom-client', 'pino', 'google-gax'];
const restrict = (folders, extraPatterns = []) => ({
  patterns: [
    ...folders.map((f) => ({ group: [`**/${f}/**`, `../${f}/*`, `../../${f}/*`], message: `this layer may not import src/${f}` })),
    ...extraPatterns,
  ],
});
const noVendor = { group: vendorSdks, message: 'vendor SDKs belong in src/adapters (or src/runtime)' };
const noIo = {
  group: ['node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:child_process', 'node:timers', 'node:timers/*'],
  message: 'analyze/plan/knowledge are pure: no I/O or timers',
};

export default defineConfig(
  { ignores: ['node_modules/**', 'dist/**', 'eslint.config.js', 'scripts/**', 'bin/**'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach', 'suite'],
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Prettier formats to 140 columns; this catches what it cannot break (comments). Long strings stay whole so they can be grepped.
      'max-len': ['error', { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  // Boundary rules (house-style §3.2): stages never import each other; only adapters/runtime/main touch vendor SDKs.
  {
    files: ['src/knowledge/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        restrict(['monitor', 'analyze', 'plan', 'execute', 'adapters', 'runtime', 'sim', 'cli', 'ports', 'support'], [noVendor, noIo]),
      ],
    },
  },
  {
    files: ['src/analyze/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        restrict(['monitor', 'plan', 'execute', 'adapters', 'runtime', 'sim', 'cli', 'ports', 'support'], [noVendor, noIo]),
      ],
    },
  },
  {
    files: ['src/plan/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        restrict(['monitor', 'analyze', 'execute', 'adapters', 'runtime', 'sim', 'cli', 'ports', 'support'], [noVendor, noIo]),
      ],
    },
  },
  {
    files: ['src/monitor/**'],
    rules: {
      'no-restricted-imports': ['error', restrict(['analyze', 'plan', 'execute', 'adapters', 'runtime', 'sim', 'cli'], [noVendor])],
    },
  },
  {
    files: ['src/execute/**'],
    rules: {
      'no-restricted-imports': ['error', restrict(['monitor', 'analyze', 'plan', 'adapters', 'runtime', 'sim', 'cli'], [noVendor])],
    },
  },
  // src/support: I/O helpers (abortable sleep, paced pool, untilAborted) for monitor, execute, adapters, runtime and sim;
  // they import knowledge and node builtins only. analyze/plan/knowledge are pure and may not import them (above).
  {
    files: ['src/support/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        restrict(['monitor', 'analyze', 'plan', 'execute', 'adapters', 'runtime', 'sim', 'cli', 'ports'], [noVendor]),
      ],
    },
  },
  {
    files: ['src/ports/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        restrict(['monitor', 'analyze', 'plan', 'execute', 'adapters', 'runtime', 'sim', 'cli', 'support'], [noVendor]),
      ],
    },
  },
  {
    files: ['src/sim/**'],
    rules: { 'no-restricted-imports': ['error', restrict(['monitor', 'analyze', 'plan', 'execute', 'runtime', 'cli'])] },
  },
);
