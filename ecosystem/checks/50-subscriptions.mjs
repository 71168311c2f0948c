// Subscriptions as client teams consume them: graphql-ws (the reference
// implementation of the graphql-transport-ws protocol, which Apollo Client,
// urql and Relay use) over the `ws` package, on the same /graphql URL as
// HTTP, with the staff token in the connection_init payload.
//
// Asserted: two subscriptions to `customerEvents` of the demo customer share
// one connection, one for every type and one for `order.placed` only; an
// order posted over HTTP (`orderIngest`, PAID, as the staff token, which may
// write every domain) reaches both through the client within 10 s as
// `order.placed` events about that customer and that order (the unfiltered
// one also gets `order.paid`, the filtered one nothing else); a token whose
// signature does not verify is refused when the connection is initialised,
// closed with 4403, as both onNonLazyError and the `closed` event report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { C360_URL: url, C360_TOKEN: token, C360_CUSTOMER_ID: customerId, C360_OUT: out } = process.env;
if (!url || !token || !customerId || !out) {
  console.error('subscriptions: C360_URL, C360_TOKEN, C360_CUSTOMER_ID and C360_OUT must be set (run through ecosystem/run.sh)');
  process.exit(1);
}
const wsUrl = url.replace(/^http/, 'ws');
const DEADLINE_MS = 10_000;
// The server follows the outbox from its end once a subscriber is there,
// on its next poll (--subscriptions-poll-interval, 100 ms): an order posted
// before that would be "before the subscription". The protocol has no
// "subscribed" message, so the check waits this long after subscribing.
const SETTLE_MS = 1_000;
const failures = [];
const fail = (message) => {
  failures.push(message);
  console.log(`FAIL ${message}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const describeErrors = (errors) =>
  (errors ?? []).map((e) => `${e.extensions?.code ?? 'no code'}: ${e.message}`).join('; ');

const FEED = `subscription Feed($id: ID!, $types: [String!]) {
  customerEvents(customerId: $id, types: $types) { id type occurredAt data customer { id } }
}`;

/** A subscription of `client`: every event it receives, and how it ended. */
function subscribe(client, name, variables) {
  const sub = { name, events: [], errors: [], ended: null, waiters: [] };
  sub.dispose = client.subscribe(
    { query: FEED, operationName: 'Feed', variables },
    {
      next(result) {
        if (result.errors?.length) sub.errors.push(describeErrors(result.errors));
        const event = result.data?.customerEvents;
        if (event) sub.events.push(event);
        for (const w of sub.waiters) w();
      },
      error(err) {
        sub.ended = `error: ${err?.code ? `closed ${err.code} ${err.reason}` : Array.isArray(err) ? describeErrors(err) : err?.message ?? err}`;
        for (const w of sub.waiters) w();
      },
      complete() {
        sub.ended ??= 'complete';
        for (const w of sub.waiters) w();
      },
    },
  );
  return sub;
}

/** Waits until `sub` holds an event passing `test`, or DEADLINE_MS from `since`. */
async function eventOf(sub, test, since) {
  for (;;) {
    const found = sub.events.find(test);
    if (found) return { event: found, ms: Date.now() - since };
    if (sub.ended || Date.now() - since >= DEADLINE_MS) return { event: null, ms: Date.now() - since };
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, DEADLINE_MS - (Date.now() - since));
      sub.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

// --- The staff token's connection and its two subscriptions ---------------

const closes = [];
let acknowledged = false;
const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: {
    connected: () => {
      acknowledged = true;
    },
    closed: (event) => closes.push(event),
  },
});
const all = subscribe(client, 'every type', { id: customerId });
const placed = subscribe(client, 'order.placed only', { id: customerId, types: ['order.placed'] });
for (let waited = 0; !acknowledged && waited < DEADLINE_MS; waited += 50) await sleep(50);
if (!acknowledged) {
  console.error(`subscriptions: no connection_ack from ${wsUrl} within ${DEADLINE_MS / 1000} s (closed: ${closes.map((c) => `${c.code} ${c.reason}`).join(', ') || 'no'}; ${all.ended ?? ''})`);
  await client.dispose();
  process.exit(1);
}
await sleep(SETTLE_MS);
for (const sub of [all, placed]) {
  if (sub.ended || sub.errors.length) fail(`the ${sub.name} subscription ended before the order was posted: ${sub.ended ?? sub.errors.join('; ')}`);
}

// --- An order for the demo customer, posted over HTTP ---------------------

const externalRef = `eco-subscriptions-${Date.now()}`;
const posted = Date.now();
const ingest = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${token}`,
  },
  body: JSON.stringify({
    query: `mutation Ingest($input: OrderIngestInput!) { orderIngest(input: $input) { id orderNumber externalRef status } }`,
    variables: {
      input: {
        customerId,
        externalRef,
        status: 'PAID',
        channel: 'POS',
        currencyCode: 'USD',
        total: 2400,
        lines: [{ sku: 'LIP-001', productName: 'Lipstick', quantity: 2, unitPrice: 1200 }],
      },
    },
  }),
}).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));
const order = ingest.body?.data?.orderIngest;
if (ingest.status !== 200 || !order || ingest.body.errors?.length) {
  console.error(`subscriptions: orderIngest for ${customerId} was answered ${ingest.status}: ${describeErrors(ingest.body?.errors) || JSON.stringify(ingest.body)}`);
  await client.dispose();
  process.exit(1);
}
console.log(`   posted order ${order.orderNumber} (${order.id}, ${externalRef}) for ${customerId} over HTTP`);

