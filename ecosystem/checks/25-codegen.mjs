// The README's GraphQL examples, fed to graphql-codegen the way a frontend
// team would: every ```graphql block that is an executable document becomes
// $C360_OUT/documents/NN.graphql, and @graphql-codegen/cli's generate() builds
// $C360_OUT/generated/types.ts from schema.graphql with the `typescript` and
// `typescript-operations` plugins. Codegen validates every document against
// the schema, so a README example that does not match the schema fails here.
// It needs no server.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { Kind, buildSchema, parse, specifiedRules, validate } from 'graphql';

const { C360_OUT: out, C360_ROOT: root } = process.env;
if (!out || !root) {
  console.error('codegen: C360_OUT and C360_ROOT must be set (run through ecosystem/run.sh)');
  process.exit(1);
}
const readmePath = join(root, 'README.md');
const schemaPath = join(root, 'schema.graphql');
const documentsDir = join(out, 'documents');
const generatedPath = join(out, 'generated', 'types.ts');
const failures = [];
const fail = (message) => {
  failures.push(message);
  console.log(`FAIL ${message}`);
};

// Fenced blocks of the README (``` or ~~~, indented at most 3 spaces), with
// the line their content starts on.
function fencedBlocks(markdown) {
  const lines = markdown.split(/\r?\n/);
  const blocks = [];
  let open = null;
  lines.forEach((line, i) => {
    if (!open) {
      const m = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
      if (m) open = { fence: m[1], lang: m[2].toLowerCase(), line: i + 2, body: [] };
    } else if (new RegExp(`^ {0,3}${open.fence[0]}{${open.fence.length},}\\s*$`).test(line)) {
      blocks.push({ lang: open.lang, line: open.line, text: open.body.join('\n') });
      open = null;
    } else {
      open.body.push(line);
    }
  });
  return blocks;
}

const executableKinds = new Set([Kind.OPERATION_DEFINITION, Kind.FRAGMENT_DEFINITION]);
const firstLine = (text) => text.trim().split('\n')[0].trim();
// What a block tagged graphql starts with once comments are dropped.
const opening = (text) => text.replace(/#[^\n]*/g, '').trim();

const graphqlBlocks = fencedBlocks(readFileSync(readmePath, 'utf8')).filter((b) => b.lang === 'graphql' || b.lang === 'gql');
const documents = [];
const skipped = [];
for (const block of graphqlBlocks) {
  const where = `README.md line ${block.line}`;
  let doc;
  try {
    doc = parse(block.text);
  } catch (err) {
    if (/^(query|mutation|subscription|fragment)\b|^\{/.test(opening(block.text))) {
      fail(`${where}: the GraphQL example does not parse: ${err.message}`);
    } else {
      skipped.push(`${where}: tagged graphql but not GraphQL (${JSON.stringify(firstLine(block.text))}); skipped`);
    }
    continue;
  }
  const executable = doc.definitions.filter((d) => executableKinds.has(d.kind));
  if (executable.length === 0) {
    skipped.push(`${where}: SDL (${doc.definitions.length} type-system definitions), not an executable document; skipped`);
    continue;
  }
  if (executable.length !== doc.definitions.length) {
    fail(`${where}: mixes executable and type-system definitions`);
    continue;
  }
  documents.push({ ...block, doc, where });
}
for (const note of skipped) console.log(`   note: ${note}`);

rmSync(documentsDir, { recursive: true, force: true });
mkdirSync(documentsDir, { recursive: true });
documents.forEach((d, i) => {
  d.file = join(documentsDir, `${String(i + 1).padStart(2, '0')}.graphql`);
  writeFileSync(d.file, `# ${d.where}\n${d.text.trim()}\n`);
});

// Operations and fragments of every document, with the type codegen names
// after each (`query Profile` gives ProfileQuery).
const pascal = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const anonymous = [];
const expectedTypes = [];
for (const d of documents) {
  for (const def of d.doc.definitions) {
    const label = `${relative(out, d.file)} (${d.where}, ${def.kind === Kind.FRAGMENT_DEFINITION ? 'fragment' : def.operation})`;
    if (def.kind === Kind.OPERATION_DEFINITION && !def.name) {
      const roots = def.selectionSet.selections.map((s) => (s.kind === Kind.FIELD ? s.name.value : '…'));
      anonymous.push(`${label}: ${def.operation} { ${roots.join(' ')} }`);
    } else if (def.kind === Kind.OPERATION_DEFINITION) {
      expectedTypes.push({ type: pascal(def.name.value) + pascal(def.operation), label });
      expectedTypes.push({ type: `${pascal(def.name.value)}${pascal(def.operation)}Variables`, label });
    } else {
      expectedTypes.push({ type: `${pascal(def.name.value)}Fragment`, label });
    }
  }
}

// Each document on its own against schema.graphql (graphql-js), so a failure
// names the README example it comes from, whatever codegen says.
// The rules are codegen's (it skips NoUnusedFragments, NoUnusedVariables and
// KnownDirectives), and a block may spread a fragment another block defines.
const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
const rules = specifiedRules.filter((r) => !/^(NoUnusedFragments|NoUnusedVariables|KnownDirectives)/.test(r.name));
const fragments = documents.flatMap((d) => d.doc.definitions.filter((def) => def.kind === Kind.FRAGMENT_DEFINITION));
for (const d of documents) {
  const own = new Set(d.doc.definitions.filter((def) => def.name).map((def) => def.name.value));
  const others = fragments.filter((f) => !own.has(f.name.value));
  const errors = validate(schema, { ...d.doc, definitions: [...d.doc.definitions, ...others] }, rules);
  if (errors.length) {
    fail(`${relative(out, d.file)} (${d.where}) does not match schema.graphql: ${errors.map((e) => e.message).join('; ')}`);
  }
}

// codegen itself; the config is also saved for `npx graphql-codegen --config`.
const config = {
  schema: schemaPath,
  documents: join(documentsDir, '*.graphql'),
  generates: { [generatedPath]: { plugins: ['typescript', 'typescript-operations'] } },
  silent: true,
  errorsOnly: true,
};
writeFileSync(join(out, 'codegen.json'), JSON.stringify(config, null, 2) + '\n');
let generated = false;
try {
  await generate(config, true);
  generated = true;
} catch (err) {
  const details = (err.errors ?? [])
    .map((e) => e.details ?? e.message)
    .filter((d) => d && !err.message.includes(d.trim()))
    .join('\n');
  fail(`graphql-codegen failed: ${err.message.trim()}${details ? `\n${details}` : ''}`);
}
if (anonymous.length) {
  fail(
    `${anonymous.length} README example(s) are anonymous operations; codegen needs every operation named:\n` +
      anonymous.map((a) => `       ${a}`).join('\n'),
  );
}

if (generated) {
  const ts = readFileSync(generatedPath, 'utf8');
  for (const { type, label } of expectedTypes) {
    if (!new RegExp(`export type ${type}\\b`).test(ts)) fail(`${relative(out, generatedPath)} has no type ${type} for ${label}`);
  }
  const named = expectedTypes.filter((t) => !t.type.endsWith('Variables')).map((t) => t.type);
  console.log(`   ${relative(out, generatedPath)}: ${ts.split('\n').length} lines; types ${named.join(', ') || '(none named)'}`);
}

const summary = `codegen: ${documents.length} README document(s) in documents/, ${generated ? `generated/types.ts written` : 'no types generated'}; ${anonymous.length} anonymous operation(s), ${skipped.length} block(s) skipped`;
if (failures.length) {
  console.log(`${summary}; ${failures.length} failure(s)`);
  process.exit(1);
}
console.log(summary);
