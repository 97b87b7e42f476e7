// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

// Workflow code is replayed: no I/O, no Node built-ins (samples-typescript does the same).
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const workflowCodePatterns = [
  { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'Import activities as types only.' },
  {
    group: ['**/definition', '**/definition.js', '**/catalogue.js', '**/define.js', 'zod'],
    allowTypeImports: true,
    message:
      'Workflow code imports runbook definitions as types only (zod stays out of the bundle); the steps are in steps.ts.',
  },
];

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
    // It is the engine, the runbooks' workflows, steps and texts, the shared database safety, the
    // system workflows and the contract they share with callers. Activities and the runbook
    // definitions (zod, kept out of the workflow bundle) are imported as types only.
    files: [
      'src/workflows/**/*.ts',
      'src/engine/**/*.ts',
      'src/contract/**/*.ts',
      'src/runbooks/*/workflow.ts',
      'src/runbooks/*/steps.ts',
      'src/runbooks/*/texts.ts',
      'src/runbooks/shared/**/*.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { paths: nodeBuiltins, patterns: workflowCodePatterns }] },
  },
  {
    // The contract is what callers and the worker share; it imports only other contract modules.
    // (Flat config replaces a rule's options file by file, so the workflow-code patterns are repeated here.)
    files: ['src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins,
          patterns: [
            ...workflowCodePatterns,
            {
              group: ['../*', '!../contract'],
              allowTypeImports: true,
              message: 'The contract imports only the contract (and types).',
            },
          ],
        },
      ],
    },
  },
  {
    // Activities do the I/O; they never load workflow code (that only runs in the workflow sandbox).
    files: ['src/activities/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/engine/*',
                '**/workflows/*',
                '**/runbooks/*/workflow.js',
                '**/runbooks/*/texts.js',
                '@temporalio/workflow',
              ],
              allowTypeImports: true,
              message: 'Activities do not load workflow code (types are fine).',
            },
          ],
        },
      ],
    },
  },
  {
    // Callers (CLI, API, the client they share) never hold activity code, workflow code or the
    // worker: only the worker touches targets and reads their credentials. They import the
    // contract (src/contract, the runbook catalogue and definitions) and the client. (`runbook
    // preflight` and `runbook replay` load theirs with import() inside their command;
    // test/layering.test.ts checks what loads.)
    files: [
      'src/cli.ts',
      'src/cli-api.ts',
      'src/client.ts',
      'src/api/**/*.ts',
      'src/audit/timeline.ts',
      'src/evidence/**/*.ts',
      'src/print.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities/*', '**/activities'],
              allowTypeImports: true,
              message: 'Callers do not load activities; only the worker does (types are fine).',
            },
            {
              group: ['**/worker', '**/worker.js', '**/preflight', '**/preflight.js', '@temporalio/worker'],
              allowTypeImports: true,
              message: 'Callers do not load the worker; import() it inside the one command that needs it.',
            },
            {
              group: [
                '**/engine/*',
                '**/workflows/*',
                '**/runbooks/*/workflow.js',
                '**/runbooks/*/texts.js',
                '@temporalio/workflow',
              ],
              allowTypeImports: true,
              message:
                'Callers do not load workflow code; the contract (src/contract, src/runbooks/catalogue.ts) has what they share (types are fine).',
            },
          ],
        },
      ],
    },
  },
  { files: ['**/*.js', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  // The SDK require()s converters by path (src/failure-converter.cjs).
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['bin/**/*.js'], languageOptions: { globals: globals.node } },
  // The operator console runs in the browser, as plain ES modules (no build step).
  { files: ['src/console/**/*.js'], languageOptions: { globals: globals.browser } },
);
