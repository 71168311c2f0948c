// The live schema, read the way graphql-js clients read it: the standard
// introspection query of graphql@16 (every option it has) with the staff
// token, rebuilt with buildClientSchema, printed, and compared with the
// published schema.graphql by the graphql-inspector CLI (no change of any
// kind allowed) and by graphql-js's own printer (sorted, so order does not
// count). Then hostile introspections must be refused with QUERY_TOO_COMPLEX.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GraphQLSchema,
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const { C360_URL: url, C360_TOKEN: token, C360_OUT: out, C360_ROOT: root } = process.env;
if (!url || !token || !out || !root) {
  console.error('schema: C360_URL, C360_TOKEN, C360_OUT and C360_ROOT must be set (run through ecosystem/run.sh)');
  process.exit(1);
}
const ASYNC_GRAPHQL_SCHEMA_DESCRIPTION =
  'A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available types and directives on the server, as well as the entry points for query, mutation, and subscription operations.';
const ecosystem = dirname(dirname(fileURLToPath(import.meta.url)));
const failures = [];
const fail = (message) => {
  failures.push(message);
  console.log(`FAIL ${message}`);
};

async function post(query) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query }),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}
const describeErrors = (errors) =>
  (errors ?? []).map((e) => `${e.extensions?.code ?? 'no code'}: ${e.message}`).join('; ');

// 1. The standard introspection query, with every option graphql@16.15 has.
const options = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};
const introspection = await post(getIntrospectionQuery(options));
let introspected;
if (introspection.status !== 200 || !introspection.body?.data || introspection.body.errors?.length) {
  fail(
    `the standard introspection query (${Object.keys(options).join(', ')}) was answered ${introspection.status}: ` +
      (introspection.body ? describeErrors(introspection.body.errors) || 'no data' : introspection.text.slice(0, 300)),
  );
} else {
  try {
    introspected = buildClientSchema(introspection.body.data);
  } catch (err) {
    fail(`buildClientSchema refused the introspection result: ${err.message}`);
  }
}

if (introspected) {
  mkdirSync(out, { recursive: true });
  const introspectedPath = join(out, 'introspected.graphql');
  const publishedPath = join(root, 'schema.graphql');
  writeFileSync(introspectedPath, printSchema(introspected) + '\n');
  console.log(`wrote ${introspectedPath}`);

  // 2. graphql-inspector: schema.graphql (old) against the introspection (new).
  // It exits 1 on breaking changes only, so its output is read as well: any
  // listed change, breaking, dangerous or safe, fails.
  const inspector = spawnSync('npx', ['--no', '--', 'graphql-inspector', 'diff', publishedPath, introspectedPath], {
    cwd: ecosystem,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  const inspectorOutput = `${inspector.stdout ?? ''}${inspector.stderr ?? ''}`.trim();
  console.log(inspectorOutput.split('\n').map((l) => `   inspector: ${l}`).join('\n'));
  if (inspector.error) fail(`graphql-inspector did not run: ${inspector.error.message}`);
  else if (inspector.status !== 0) fail(`graphql-inspector diff exited ${inspector.status}`);
  else if (!/No changes detected/.test(inspectorOutput) || /Detected the following changes/.test(inspectorOutput)) {
    fail('graphql-inspector diff reports changes between schema.graphql and the live introspection');
  }

  // 3. graphql-js: both schemas printed in a canonical order must be equal
  // (catches what graphql-inspector does not compare, such as the schema
  // description). async-graphql 7 answers `__schema { description }` with the
  // description of the __Schema type itself, a constant no SDL holds; that
  // one text is set aside (and said so), any other schema description counts.
  let published;
  try {
    published = buildSchema(readFileSync(publishedPath, 'utf8'));
  } catch (err) {
    fail(`schema.graphql does not build: ${err.message}`);
  }
  if (published) {
    let live = introspected;
    if (live.description === ASYNC_GRAPHQL_SCHEMA_DESCRIPTION && !published.description) {
      console.log('   note: the live __schema.description is async-graphql\'s constant description of the __Schema type; not compared');
      live = new GraphQLSchema({ ...live.toConfig(), description: undefined });
    }
    const publishedPrint = printSchema(lexicographicSortSchema(published));
    const livePrint = printSchema(lexicographicSortSchema(live));
    if (publishedPrint !== livePrint) {
      const a = join(out, 'schema.sorted.graphql');
      const b = join(out, 'introspected.sorted.graphql');
      writeFileSync(a, publishedPrint + '\n');
      writeFileSync(b, livePrint + '\n');
      const diff = spawnSync('diff', ['-u', a, b], { encoding: 'utf8' });
      const lines = (diff.stdout || diff.error?.message || '').split('\n');
      console.log(lines.slice(0, 60).map((l) => `   printSchema: ${l}`).join('\n'));
      if (lines.length > 60) console.log(`   printSchema: … ${lines.length - 60} more lines in diff -u ${a} ${b}`);
      fail('printSchema of schema.graphql and of the live introspection differ (sorted; diff above)');
    } else {
      console.log(`   printSchema: schema.graphql and the live introspection print identically (sorted, ${publishedPrint.split('\n').length} lines)`);
    }
  }
}

// 4. Hostile introspections, which must be refused before they run.
const nest = (depth, open, leaf) => `${open.repeat(depth)}${leaf}${' }'.repeat(depth * (open.match(/{/g) ?? []).length)}`;
const probes = [
  {
    name: 'an ofType chain 20 deep',
    query: `{ __type(name: "Customer") { fields { type { ${nest(20, 'ofType { ', 'name')} } } } }`,
  },
  {
    name: 'fields { type { … } } nested 10 times',
    query: `{ __type(name: "Customer") { ${nest(10, 'fields { type { ', 'name')} } }`,
  },
  {
    name: '__schema under 31 aliases',
    query: `{ ${Array.from({ length: 31 }, (_, i) => `s${i}: __schema { types { name fields { name } } }`).join(' ')} }`,
  },
];
for (const probe of probes) {
  const res = await post(probe.query);
  const codes = (res.body?.errors ?? []).map((e) => e.extensions?.code);
  const summary = `${res.status} ${res.body ? describeErrors(res.body.errors) || 'no errors' : res.text.slice(0, 200)}`;
  if (!codes.includes('QUERY_TOO_COMPLEX')) {
    fail(`hostile introspection (${probe.name}) was not refused with QUERY_TOO_COMPLEX: ${summary}`);
  } else if (res.body?.data != null) {
    fail(`hostile introspection (${probe.name}) was refused but still answered data`);
  } else {
    console.log(`   refused as expected: ${probe.name}: ${summary}`);
  }
}

if (failures.length) {
  console.log(`schema: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log(`schema: the live introspection equals schema.graphql (graphql-inspector: no changes); ${probes.length} hostile introspections refused with QUERY_TOO_COMPLEX`);
