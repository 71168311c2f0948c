// GraphiQL as a person meets it, in headless Chromium: the page c360 serves
// at /graphql must load from this server alone (every request same-origin,
// none failed or >= 400, no CSP violation or script error), render, list
// `Customer` in the documentation explorer (Query → customer → Customer),
// and, in this `serve --seed-demo --dev` session, open with the demo token,
// the README's profile query and the showcase customer, so that pressing
// Execute shows that customer's orders: the same JSON as the query POSTed
// directly. Screenshot: $C360_OUT/graphiql.png.
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
const TIMEOUT = 30_000;

// Problems the page reports on its own (network, console, exceptions),
// collected while the steps run and reported together at the end.
const problems = [];
const requests = [];

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
  summary =
    `graphiql: ${requests.length} requests, all to ${origin}; docs list ${title} (${customerFields.length} fields); ` +
    `Profile of ${customerId} ran with the demo token: ${orders.length} orders (${orders[0]}…), equal to a direct POST; ${screenshot}`;
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