// --- The events, through the client ----------------------------------------

const isOurs = (type) => (e) => e.type === type && e.data?.order?.id === order.id;
const timings = [];
for (const [sub, type] of [
  [placed, 'order.placed'],
  [all, 'order.placed'],
  [all, 'order.paid'],
]) {
  const { event, ms } = await eventOf(sub, isOurs(type), posted);
  if (!event) {
    fail(
      `no ${type} event for order ${order.id} reached the ${sub.name} subscription within ${DEADLINE_MS / 1000} s ` +
        `(received: ${sub.events.map((e) => e.type).join(', ') || 'nothing'}${sub.ended ? `; ${sub.ended}` : ''}${sub.errors.length ? `; errors: ${sub.errors.join('; ')}` : ''})`,
    );
    continue;
  }
  timings.push(`${type} → ${sub.name} in ${ms} ms`);
  const problems = [];
  if (event.customer?.id !== customerId) problems.push(`customer ${JSON.stringify(event.customer)}, expected ${customerId}`);
  if (!/^evt_[0-9A-HJKMNP-TV-Z]{26}$/.test(event.id)) problems.push(`id ${JSON.stringify(event.id)} is not evt_ + a ULID`);
  if (Number.isNaN(Date.parse(event.occurredAt))) problems.push(`occurredAt ${JSON.stringify(event.occurredAt)} is not a date-time`);
  if (event.data.order.orderNumber !== order.orderNumber || event.data.order.externalRef !== externalRef) {
    problems.push(`data.order ${JSON.stringify(event.data.order)} is not order ${order.orderNumber} (${externalRef})`);
  }
  if (event.data.order.status !== 'PAID') problems.push(`data.order.status ${event.data.order.status}, expected PAID`);
  if (problems.length) fail(`the ${type} event of the ${sub.name} subscription: ${problems.join('; ')}`);
}
// Whatever else the order causes (points earned, a tier change) has had its
// poll by now; the filtered subscription must have received nothing else.
await sleep(500);
const foreign = placed.events.filter((e) => e.type !== 'order.placed' || e.customer?.id !== customerId);
if (foreign.length) fail(`the order.placed-only subscription also received ${foreign.map((e) => `${e.type} about ${e.customer?.id}`).join(', ')}`);
if (placed.events.length !== 1) fail(`the order.placed-only subscription received ${placed.events.length} events, expected 1`);
const alsoSeen = [...new Set(all.events.map((e) => e.type))];
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'subscriptions.json'), JSON.stringify({ order, every: all.events, placed: placed.events }, null, 2));

all.dispose();
placed.dispose();
await client.dispose();
for (const sub of [all, placed]) {
  if (sub.ended && sub.ended !== 'complete') fail(`the ${sub.name} subscription ended with ${sub.ended}`);
}
const abnormal = closes.filter((c) => c.code !== 1000);
if (abnormal.length) fail(`the staff connection was closed with ${abnormal.map((c) => `${c.code} ${c.reason}`).join(', ')}`);

// --- A token that does not verify ------------------------------------------

// The staff token with its signature altered: well formed, not c360's.
const [head, claims, signature] = token.split('.');
const forged = `${head}.${claims}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
const refusal = await new Promise((resolve) => {
  const seen = { nonLazy: null, closed: null };
  const done = () => seen.nonLazy && seen.closed && resolve(seen);
  const timer = setTimeout(() => resolve(seen), DEADLINE_MS);
  const bad = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${forged}` },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: (err) => {
      seen.nonLazy = err;
      done();
    },
    on: {
      connected: () => {
        seen.connected = true;
      },
      closed: (event) => {
        seen.closed = event;
        done();
      },
    },
  });
  seen.dispose = () => {
    clearTimeout(timer);
    return bad.dispose();
  };
});
await refusal.dispose();
const describeClose = (c) => (c ? `${c.code ?? c.message ?? c} ${c.reason ?? ''}`.trim() : 'nothing');
if (refusal.connected) fail('a token with a forged signature was acknowledged (connection_ack)');
if (refusal.nonLazy?.code !== 4403) {
  fail(`onNonLazyError reported ${describeClose(refusal.nonLazy)} for a forged token, expected the close code 4403`);
}
if (refusal.closed?.code !== 4403) fail(`the closed event reported ${describeClose(refusal.closed)} for a forged token, expected 4403`);
else console.log(`   a forged token was refused: closed ${refusal.closed.code} ${refusal.closed.reason}`);

if (failures.length) {
  console.log(`subscriptions: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log(
  `subscriptions: graphql-ws over ws at ${wsUrl}: order ${order.orderNumber} posted over HTTP reached both subscriptions of ${customerId} ` +
    `(${timings.join(', ')}; every type saw ${alsoSeen.join(', ')}); a forged token was closed with 4403`,
);
