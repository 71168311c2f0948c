// The GraphQL-over-HTTP conformance audit of graphql-http (the reference
// implementation of the spec), run against the live server with the real
// global fetch and no token: every audit, MUST, SHOULD and MAY, must be `ok`.
import { serverAudits } from 'graphql-http';

const url = process.env.C360_URL;
if (!url) {
  console.error('audit: C360_URL is not set (run through ecosystem/run.sh)');
  process.exit(1);
}

// The audits send anonymous requests, which the server rate-limits per IP
// (60 a minute by default). A 429 says nothing about conformance, and some
// audits would even pass on it ("MAY use 4xx …"), so every response is
// watched: the requests go out through the global fetch untouched, and an
// audit during which any response was 429 waits the Retry-After and runs
// again (at most 3 times).
let rateLimited = null;
const fetchFn = async (...args) => {
  const res = await globalThis.fetch(...args);
  if (res.status === 429) rateLimited = Number(res.headers.get('retry-after')) || 1;
  return res;
};
const audits = serverAudits({ url, fetchFn });
const total = audits.length;
const level = (name) => name.split(' ')[0]; // MUST, SHOULD or MAY

async function run(audit) {
  for (let attempt = 1; ; attempt++) {
    rateLimited = null;
    let result;
    try {
      result = await audit.fn();
    } catch (err) {
      // graphql-http throws only on fatal errors (server unreachable, …)
      return { id: audit.id, name: audit.name, status: 'error', reason: `fatal: ${err?.stack ?? err}` };
    }
    if (rateLimited === null) return result;
    if (attempt >= 3) {
      return { ...result, status: 'error', reason: `still rate-limited (429) after ${attempt} attempts; last result: ${result.status} ${result.reason ?? ''}` };
    }
    console.log(`   ${audit.id} was answered 429 (rate limit); running it again in ${rateLimited}s`);
    await new Promise((r) => setTimeout(r, rateLimited * 1000));
  }
}

const results = [];
for (const audit of audits) {
  const result = await run(audit);
  results.push(result);
  const line = `${result.status === 'ok' ? 'ok   ' : result.status.padEnd(5)} ${result.id} ${result.name}`;
  console.log(line);
  if (result.status !== 'ok') {
    let body = '';
    try {
      body = result.response ? (await result.response.text()).slice(0, 300) : '';
    } catch {
      /* body already read by the audit */
    }
    const res = result.response;
    console.log(`        reason: ${result.reason}`);
    if (res) {
      console.log(`        response: ${res.status} content-type=${res.headers.get('content-type')}${body ? ` body=${body}` : ''}`);
    }
  }
}

const ok = results.filter((r) => r.status === 'ok').length;
const failed = results.filter((r) => r.status !== 'ok');
const byLevel = {};
for (const r of failed) byLevel[level(r.name)] = (byLevel[level(r.name)] ?? 0) + 1;
const detail = failed.length
  ? ` (not ok: ${Object.entries(byLevel).map(([l, n]) => `${n} ${l}`).join(', ')}: ${failed.map((r) => r.id).join(' ')})`
  : '';
console.log(`audit: ${ok} of ${total} ok${detail}`);
process.exit(ok === total ? 0 : 1);
