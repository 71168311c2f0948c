#!/usr/bin/env node
// Copies the GraphiQL page's third-party files from node_modules (pinned by
// package-lock.json) into assets/graphiql/, where c360 embeds them in its
// binary, and writes the README that names their versions: React, GraphiQL,
// and graphql-ws's browser build, the client the page's subscriptions run
// over (graphql-transport-ws on the page's own /graphql).
//
//   node ecosystem/vendor-graphiql.mjs           copy (after `npm ci` in ecosystem/)
//   node ecosystem/vendor-graphiql.mjs --check   exit 1 unless assets/graphiql/ holds
//                                                exactly what node_modules has (for CI)
//
// The copies are byte for byte, source-map comments included, so provenance
// is a plain comparison.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, 'node_modules');
const target = join(here, '..', 'assets', 'graphiql');

// package → [file in the package, name in assets/graphiql/]
const FILES = {
  react: [
    ['umd/react.production.min.js', 'react.production.min.js'],
    ['LICENSE', 'LICENSE.react'],
  ],
  'react-dom': [
    ['umd/react-dom.production.min.js', 'react-dom.production.min.js'],
    ['LICENSE', 'LICENSE.react-dom'],
  ],
  graphiql: [
    ['graphiql.min.js', 'graphiql.min.js'],
    ['graphiql.min.css', 'graphiql.min.css'],
    ['LICENSE', 'LICENSE.graphiql'],
  ],
  'graphql-ws': [
    ['umd/graphql-ws.min.js', 'graphql-ws.min.js'],
    ['LICENSE.md', 'LICENSE.graphql-ws'],
  ],
};

const version = (pkg) => JSON.parse(readFileSync(join(modules, pkg, 'package.json'), 'utf8')).version;

function readme() {
  const versions = Object.keys(FILES).map((pkg) => `${pkg} ${version(pkg)}`).join(', ');
  return (
    `Production builds of ${versions}, copied unmodified from ecosystem/node_modules (pinned by ecosystem/package-lock.json) and embedded in c360 to serve GraphiQL offline (src/http/graphiql.rs).\n` +
    `To update: change the versions in ecosystem/package.json, \`npm install\` there, run \`node ecosystem/vendor-graphiql.mjs\` (CI runs it with \`--check\`), then \`cargo test --test integration graphiql\` and \`ecosystem/run.sh graphiql\`; this file is written by that script.\n`
  );
}

// [destination name, expected bytes] for every file the script owns.
function wanted() {
  if (!existsSync(modules)) {
    console.error(`vendor-graphiql: ${modules} is missing; run \`npm ci\` in ecosystem/ first`);
    process.exit(2);
  }
  const out = [];
  for (const [pkg, files] of Object.entries(FILES)) {
    for (const [from, to] of files) out.push([to, readFileSync(join(modules, pkg, from))]);
  }
  out.push(['README.md', Buffer.from(readme())]);
  return out;
}

if (process.argv.includes('--check')) {
  const stale = wanted().filter(([name, bytes]) => {
    const path = join(target, name);
    return !existsSync(path) || !readFileSync(path).equals(bytes);
  });
  if (stale.length > 0) {
    console.error(
      `vendor-graphiql: assets/graphiql/ differs from node_modules: ${stale.map(([n]) => n).join(', ')}\n` +
        'run `node ecosystem/vendor-graphiql.mjs` to copy them again',
    );
    process.exit(1);
  }
  console.log('vendor-graphiql: assets/graphiql/ matches node_modules');
} else {
  mkdirSync(target, { recursive: true });
  for (const [name, bytes] of wanted()) writeFileSync(join(target, name), bytes);
  console.log(`vendor-graphiql: copied ${Object.keys(FILES).map((p) => `${p}@${version(p)}`).join(', ')} into assets/graphiql/`);
}
