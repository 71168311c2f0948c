// GraphiQL as a person meets it, in headless Chromium: the page c360 serves
// at /graphql must load from this server alone (every request same-origin,
// none failed or >= 400, no CSP violation or script error), render, list
// `Customer` in the documentation explorer (Query → customer → Customer),
// and, in this `serve --seed-demo --dev` session, open with the demo token,
// the README's profile query and the showcase customer, so that pressing
// Execute shows that customer's orders: the same JSON as the query POSTed
// directly. Screenshot: $C360_OUT/graphiql.png.
//
// Then a subscription typed into the query editor (`customerEvents` of that
// customer, `order.placed` only) runs over a WebSocket to the page's own
// /graphql (graphql-transport-ws, the vendored graphql-ws client; the CSP's
// connect-src 'self' must let it through), with the Headers tab's token in
// connection_init; an order posted over HTTP by the check must appear in the
// result pane as that event, and Stop must complete the subscription and
// close the socket. Screenshot: $C360_OUT/graphiql-subscription.png.
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { chromium } from 'playwright-core';

const { C360_URL: url, C360_TOKEN: token, C360_CUSTOMER_ID: customerId, C360_OUT: out } = process.env;
if (!url || !token || !customerId || !out) {
  console.error('graphiql: C360_URL, C360_TOKEN, C360_CUSTOMER_ID and C360_OUT must be set (run through ecosystem/run.sh)');
  process.exit(1);
}
const origin = new URL(url).origin;
const screenshot = join(out, 'graphiql.png');
const subscriptionScreenshot = join(out, 'graphiql-subscription.png');
const TIMEOUT = 30_000;
// The server follows the outbox from its end once a subscriber is there, on
// its next poll (100 ms): the order is posted this long after `subscribe`.
const SETTLE_MS = 1_000;
const SUBSCRIPTION = `subscription OrderFeed($id: ID!) {
  customerEvents(customerId: $id, types: ["order.placed"]) {
    id
    type
    occurredAt
    data
    customer {
      id
    }
  }
}
`;

// Problems the page reports on its own (network, console, exceptions),
// collected while the steps run and reported together at the end.
const problems = [];
const requests = [];
// The page's WebSockets, with the graphql-transport-ws messages each way.
const sockets = [];

/** The text of every CodeMirror editor on the page, by the GraphiQL editor it belongs to. */
async function editors(page) {
  return page.evaluate(() => {
    const value = (selector) => document.querySelector(`${selector} .CodeMirror`)?.CodeMirror?.getValue() ?? null;
    return {
      query: value('.graphiql-query-editor'),
      variables: value('.graphiql-editor-tool .graphiql-editor:nth-of-type(1)'),
      headers: value('.graphiql-editor-tool .graphiql-editor:nth-of-type(2)'),
      result: value('.result-window'),
    };
  });
}

