// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules', '.data', 'dist', 'coverage', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Activities are async by contract, even those that do no I/O today.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed: no I/O, no Node built-ins (samples-typescript does the same).
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
        patterns: [{ group: ['../activities/*', '../activities'], allowTypeImports: true, message: 'Import activities as types only.' }],
      }],
    },
  },
  {
    // Callers (CLI, API, the client they share) never hold activity code or the worker: only the
    // worker touches targets and reads their credentials. (`runbook preflight` and `runbook replay`
    // load theirs with import() inside their command; test/layering.test.ts checks what loads.)
    files: ['src/cli.ts', 'src/cli-api.ts', 'src/client.ts', 'src/api/**/*.ts', 'src/audit/timeline.ts', 'src/evidence/**/*.ts', 'src/print.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'Callers do not load activities; only the worker does (types are fine).' },
          { group: ['**/worker', '**/worker.js', '**/preflight', '**/preflight.js', '@temporalio/worker'], allowTypeImports: true, message: 'Callers do not load the worker; import() it inside the one command that needs it.' },
        ],
      }],
    },
  },
  { files: ['**/*.js', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  // The SDK require()s converters by path (src/failure-converter.cjs).
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: globals.node }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  { files: ['bin/**/*.js'], languageOptions: { globals: globals.node } },
  // The operator console runs in the browser, as plain ES modules (no build step).
  { files: ['src/console/**/*.js'], languageOptions: { globals: globals.browser } },
);
