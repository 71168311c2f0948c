// c360 as an Apollo Federation v2 subgraph behind a real Apollo Gateway.
//
// In this process: a second subgraph written for the check, a product
// catalogue (@apollo/subgraph's buildSubgraphSchema), and an Apollo Gateway
// composing both with IntrospectAndCompose (a composition error fails the
// check), each served by @apollo/server on port 0. c360 refers to products by
// sku (`OrderLine.product`, `Product @key(fields: "sku", resolvable: false)`);
// the catalogue resolves them and refers back to c360's customers, which the
// gateway then resolves through c360's `_entities`.
//
// Asserted: the demo customer's orders read through the gateway equal what
// c360 answers directly, and each line's product comes from the catalogue for
// that line's sku; `_entities` through the gateway is no weaker than c360
// itself: a partner without `pii:read` sees the masked email, staff the real
// one, a customer only itself, and a caller without a token nothing (the
// gateway forwards the caller's Authorization and never its own).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

const {
  C360_URL: c360Url,
  C360_TOKEN: staffToken,
  C360_CUSTOMER_ID: customerId,
  C360_BIN: bin,
  C360_OUT: out,
} = process.env;
if (!c360Url || !staffToken || !customerId || !bin || !out) {
  console.error('federation: C360_URL, C360_TOKEN, C360_CUSTOMER_ID, C360_BIN and C360_OUT must be set (run through ecosystem/run.sh)');
  process.exit(1);
}

const failures = [];
const fail = (message) => {
  failures.push(message);
  console.log(`FAIL ${message}`);
};
const describeErrors = (errors) =>
  (errors ?? []).map((e) => `${e.extensions?.code ?? 'no code'}: ${e.message}`).join('; ');

/** POSTs a GraphQL request; the JSON body, or a failure naming `what`. */
async function post(url, query, variables, token, what) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: ${res.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
}

/** `data` of a request that must succeed without errors. */
async function data(url, query, variables, token, what) {
  const body = await post(url, query, variables, token, what);
  if (body.errors?.length || !body.data) {
    throw new Error(`${what}: ${describeErrors(body.errors) || 'no data'}`);
  }
  return body.data;
}

/** A token from `c360 token --dev` (the server runs with --dev). */
function mint(...args) {
  const run = spawnSync(bin, ['token', '--dev', '--ttl', '15m', ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`c360 token ${args.join(' ')}: ${run.stderr}`);
  return run.stdout.trim();
}

// --- What c360 answers directly -------------------------------------------

// The demo customer's orders with each line's product: `productFields` are
// the catalogue's (c360 knows only the sku).
const orders = (productFields) => `query Orders($id: ID!) {
  customer(id: $id) {
    id
    orders(first: 10) { edges { node {
      orderNumber
      lines(first: 20) { edges { node { sku quantity product { sku ${productFields} } } } }
    } } }
  }
}`;
const direct = await data(c360Url, orders(''), { id: customerId }, staffToken, 'c360 orders');
const directOrders = direct.customer?.orders?.edges.map((e) => e.node) ?? [];
const directSkus = new Set(directOrders.flatMap((o) => o.lines.edges.map((l) => l.node.sku)));
if (directOrders.length === 0 || directSkus.size === 0) {
  console.error(`federation: the demo customer ${customerId} has no orders with lines to read through the gateway`);
  process.exit(1);
}
const others = await data(c360Url, '{ customers(first: 2) { nodes { id } } }', {}, staffToken, 'c360 customers');
const otherId = others.customers.nodes.map((c) => c.id).find((id) => id !== customerId);
const restockSku = [...directSkus][0];

// --- The catalogue subgraph -------------------------------------------------

// A catalogue knows products by sku; its own data is whatever the sku says
// (the family is the prefix) plus the customers waiting for a restock, whom
// it knows only by c360 id.
const catalogueTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  "A product of the catalogue."
  type Product @key(fields: "sku") {
    sku: String!
    "The product family: the sku's prefix."
    family: String!
    "The product's page."
    url: String!
    "Customers waiting to hear when the product is back in stock."
    restockSubscribers: [Customer]!
  }

  type Customer @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    product(sku: String!): Product
  }
