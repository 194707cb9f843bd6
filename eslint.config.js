// Lint rules: type-checked (dropped promises are a door that does not open) and the layer rules of
// docs/architecture.md enforced as import restrictions, so a wrong import fails `npm test`.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const layer = (files, patterns) => ({
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
});
const noNode = {
  group: ['node:*', 'fs', 'path', 'crypto', 'os', 'child_process'],
  message: 'core/protocol are pure: no Node I/O.',
};
const noAdapters = {
  group: ['**/adapters/**'],
  message: 'only the composition root (src/app/compose.ts) imports adapters.',
};
const noApp = { group: ['**/app/**', '**/cli/**'], message: 'lower layers never import app or cli.' };

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/', 'var/', 'firmware-bridge/', 'coverage/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  layer(
    ['src/core/**/*.ts'],
    [
      noNode,
      noAdapters,
      noApp,
      { group: ['**/protocol/**', '**/ports/**'], message: 'core imports only core.' },
    ],
  ),
  layer(
    ['src/protocol/**/*.ts'],
    [noNode, noAdapters, noApp, { group: ['**/ports/**'], message: 'protocol imports only core.' }],
  ),
  layer(['src/ports/**/*.ts'], [noAdapters, noApp]),
  layer(['src/adapters/**/*.ts'], [noApp]),
  layer(['src/cli/**/*.ts'], [noAdapters]),
  { ...layer(['src/app/**/*.ts'], [noAdapters]), ignores: ['src/app/compose.ts'] },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // tap tracks the promise t.test() returns; awaiting each top-level test would serialise nothing useful.
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: globals.node } },
);
