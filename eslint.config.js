// Lint for correctness and for the process boundaries, not for taste.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

const noNode = { paths: nodeBuiltins.map((name) => ({ name, message: 'No Node built-ins here: this code also runs in the renderer.' })) };
const electronOnlyInShell = { name: 'electron', message: 'Only the Electron shell (electron/main, electron/preload) imports electron.' };
const reactNotHere = ['react', 'react-dom', 'react-dom/client', 'wouter'].map((name) => ({ name, message: 'shared/ imports no React.' }));

/** electron/'s layers, lowest first; each folder of electron/ is in one. */
export const LAYERS = [
  { name: 'platform', folders: ['platform'] },
  { name: 'formats', folders: ['formats'] },
  {
    name: 'domains',
    folders: ['library', 'hub', 'worker', 'inference', 'engines', 'chat', 'tools', 'machines', 'api', 'settings', 'docs'],
  },
  { name: 'services', folders: ['services'] },
  { name: 'hosts', folders: ['main', 'preload', 'host', 'cli', 'bench'] },
];

export default tseslint.config(
  { ignores: ['dist/**', 'release/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', '.test-output/**', '.gpu-check/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always'],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='only']", message: 'No focused tests.' }],
    },
  },
  { files: ['**/*.{js,mjs,cjs}'], languageOptions: { globals: globals.node } },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    files: ['shared/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...noNode.paths, { name: 'electron', message: 'shared/ imports no Electron.' }, ...reactNotHere],
          patterns: [{ group: ['**/electron/**', '**/renderer/**'], message: 'shared/ is the contract: it imports neither side.' }],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          paths: [...noNode.paths, { name: 'electron', message: 'The renderer reaches the host only through the contract.' }],
          patterns: [
            { group: ['**/electron/**', '**/test/**', '**/scripts/**'], message: 'The renderer imports only shared/ from this project.' },
          ],
        },
      ],
    },
  },
  // The layers of electron/, from the ground up (docs/architecture.md): a file imports from its own layer
  // or the ones below, never above. The picture in the doc is this list.
  ...LAYERS.map((layer, index) => {
    const above = LAYERS.slice(index + 1).flatMap((higher) =>
      higher.folders.map((folder) => ({
        group: [`**/${folder}/**`],
        message: `The ${layer.name} layer sits below the ${higher.name} layer: it never imports from electron/${folder}/ (docs/architecture.md).`,
      })),
    );
    const shell = layer.name === 'hosts';
    return {
      files: layer.folders.map((folder) => `electron/${folder}/**/*.ts`),
      rules: {
        'no-restricted-imports': [
          'error',
          {
            // Only the Electron shell (electron/main, electron/preload) imports electron; nothing imports the UI.
            paths: shell ? [] : [electronOnlyInShell],
            patterns: [{ group: ['**/renderer/**'], message: 'Services never import the UI.' }, ...above],
          },
        ],
      },
    };
  }),
  {
    files: ['electron/host/**/*.ts', 'electron/cli/**/*.ts', 'electron/bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [electronOnlyInShell], patterns: [{ group: ['**/renderer/**'], message: 'Services never import the UI.' }] },
      ],
    },
  },
);