`);
const restockSubscribers = new Map([[restockSku, [customerId, otherId]]]);
const askedByReference = new Set();
const product = (sku) => {
  const match = /^([A-Z]+)-\d+$/.exec(sku);
  return match ? { sku, family: match[1], url: `https://catalogue.example/products/${sku}` } : null;
};
const catalogue = new ApolloServer({
  // No usage reporting here, so no traces for the gateway either.
  plugins: [ApolloServerPluginInlineTraceDisabled()],
  schema: buildSubgraphSchema({
    typeDefs: catalogueTypeDefs,
    resolvers: {
      Query: { product: (_, { sku }) => product(sku) },
      Product: {
        __resolveReference: ({ sku }) => {
          askedByReference.add(sku);
          return product(sku);
        },
        restockSubscribers: ({ sku }) => (restockSubscribers.get(sku) ?? []).map((id) => ({ id })),
      },
    },
  }),
});
const { url: catalogueUrl } = await startStandaloneServer(catalogue, { listen: { host: '127.0.0.1', port: 0 } });

// --- The gateway ------------------------------------------------------------

// Operations carry the caller's Authorization to c360, and nothing when the
// caller sent none; only loading the schema (no caller) uses the check's
// staff token, as a gateway's own service credential would. `kind` is
// GraphQLDataSourceRequestKind, whose values @apollo/gateway does not export.
class C360DataSource extends RemoteGraphQLDataSource {
  willSendRequest({ kind, request, context }) {
    const authorization = kind === 'incoming operation' ? context?.authorization : `Bearer ${staffToken}`;
    if (authorization) request.http.headers.set('authorization', authorization);
  }
}
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: 'c360', url: c360Url },
      { name: 'catalogue', url: catalogueUrl },
    ],
  }),
  buildService: ({ name, url }) => (name === 'c360' ? new C360DataSource({ url }) : new RemoteGraphQLDataSource({ url })),
  logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
});
let supergraphSdl = '';
gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
  supergraphSdl = coreSupergraphSdl;
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
let gatewayUrl;
try {
  ({ url: gatewayUrl } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  }));
} catch (err) {
  // IntrospectAndCompose throws the composition errors, one per line.
  console.error(`federation: the gateway did not compose c360 and the catalogue:\n${err.message}`);
  for (const e of err.errors ?? []) console.error(`  ${e.extensions?.code ?? ''} ${e.message}`);
  await catalogue.stop();
  process.exit(1);
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'federation-supergraph.graphql'), supergraphSdl);

// --- Orders and their products through the gateway -------------------------

const stitched = await data(gatewayUrl, orders('family url'), { id: customerId }, staffToken, 'gateway orders');
const gatewayOrders = stitched.customer?.orders?.edges.map((e) => e.node) ?? [];
const numbers = (orders) => orders.map((o) => o.orderNumber);
if (JSON.stringify(numbers(gatewayOrders)) !== JSON.stringify(numbers(directOrders))) {
  fail(`order numbers through the gateway ${JSON.stringify(numbers(gatewayOrders))} differ from c360's ${JSON.stringify(numbers(directOrders))}`);
}
let lines = 0;
gatewayOrders.forEach((order, i) => {
  const directLines = directOrders[i]?.lines.edges.map((e) => e.node) ?? [];
  const gatewayLines = order.lines.edges.map((e) => e.node);
  if (gatewayLines.length !== directLines.length) {
    fail(`order ${order.orderNumber}: ${gatewayLines.length} lines through the gateway, ${directLines.length} from c360`);
  }
  gatewayLines.forEach((line, j) => {
    lines += 1;
    const where = `order ${order.orderNumber} line ${j + 1}`;
    if (line.sku !== directLines[j]?.sku || line.quantity !== directLines[j]?.quantity) {
      fail(`${where}: ${line.sku} × ${line.quantity} through the gateway, ${directLines[j]?.sku} × ${directLines[j]?.quantity} from c360`);
    }
    const expected = product(line.sku);
    if (!line.product || JSON.stringify(line.product) !== JSON.stringify(expected)) {
      fail(`${where}: product ${JSON.stringify(line.product)}, expected the catalogue's ${JSON.stringify(expected)}`);
    }
  });
});
const sorted = (set) => [...set].sort();
if (JSON.stringify(sorted(askedByReference)) !== JSON.stringify(sorted(directSkus))) {
  fail(`the gateway asked the catalogue for ${JSON.stringify(sorted(askedByReference))}, the lines hold ${JSON.stringify(sorted(directSkus))}`);
}