async function step(name, fn) {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${name}: ${err?.message ?? err}`);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run',
    '--disable-quic',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let failure = null;
let summary = '';
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('request', (r) => {
    requests.push(r);
    const target = r.url();
    if (!target.startsWith('data:') && new URL(target).origin !== origin) {
      problems.push(`request to another origin: ${r.method()} ${target}`);
    }
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  // CSP violations ("Refused to load …") are console errors too.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('websocket', (ws) => {
    const socket = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(socket);
    const parse = (payload) => {
      try {
        return JSON.parse(payload);
      } catch {
        return { unparsed: String(payload) };
      }
    };
    ws.on('framesent', (f) => socket.sent.push(parse(f.payload)));
    ws.on('framereceived', (f) => socket.received.push(parse(f.payload)));
    ws.on('socketerror', (e) => problems.push(`WebSocket error on ${ws.url()}: ${e}`));
    ws.on('close', () => {
      socket.closed = true;
    });
  });

  const response = await step('open the page', () => page.goto(url, { waitUntil: 'load' }));
  if (response.status() !== 200) throw new Error(`GET ${url} answered ${response.status()}`);
  if (!response.headers()['content-security-policy']) throw new Error('the page has no Content-Security-Policy');

  await step('GraphiQL renders', () => page.locator('.graphiql-container .graphiql-query-editor .CodeMirror').waitFor());

  // The defaults of a --dev demo session, as the editors hold them.
  const opened = await editors(page);
  const expectedHeaders = { Authorization: `Bearer ${token}` };
  if (!opened.query?.startsWith('query Profile($id: ID!)')) {
    throw new Error(`the query editor does not hold the profile query: ${JSON.stringify(opened.query?.slice(0, 80))}`);
  }
  if (!isDeepStrictEqual(JSON.parse(opened.headers ?? 'null'), expectedHeaders)) {
    throw new Error(`the headers editor holds ${JSON.stringify(opened.headers)}, not the demo token`);
  }
  if (!isDeepStrictEqual(JSON.parse(opened.variables ?? 'null'), { id: customerId })) {
    throw new Error(`the variables editor holds ${JSON.stringify(opened.variables)}, not {"id": "${customerId}"}`);
  }
  if (!(await page.locator('.graphiql-editor-tool .graphiql-editor:nth-of-type(2)').isVisible())) {
    throw new Error('the headers editor is not shown');
  }

  // Documentation explorer: Query → customer → Customer.
  await step('open the documentation explorer', async () => {
    await page.getByRole('button', { name: /Show Documentation Explorer/i }).click();
    await page.locator('.graphiql-doc-explorer').waitFor();
  });
  await step('browse to Query', () => page.locator('.graphiql-doc-explorer a', { hasText: /^Query$/ }).first().click());
  await step('browse to Query.customer', () =>
    page.locator('.graphiql-doc-explorer a.graphiql-doc-explorer-field-name', { hasText: /^customer$/ }).click(),
  );
  await step('browse to Customer', () =>
    page.locator('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name', { hasText: /^Customer$/ }).first().click(),
  );
  const title = await step('the explorer shows Customer', async () => {
    const heading = page.locator('.graphiql-doc-explorer-title');
    await heading.filter({ hasText: /^Customer$/ }).waitFor();
    return heading.innerText();
  });
  const customerFields = await page.locator('.graphiql-doc-explorer a.graphiql-doc-explorer-field-name').allInnerTexts();
  for (const field of ['orders', 'email', 'loyalty']) {
    if (!customerFields.includes(field)) throw new Error(`the Customer page lists no \`${field}\`: ${customerFields.join(', ')}`);
  }

  // Execute the profile query as it opened, and compare with a direct POST.
  const executed = page.waitForRequest(
    (r) => r.method() === 'POST' && r.url() === url && (r.postData() ?? '').includes('query Profile'),
  );
  await step('press Execute', () => page.getByRole('button', { name: /Execute query/i }).click());
  const sent = await step('GraphiQL sends the query', () => executed);
  if (sent.headers().authorization !== `Bearer ${token}`) {
    throw new Error(`GraphiQL sent Authorization ${JSON.stringify(sent.headers().authorization)}, not the demo token`);
  }
  const shown = await step('the result appears', async () => {
    await page.waitForFunction(
      () => (document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '').includes('"data"'),
      null,
      { timeout: TIMEOUT },
    );
    return JSON.parse((await editors(page)).result);
  });
  const direct = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: opened.query, variables: { id: customerId } }),
  }).then((r) => r.json());
  if (direct.errors) throw new Error(`the direct POST failed: ${JSON.stringify(direct.errors)}`);
  if (!isDeepStrictEqual(shown, direct)) {
    throw new Error(`the result pane differs from the direct POST:\n${JSON.stringify(shown).slice(0, 400)}\n${JSON.stringify(direct).slice(0, 400)}`);
  }
  const orders = direct.data.customer.orders.edges.map((e) => e.node.orderNumber);
  if (direct.data.customer.id !== customerId || orders.length === 0) {
    throw new Error(`the profile has no orders for ${customerId}: ${JSON.stringify(direct.data.customer.orders)}`);
  }

  // Bring the orders into view: CodeMirror renders only visible lines, so
  // the visible text proves the pane shows them (and the screenshot too).
  await page.evaluate(() => {
    const cm = document.querySelector('.result-window .CodeMirror').CodeMirror;
    const line = cm.getValue().split('\n').findIndex((l) => l.includes('"orders"'));
    cm.scrollIntoView({ line: line + 30, ch: 0 });
    cm.scrollIntoView({ line, ch: 0 });
  });
  const visible = await page.locator('.result-window .CodeMirror-lines').innerText();
  if (!visible.includes('"orderNumber"') || !visible.includes(orders[0])) {
    throw new Error(`the result pane does not show the orders (first: ${orders[0]})`);
  }

  await page.screenshot({ path: screenshot });

  // --- A subscription, typed in GraphiQL, over a WebSocket ----------------
  await step('type the subscription', async () => {
    await page.locator('.graphiql-query-editor .CodeMirror').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(SUBSCRIPTION);
    const typed = (await editors(page)).query;
    if (typed !== SUBSCRIPTION) throw new Error(`the query editor holds ${JSON.stringify(typed)}`);
    // GraphiQL reads the operation off the editor 100 ms after an edit (a
    // debounce); Execute before that would still run `Profile`.
    await page.waitForFunction(
      () => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.operationName === 'OrderFeed',
    );
    await page.waitForTimeout(200);
  });
  await step('press Execute', () => page.getByRole('button', { name: /Execute query/i }).click());
  const socket = await step('GraphiQL subscribes over a WebSocket', async () => {
    const started = Date.now();
    for (;;) {
      const found = sockets.find((s) => s.sent.some((m) => m.type === 'subscribe' && m.payload?.query?.includes('OrderFeed')));
      if (found && found.received.some((m) => m.type === 'connection_ack')) return found;
      const refused = sockets.find((s) => s.closed);
      if (refused) throw new Error(`the WebSocket ${refused.url} closed (received: ${JSON.stringify(refused.received).slice(0, 300)})`);
      if (Date.now() - started > TIMEOUT) {
        throw new Error(`no acknowledged subscription in ${TIMEOUT / 1000} s (sockets: ${JSON.stringify(sockets).slice(0, 400)})`);
      }
      await page.waitForTimeout(50);
    }
  });
  const socketUrl = new URL(socket.url);
  if (socketUrl.protocol !== 'ws:' || socketUrl.host !== new URL(url).host || socketUrl.pathname !== new URL(url).pathname) {
    throw new Error(`GraphiQL opened the WebSocket ${socket.url}, not ${url.replace(/^http/, 'ws')}`);
  }
  const init = socket.sent.find((m) => m.type === 'connection_init');
  if (init?.payload?.Authorization !== `Bearer ${token}`) {
    throw new Error(`connection_init carried ${JSON.stringify(init?.payload)}, not the Headers tab's demo token`);
  }
  const subscribeMessage = socket.sent.find((m) => m.type === 'subscribe');
  if (!isDeepStrictEqual(subscribeMessage.payload.variables, { id: customerId })) {
    throw new Error(`GraphiQL subscribed with the variables ${JSON.stringify(subscribeMessage.payload.variables)}`);
  }
  await page.getByRole('button', { name: /Stop query/i }).waitFor();
  await page.waitForTimeout(SETTLE_MS);

  const externalRef = `eco-graphiql-${Date.now()}`;
  const ingest = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      query: `mutation Ingest($input: OrderIngestInput!) { orderIngest(input: $input) { id orderNumber } }`,
      variables: {
        input: {
          customerId,
          externalRef,
          status: 'PAID',
          channel: 'POS',
          currencyCode: 'USD',
          total: 1200,
          lines: [{ sku: 'LIP-001', productName: 'Lipstick', quantity: 1, unitPrice: 1200 }],
        },
      },
    }),
  }).then((r) => r.json());
  const posted = ingest.data?.orderIngest;
  if (!posted) throw new Error(`orderIngest failed: ${JSON.stringify(ingest.errors ?? ingest)}`);
  const event = await step(`the order.placed event of ${posted.orderNumber} appears in the result pane`, async () => {
    await page.waitForFunction(
      (orderId) => (document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '').includes(orderId),
      posted.id,
      { timeout: 10_000 },
    );
    return JSON.parse((await editors(page)).result);
  });
  const shownEvent = event.data?.customerEvents;
  if (
    event.errors ||
    shownEvent?.type !== 'order.placed' ||
    shownEvent.customer?.id !== customerId ||
    shownEvent.data?.order?.orderNumber !== posted.orderNumber ||
    shownEvent.data?.order?.externalRef !== externalRef
  ) {
    throw new Error(`the result pane shows ${JSON.stringify(event).slice(0, 400)}, not order ${posted.orderNumber}'s order.placed event`);
  }
  const next = socket.received.find((m) => m.type === 'next' && m.payload?.data?.customerEvents?.id === shownEvent.id);
  if (!next) throw new Error(`the event ${shownEvent.id} did not come through the WebSocket`);
  const visibleEvent = await page.locator('.result-window .CodeMirror-lines').innerText();
  if (!visibleEvent.includes('"order.placed"') || !visibleEvent.includes(posted.orderNumber)) {
    throw new Error(`the result pane does not show the event (order ${posted.orderNumber})`);
  }
  await page.screenshot({ path: subscriptionScreenshot });

  // Stop: the subscription completes and the (lazy) socket closes.
  await step('press Stop', () => page.getByRole('button', { name: /Stop query/i }).click());
  await step('the subscription completes and the socket closes', async () => {
    await page.getByRole('button', { name: /Execute query/i }).waitFor();
    const started = Date.now();
    while (!socket.closed) {
      if (Date.now() - started > TIMEOUT) throw new Error('the WebSocket stayed open after Stop');
      await page.waitForTimeout(50);
    }
    if (!socket.sent.some((m) => m.type === 'complete' && m.id === subscribeMessage.id)) {
      throw new Error(`GraphiQL sent no complete for ${subscribeMessage.id}`);
    }
  });

  summary =
    `graphiql: ${requests.length} requests, all to ${origin}; docs list ${title} (${customerFields.length} fields); ` +
    `Profile of ${customerId} ran with the demo token: ${orders.length} orders (${orders[0]}…), equal to a direct POST; ${screenshot}; ` +
    `subscription OrderFeed ran over ${socket.url} with the demo token, order ${posted.orderNumber} posted over HTTP appeared as ` +
    `${shownEvent.type} ${shownEvent.id}, Stop closed the socket; ${subscriptionScreenshot}`;
  // Late network errors (e.g. introspection) count as well.
  await page.waitForLoadState('networkidle');
} catch (err) {
  failure = err;
  const page = browser.contexts()[0]?.pages()[0];
  await page?.screenshot({ path: screenshot }).catch(() => {});
} finally {
  await browser.close();
}

if (failure || problems.length > 0) {
  console.error('graphiql: FAILED');
  if (failure) console.error(`  ${failure.message}`);
  for (const p of problems) console.error(`  ${p}`);
  console.error(`  screenshot: ${screenshot}`);
  process.exit(1);
}
console.log(summary);