// --- c360's `_entities` through the gateway ---------------------------------

const partnerToken = mint('--role', 'PARTNER', '--scope', 'customers:read', '--sub', 'federation-check');
const customerToken = mint('--role', 'CUSTOMER', '--sub', customerId.split('/').pop());
const SUBSCRIBERS = `query Subscribers($sku: String!) { product(sku: $sku) { sku restockSubscribers { id email } } }`;
const NODE = `query Email($id: ID!) { node(id: $id) { ... on Customer { id email } } }`;

const viaGateway = async (token, what) => post(gatewayUrl, SUBSCRIBERS, { sku: restockSku }, token, what);
const emailFromC360 = async (token, id) => (await data(c360Url, NODE, { id }, token, 'c360 node')).node?.email ?? null;
const results = {};

// Staff: both subscribers, unmasked, as c360 answers staff.
{
  const body = await viaGateway(staffToken, 'gateway subscribers (staff)');
  results.staff = body;
  const got = body.data?.product?.restockSubscribers ?? [];
  const want = [
    { id: customerId, email: await emailFromC360(staffToken, customerId) },
    { id: otherId, email: await emailFromC360(staffToken, otherId) },
  ];
  if (body.errors?.length) fail(`staff through the gateway: ${describeErrors(body.errors)}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`staff through the gateway saw ${JSON.stringify(got)}, c360 answers ${JSON.stringify(want)}`);
}

// A partner without pii:read: masked, exactly as c360 masks it.
let maskedEmail;
{
  const body = await viaGateway(partnerToken, 'gateway subscribers (partner)');
  results.partner = body;
  const got = body.data?.product?.restockSubscribers ?? [];
  maskedEmail = await emailFromC360(partnerToken, customerId);
  const unmasked = await emailFromC360(staffToken, customerId);
  if (body.errors?.length) fail(`partner through the gateway: ${describeErrors(body.errors)}`);
  if (!maskedEmail || maskedEmail === unmasked || !maskedEmail.includes('***')) {
    fail(`c360 does not mask the email for a partner without pii:read (${maskedEmail})`);
  }
  if (got[0]?.email !== maskedEmail) fail(`a partner without pii:read saw ${got[0]?.email} through the gateway, c360 answers it ${maskedEmail}`);
  if (got.some((c) => c?.email === unmasked)) fail('a partner without pii:read saw an unmasked email through the gateway');
}

// The customer itself: only itself; the other subscriber is null.
{
  const body = await viaGateway(customerToken, 'gateway subscribers (customer)');
  results.customer = body;
  const got = body.data?.product?.restockSubscribers;
  const want = [{ id: customerId, email: await emailFromC360(customerToken, customerId) }, null];
  if (body.errors?.length) fail(`the customer through the gateway: ${describeErrors(body.errors)}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`the customer saw ${JSON.stringify(got)} through the gateway, expected ${JSON.stringify(want)}`);
}

// No token: the catalogue answers, c360 refuses every customer.
{
  const body = await viaGateway(undefined, 'gateway subscribers (anonymous)');
  results.anonymous = body;
  const got = body.data?.product?.restockSubscribers;
  const codes = (body.errors ?? []).map((e) => e.extensions?.code);
  if (JSON.stringify(got) !== JSON.stringify([null, null])) fail(`a caller without a token saw ${JSON.stringify(got)} through the gateway`);
  if (codes.length === 0 || !codes.every((c) => c === 'UNAUTHENTICATED')) {
    fail(`a caller without a token got ${describeErrors(body.errors) || 'no errors'} through the gateway, expected UNAUTHENTICATED`);
  }
}
writeFileSync(join(out, 'federation.json'), JSON.stringify({ orders: stitched, subscribers: results }, null, 2));

await server.stop();
await catalogue.stop();

if (failures.length) {
  console.log(`federation: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log(
  `federation: the gateway composed c360 + catalogue; ${gatewayOrders.length} orders of ${customerId} match c360, ` +
    `${lines} lines got their product from the catalogue (${askedByReference.size} skus); ` +
    `_entities through the gateway: partner masked (${maskedEmail}), staff unmasked, customer sees only itself, no token refused`,
);
