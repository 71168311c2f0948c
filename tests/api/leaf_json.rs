//! Lists of leaf items and customers written as JSON in one pass
//! (`graphql::leaves`) answer exactly what the executor answers. Two
//! gateways on one store, one with `--leaf-json false`, get the same corpus:
//! every field of every leaf type, `__typename`, aliases, cursors and second
//! pages, counts, fragments, directives and merged keys (which go to the
//! executor), profiles and pages of customers with masked and unmasked PII
//! (and the same `pii.read` audit rows), each role and scope, and errors. Status and body must be equal as JSON: async-graphql
//! puts an object's fields in the order they finish resolving, so only the
//! written lists have a fixed order (the selection's).

use c360::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{TestApp, gid};

/// Every field of every leaf type, at every level of a connection.
const EVERY_FIELD: &str = r#"query Every($n: Int!) {
  customers(first: $n, orderBy: { field: CREATED_AT, direction: ASC }) { edges { node { id
    orders(first: 5) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node {
      __typename id customerId orderNumber externalRef status channel currencyCode
      subtotal { amount currencyCode } discount { amount } tax { __typename amount }
      total { amount currencyCode } refunded { amount } net { currencyCode amount } placedAt updatedAt
      lines(first: 3) {
        __typename totalCount
        pageInfo { __typename hasPreviousPage hasNextPage startCursor endCursor }
        edges { __typename cursor node {
          __typename sku productName quantity category
          unitPrice { __typename amount currencyCode } total { currencyCode amount } } }
        nodes { sku total { amount } } } } } }
    tickets(first: 5) { nodes { subject messages { totalCount } } edges { node {
      __typename id customerId subject status priority channel createdAt updatedAt firstReplyAt
      solvedAt firstReplyMinutes resolutionMinutes satisfaction { __typename score comment ratedAt }
      messages(first: 2) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { __typename authorKind authorName body createdAt } } } } } }
    loyalty { transactions(first: 4) {
      totalCount pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      edges { cursor node {
        id kind points state orderId description availableAt expiresAt createdAt __typename } } } }
    reviews(first: 3) {
      totalCount
      edges { cursor node {
        id customerId productSku orderId rating title body status verifiedPurchase createdAt } }
      nodes { rating } }
    npsResponses(first: 3) {
      totalCount pageInfo { startCursor }
      edges { node { id customerId score category comment channel createdAt } } }
  } } }
}"#;

/// A profile's leaf lists, with the page size and cursor as variables.
const PAGE: &str = r#"query Page($id: ID!, $first: Int, $after: String) {
  customer(id: $id) {
    loyalty { transactions(first: $first, after: $after) {
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      edges { cursor node { id points kind } } } }
    reviews(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id rating } } }
    npsResponses(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { score } } }
    orders(first: 1) { edges { node {
      lines(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { sku } } } } } }
  }
}"#;

/// Selections the writer leaves to the executor, beside ones it writes.
const SHAPES: &[(&str, &str)] = &[
    (
        "aliases",
        r#"query Aliases($id: ID!) { customer(id: $id) { orders(first: 3) { edges { node {
          lines(first: 2) { count: totalCount info: pageInfo { more: hasNextPage }
            e: edges { c: cursor n: node { s: sku name: productName p: unitPrice { a: amount c: currencyCode } } } } } } }
          npsResponses(first: 2) { all: nodes { s: score why: comment t: __typename } } } }"#,
    ),
    (
        "fragments",
        r#"query Fragments($id: ID!) { customer(id: $id) { orders(first: 3) { edges { node {
          lines(first: 2) { edges { node { ...Line ... on OrderLine { quantity } } } } } } }
          reviews(first: 2) { ...Reviews } } }
          fragment Line on OrderLine { sku unitPrice { amount } }
          fragment Reviews on ReviewConnection { edges { node { rating title } } }"#,
    ),
    (
        "directives",
        r#"query Directives($id: ID!, $yes: Boolean!) { customer(id: $id) {
          loyalty { transactions(first: 3) { edges { node { points @include(if: $yes) kind @skip(if: $yes) } } } }
          npsResponses(first: 2) { totalCount @skip(if: $yes) edges { node { score } } } } }"#,
    ),
    (
        "merged keys",
        r#"query Merged($id: ID!) { customer(id: $id) { orders(first: 2) { edges { node {
          lines(first: 2) { edges { node { sku } } edges { node { quantity } } } } } }
          reviews(first: 2) { edges { node { rating rating } } } } }"#,
    ),
    (
        "a field that needs the executor",
        r#"query Product($id: ID!) { customer(id: $id) { orders(first: 2) { edges { node {
          lines(first: 2) { edges { node { sku product { sku } } } } } } } } }"#,
    ),
    (
        "a ticket field that reads the clock",
        r#"query Breached($id: ID!) { customer(id: $id) { tickets(first: 3) { edges { node { subject firstReplyBreached
          messages { edges { node { body } } } } } } } }"#,
    ),
    (
        "lists below lists with their own pages",
        r#"query Below($id: ID!, $yes: Boolean!) { customer(id: $id) { orders(first: 4) { edges { node { orderNumber
          first: lines(first: 1) { pageInfo { hasNextPage } edges { node { sku } } }
          rest: lines(first: 2, after: "bnx8MQ") { edges { cursor node { quantity } } } } } }
          tickets(first: 2) { edges { node { satisfaction { score s: score } messages(first: 1) @include(if: $yes) { totalCount } } } } } }"#,
    ),
    (
        "a page argument the list refuses",
        r#"query Refused($id: ID!) { customer(id: $id) { orders(first: 2) { edges { node { orderNumber
          lines(first: -3) { edges { node { sku } } } } } } tickets { edges { node { messages(after: "bogus") { totalCount } } } } } }"#,
    ),
    (
        "empty lists",
        r#"query Empty($id: ID!) { customer(id: $id) { reviews(first: 0) { totalCount pageInfo { startCursor endCursor hasNextPage } edges { cursor } nodes { id } } } }"#,
    ),
];

/// Status and body as JSON.
async fn answer(app: &TestApp, query: &str, variables: &Value, token: &str) -> (u16, Value) {
    let (status, text) = raw(app, query, variables, token).await;
    (status, serde_json::from_str(&text).expect("JSON body"))
}

/// Status and body text as the client receives them.
async fn raw(app: &TestApp, query: &str, variables: &Value, token: &str) -> (u16, String) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// Asks both gateways and requires the same answer; returns it.
async fn same(
    what: &str,
    (json, executor): (&TestApp, &TestApp),
    query: &str,
    variables: Value,
    token: &str,
) -> Value {
    let written = answer(json, query, &variables, token).await;
    let resolved = answer(executor, query, &variables, token).await;
    assert_eq!(
        in_order(&written),
        in_order(&resolved),
        "{what}: answers differ"
    );
    written.1
}

/// An answer with its errors sorted: sibling fields resolve concurrently,
/// so their errors arrive in the order their statements finish, which the
/// spec leaves open.
fn in_order((status, body): &(u16, Value)) -> (u16, Value) {
    let mut body = body.clone();
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e.to_string());
    }
    (*status, body)
}

/// A gateway on `app`'s store that resolves every list field by field,
/// with both clocks stopped at one instant.
async fn executor_beside(app: &TestApp) -> TestApp {
    let executor = app.beside(|c| c.leaf_json = false).await;
    let now = app.clock.now();
    app.clock.set(now);
    executor.clock.set(now);
    executor
}

/// `c360_graphql_leaf_lists_total{path="..."}` of a gateway.
async fn lists(app: &TestApp, path: &str) -> f64 {
    let sample = format!("c360_graphql_leaf_lists_total{{path=\"{path}\"}} ");
    app.metrics_text()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&sample)?.parse().ok())
        .unwrap_or_else(|| panic!("no {sample}in /metrics"))
}

both_stores! {
    async fn leaf_lists_written_as_json_answer_what_the_executor_answers(app: TestApp) {
        app.seed(25).await;
        let executor = executor_beside(&app).await;
        let both = (&app, &executor);
        let staff = app.staff();

        let (before_json, before_executor) = (app.sql_statements().await, executor.sql_statements().await);
        let every = same("every field", both, EVERY_FIELD, json!({ "n": 25 }), &staff).await;
        // The written lists load what the executor loads, level by level.
        assert_eq!(
            app.sql_statements().await - before_json,
            executor.sql_statements().await - before_executor
        );
        // The written lists keep the selection's order.
        let (_, text) = raw(&app, EVERY_FIELD, &json!({ "n": 25 }), &staff).await;
        assert!(
            text.contains(r#""lines":{"__typename":"OrderLineConnection","totalCount":"#)
                && text.contains(r#""node":{"__typename":"OrderLine","sku":"#),
            "{text}"
        );
        let edges = every["data"]["customers"]["edges"].as_array().expect("customers");
        let count = |list: &str| -> usize {
            edges.iter().map(|e| e["node"][list]["edges"].as_array().map_or(0, Vec::len)).sum()
        };
        assert!(count("reviews") > 5 && count("npsResponses") > 5, "the seed gives rows to compare");
        let lines: usize = edges
            .iter()
            .flat_map(|e| e["node"]["orders"]["edges"].as_array().cloned().unwrap_or_default())
            .map(|o| o["node"]["lines"]["edges"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(lines > 20, "{lines} order lines");
        // The page, with every list below it, is one written text (asked twice).
        assert_eq!(lists(&app, "json").await, 2.0, "the writer answered the page");
        assert_eq!(lists(&executor, "json").await, 0.0);

        // The customer with the most ledger rows, pages and cursors through them.
        let id = app
            .scalar("SELECT customer_id FROM loyalty_transactions GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1")
            .await;
        let customer = gid("Customer", id);
        let first = same("a first page", both, PAGE, json!({ "id": customer, "first": 2 }), &staff).await;
        let end = first["data"]["customer"]["loyalty"]["transactions"]["pageInfo"]["endCursor"].clone();
        assert!(end.is_string(), "{first}");
        let second = same("a second page", both, PAGE, json!({ "id": customer, "first": 2, "after": end }), &staff).await;
        let has_previous = &second["data"]["customer"]["loyalty"]["transactions"]["pageInfo"]["hasPreviousPage"];
        assert_eq!(*has_previous, json!(true), "{second}");
        for (what, variables) in [
            ("a cursor that is not one", json!({ "id": customer, "first": 2, "after": "bogus" })),
            ("a page too large", json!({ "id": customer, "first": 500 })),
            ("a negative page", json!({ "id": customer, "first": -1 })),
        ] {
            let body = same(what, both, PAGE, variables, &staff).await;
            assert!(body["errors"].is_array(), "{what}: {body}");
        }

        let executed = lists(&app, "executor").await;
        for (what, query) in SHAPES {
            same(what, both, query, json!({ "id": customer, "yes": true }), &staff).await;
        }
        assert!(lists(&app, "executor").await > executed, "fragments and directives go to the executor");

        // Roles and scopes: what a caller may not read is null with FORBIDDEN
        // and the rest stands; a customer reads only itself.
        let other = app.scalar(&format!("SELECT MIN(id) FROM customers WHERE id <> {id}")).await;
        let callers = [
            ("a partner reading orders", app.token(Role::Partner, "pos-1", &["customers:read", "orders:read"])),
            ("a partner reading loyalty and reviews", app.token(Role::Partner, "crm-1", &["customers:read", "loyalty:read", "reviews:read"])),
            ("a partner with no read scope", app.token(Role::Partner, "esp-1", &[])),
            ("the customer itself", app.token(Role::Customer, &id.to_string(), &[])),
        ];
        for (who, token) in &callers {
            for target in [id, other] {
                let variables = json!({ "id": gid("Customer", target), "yes": false });
                for (what, query) in SHAPES {
                    same(&format!("{who}, {what}"), both, query, variables.clone(), token).await;
                }
                same(&format!("{who}, pages"), both, PAGE, json!({ "id": gid("Customer", target), "first": 3 }), token).await;
            }
        }

        // Lists read ahead beside the customer where levels go out as one
        // statement: the same pages, errors and refusals.
        let combined = app.beside(|c| c.combine_pages = c360::config::CombinePages::Always).await;
        combined.clock.set(app.clock.now());
        let both = (&combined, &executor);
        for (who, token) in callers.iter().chain([("staff", staff.clone())].iter()) {
            for target in [id, other] {
                let variables = json!({ "id": gid("Customer", target), "yes": true });
                for (what, query) in SHAPES {
                    same(&format!("{who}, {what}, combined"), both, query, variables.clone(), token).await;
                }
                for first in [0, 2, 3] {
                    let variables = json!({ "id": gid("Customer", target), "first": first });
                    same(&format!("{who}, pages of {first}, combined"), both, PAGE, variables, token).await;
                }
            }
        }
    }
}

/// Every field of a customer a page writes, with its figures, loyalty
/// balances, the referral that brought it and every list below it.
const EVERY_CUSTOMER_FIELD: &str = r#"query Customers($n: Int!, $after: String) {
  customers(first: $n, after: $after, orderBy: { field: CREATED_AT, direction: ASC }) {
    __typename totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node {
      __typename id externalRef email firstName lastName phone birthday locale country city tags
      emailMarketingState consentUpdatedAt smsConsentState smsConsentUpdatedAt
      phoneConsentState phoneConsentUpdatedAt createdAt updatedAt erasedAt
      stats { __typename ordersCount lifetimeValue { amount currencyCode } grossSpend { amount }
        refunded { __typename currencyCode amount } firstOrderAt lastOrderAt openTickets ticketsCount
        reviewsCount lastNpsScore averageOrderValue { amount } lastNpsCategory csatAverage
        daysSinceLastOrder tenureDays nextBirthday nextSignupAnniversary averageFirstReplyMinutes }
      loyalty { __typename tier tierReviewAt tierExpiresAt spendToKeepTier { amount currencyCode }
        tierAtRisk referralCode pointsAvailable pointsPending pointsLifetimeEarned }
      referredBy { __typename id code refereeEmail status rejectionReason referrerRewardPoints
        refereeRewardPoints invitedAt signedUpAt convertedAt rewardedAt }
      referralsMade(first: 3) { totalCount edges { cursor node { __typename id code refereeEmail
        status rejectionReason referrerRewardPoints refereeRewardPoints invitedAt signedUpAt
        convertedAt rewardedAt } } }
      orders(first: 3) { totalCount edges { node { orderNumber status total { amount }
        lines(first: 2) { edges { node { sku quantity } } } } } }
      tickets(first: 2) { edges { node { subject satisfaction { score } messages { totalCount } } } }
      reviews(first: 2) { nodes { rating title } }
      npsResponses(first: 1) { edges { node { score category } } }
    } }
  }
}"#;

/// Customer pages the writer leaves to the executor, or writes in part.
const CUSTOMER_SHAPES: &[(&str, &str)] = &[
    (
        "the benchmark's list",
        r#"query List { customers(first: 20) { edges { node {
          id email firstName lastName tags
          stats { ordersCount lifetimeValue { amount } lastOrderAt }
          loyalty { tier pointsAvailable }
          orders(first: 5) { edges { node { orderNumber status total { amount } } } }
          tickets(first: 3) { edges { node { subject status } } }
          reviews(first: 3) { edges { node { rating } } }
          referralsMade(first: 3) { edges { node { status } } }
          referredBy { code }
          npsResponses(first: 1) { edges { node { score } } } } } } }"#,
    ),
    (
        "aliases and nodes",
        r#"query Aliases { list: customers(first: 10) { all: nodes { key: id mail: email s: stats { n: ordersCount v: lifetimeValue { a: amount } }
          l: loyalty { t: tier } r: referredBy { c: code } o: orders(first: 1) { n: nodes { num: orderNumber } } } } }"#,
    ),
    (
        "figures from other tables",
        r#"query Figures { customers(first: 10) { nodes { id stats { ordersCount rfm { group } clvStatus } } } }"#,
    ),
    (
        "loyalty figures from the trailing spend and the ledger",
        r#"query Loyalty { customers(first: 10) { nodes { id loyalty { tier nextTier trailingSpend { amount }
          transactions(first: 2) { edges { node { points } } } } } } }"#,
    ),
    (
        "a referrer below the referral",
        r#"query Referrer { customers(first: 10) { nodes { id referredBy { code referrer { email } } } } }"#,
    ),
    (
        "a referrer's orders, the same referrer below several customers",
        r#"query Referrers { customers(first: 40) { nodes { id referredBy { code referrer { id
          orders(first: 2) { nodes { orderNumber } } } } } } }"#,
    ),
    (
        "one list in two places of a level",
        r#"query Twice { customers(first: 5) { nodes { id a: orders(first: 2) { nodes { orderNumber } }
          b: orders(first: 2) { nodes { orderNumber } } c: orders(first: 3) { nodes { status } } } } }"#,
    ),
    (
        "fragments and directives",
        r#"query Fragments($yes: Boolean!) { customers(first: 5) { nodes { ...Who email @include(if: $yes) } } }
          fragment Who on Customer { id firstName }"#,
    ),
    (
        "store credit and interests",
        r#"query Credit { customers(first: 5) { nodes { id storeCredit { balances { amount { amount } } } } } }"#,
    ),
    (
        "a segment's members",
        r#"query Members { segmentMembers(query: "number_of_orders >= 1", first: 10) { totalCount edges { node {
          id email lastName stats { ordersCount } loyalty { pointsAvailable } orders(first: 2) { nodes { orderNumber } } } } } }"#,
    ),
];

/// The benchmark's profile, with a customer below a referral, and `me`.
const PROFILES: &[(&str, &str)] = &[
    (
        "the benchmark's profile",
        r#"query Profile($id: ID!) { customer(id: $id) {
          id email firstName lastName tags
          stats { ordersCount lifetimeValue { amount currencyCode } averageOrderValue { amount } lastOrderAt openTickets lastNpsScore }
          loyalty { tier pointsAvailable pointsPending transactions(first: 10) { edges { node { kind points state createdAt } } } }
          orders(first: 10) { edges { node { orderNumber status placedAt total { amount currencyCode }
            lines { edges { node { sku productName quantity unitPrice { amount } } } } } } }
          tickets(first: 5) { edges { node { subject status firstReplyMinutes satisfaction { score comment }
            messages { edges { node { authorKind body } } } } } }
          reviews(first: 5) { edges { node { productSku rating title verifiedPurchase } } }
          referralsMade(first: 5) { edges { node { refereeEmail status } } }
          referredBy { code referrer { email } }
          npsResponses(first: 3) { edges { node { score category comment } } } } }"#,
    ),
    (
        "both ends of referrals",
        r#"query Ends($id: ID!) { customer(id: $id) { __typename id
          referredBy { __typename status referrer { id lastName phone stats { ordersCount } loyalty { tier } referredBy { code } } }
          referralsMade(first: 5) { edges { node { code referee { id email birthday
            orders(first: 1) { totalCount nodes { orderNumber } } } referrer { id } } } } } }"#,
    ),
    (
        "every loyalty field with its ledger",
        r#"query Loyalty($id: ID!) { customer(id: $id) { loyalty { __typename tier tierReviewAt tierExpiresAt
          spendToKeepTier { amount currencyCode } tierAtRisk referralCode pointsAvailable pointsPending pointsLifetimeEarned
          transactions(first: 3) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id kind points } } } } } }"#,
    ),
    (
        "me",
        r#"query Me { me { id email stats { ordersCount } loyalty { pointsAvailable } orders(first: 2) { nodes { orderNumber } } } }"#,
    ),
];

/// `pii.read` audit rows so far.
async fn pii_reads(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'pii.read'")
        .await
}

both_stores! {
    async fn customer_pages_written_as_json_answer_what_the_executor_answers(app: TestApp) {
        app.seed(30).await;
        let executor = executor_beside(&app).await;
        let both = (&app, &executor);
        let staff = app.staff();
        let referred = app.scalar("SELECT COUNT(*) FROM referrals WHERE referee_customer_id IS NOT NULL").await;
        assert!(referred > 0, "the seed refers customers");

        let (before_json, before_executor) = (app.sql_statements().await, executor.sql_statements().await);
        let written = lists(&app, "json").await;
        let first = same("every customer field", both, EVERY_CUSTOMER_FIELD, json!({ "n": 15 }), &staff).await;
        assert_eq!(
            app.sql_statements().await - before_json,
            executor.sql_statements().await - before_executor,
            "the same statements either way"
        );
        // One written text for the page, none for the lists below it.
        assert_eq!(lists(&app, "json").await - written, 1.0);
        let (_, text) = raw(&app, EVERY_CUSTOMER_FIELD, &json!({ "n": 15 }), &staff).await;
        assert!(
            text.contains(r#""node":{"__typename":"Customer","id":"#)
                && text.contains(r#""stats":{"__typename":"CustomerStats","ordersCount":"#),
            "the page keeps the selection's order: {text}"
        );
        let edges = first["data"]["customers"]["edges"].as_array().expect("customers");
        assert_eq!(edges.len(), 15);
        assert!(edges.iter().any(|e| e["node"]["referredBy"].is_object()), "{first}");
        assert!(edges.iter().any(|e| e["node"]["birthday"].is_string()), "{first}");
        let end = first["data"]["customers"]["pageInfo"]["endCursor"].clone();
        same("the next page", both, EVERY_CUSTOMER_FIELD, json!({ "n": 15, "after": end }), &staff).await;

        for (what, query) in CUSTOMER_SHAPES {
            same(what, both, query, json!({ "yes": true }), &staff).await;
        }

        // An account with points due to settle is settled by the executor's
        // loader, then read as settled either way.
        let due = app.scalar("SELECT MIN(customer_id) FROM loyalty_accounts WHERE points_pending > 0").await;
        if due > 0 {
            app.db
                .execute_unprepared(&format!("UPDATE loyalty_accounts SET settle_due_at = created_at WHERE customer_id = {due}"))
                .await
                .expect("settlement due");
        }
        same("an account due to settle", both, CUSTOMER_SHAPES[0].1, json!({}), &staff).await;

        // Callers: masks, scopes and the customer's own page; a list or
        // object the caller may not read is null with FORBIDDEN.
        let id = app.scalar("SELECT MIN(id) FROM customers").await;
        let callers = [
            ("a partner without pii:read", app.token(Role::Partner, "pos-1", &["customers:read", "orders:read"])),
            ("a partner reading everything", app.token(Role::Partner, "crm-1", &[
                "customers:read", "orders:read", "tickets:read", "reviews:read", "referrals:read", "loyalty:read", "pii:read",
            ])),
            ("a partner with pii:read only", app.token(Role::Partner, "esp-1", &["customers:read", "pii:read"])),
            ("the customer itself", app.token(Role::Customer, &id.to_string(), &[])),
        ];
        // Profiles: a referred customer, the one who referred it, one with neither.
        let referee = app.scalar("SELECT MIN(referee_customer_id) FROM referrals WHERE referee_customer_id IS NOT NULL").await;
        let referrer = app.scalar(&format!("SELECT customer_id FROM referrals WHERE referee_customer_id = {referee}")).await;
        let profiled = [referee, referrer, id];
        let json_before = lists(&app, "json").await;
        for target in profiled {
            for (what, query) in PROFILES {
                same(what, both, query, json!({ "id": gid("Customer", target) }), &staff).await;
            }
        }
        assert!(lists(&app, "json").await - json_before >= 9.0, "profiles are written");
        for (who, token) in &callers {
            for target in profiled {
                for (what, query) in PROFILES {
                    same(&format!("{who}, {what}"), both, query, json!({ "id": gid("Customer", target) }), token).await;
                }
            }
        }
        // Where a request's levels go out as one statement (PostgreSQL), a
        // profile's lists are read ahead beside the customer's own
        // statement: the same answers, for every caller.
        let combined = app.beside(|c| c.combine_pages = c360::config::CombinePages::Always).await;
        combined.clock.set(app.clock.now());
        for (who, token) in callers.iter().chain([("staff", staff.clone())].iter()) {
            for target in profiled {
                for (what, query) in PROFILES {
                    let variables = json!({ "id": gid("Customer", target) });
                    same(&format!("{who}, {what}, combined"), (&combined, &executor), query, variables, token).await;
                }
            }
        }
        let referee_token = app.token(Role::Customer, &referee.to_string(), &[]);
        for (what, query) in PROFILES {
            let body = same(what, both, query, json!({ "id": gid("Customer", referee) }), &referee_token).await;
            if *what == "the benchmark's profile" {
                // The referrer is outside a CUSTOMER token's scope: null.
                assert_eq!(body["data"]["customer"]["referredBy"]["referrer"], Value::Null, "{body}");
            }
        }

        for (who, token) in &callers {
            let audited = pii_reads(&app).await;
            let body = same(&format!("{who}, every field"), both, EVERY_CUSTOMER_FIELD, json!({ "n": 10 }), token).await;
            let after_json = pii_reads(&app).await;
            // Each gateway audits the same reads: `same` asked both.
            assert_eq!((after_json - audited) % 2, 0, "{who}");
            for (what, query) in CUSTOMER_SHAPES {
                same(&format!("{who}, {what}"), both, query, json!({ "yes": false }), token).await;
            }
            if *who == "a partner reading everything" {
                assert_eq!(after_json - audited, 20, "ten customers' PII read, by each gateway: {body}");
            }
        }
        // Where a lone request's page and the lists below it go out as two
        // statements side by side (PostgreSQL), the same answers, for every
        // caller, on the first page and the next.
        let split = app.beside(|c| c.combine_pages = c360::config::CombinePages::Split).await;
        split.clock.set(app.clock.now());
        for (who, token) in &callers {
            let body = same(&format!("{who}, every field, split"), (&split, &executor), EVERY_CUSTOMER_FIELD, json!({ "n": 10 }), token).await;
            let after = body["data"]["customers"]["pageInfo"]["endCursor"].clone();
            let variables = json!({ "n": 10, "after": after });
            same(&format!("{who}, the next page, split"), (&split, &executor), EVERY_CUSTOMER_FIELD, variables, token).await;
            for (what, query) in CUSTOMER_SHAPES {
                same(&format!("{who}, {what}, split"), (&split, &executor), query, json!({ "yes": false }), token).await;
            }
        }
        // The written page audits as the executor does, one gateway at a time.
        let crm = &callers[1].1;
        let audited = pii_reads(&app).await;
        answer(&app, EVERY_CUSTOMER_FIELD, &json!({ "n": 4 }), crm).await;
        assert_eq!(pii_reads(&app).await - audited, 4);
        answer(&executor, EVERY_CUSTOMER_FIELD, &json!({ "n": 4 }), crm).await;
        assert_eq!(pii_reads(&app).await - audited, 8);
    }
}

/// Tickets of one customer, each with its messages.
const CONVERSATIONS: &str = r#"query Conversations($id: ID!) { customer(id: $id) {
  tickets(first: 20) { edges { node { subject
    messages(first: 5) { pageInfo { hasNextPage } edges { cursor node { authorKind body } } } } } } } }"#;

both_stores! {
    /// Where a level goes out as one statement, a ticket's messages are read
    /// with the tickets themselves; a ticket with no message (imported so)
    /// is not among those rows, and still answers an empty list, as the
    /// executor's own statement does.
    async fn a_ticket_without_messages_answers_an_empty_list(app: TestApp) {
        app.seed(10).await;
        let id = app
            .scalar("SELECT customer_id FROM tickets GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1")
            .await;
        let customer = gid("Customer", id);
        let tickets = format!(
            "{}\n{}\n",
            json!({ "externalRef": "quiet-1", "customerId": customer, "subject": "Quiet" }),
            json!({ "externalRef": "talk-1", "customerId": customer, "subject": "Talkative",
                    "messages": [{ "authorKind": "CUSTOMER", "body": "Hello" },
                                 { "authorKind": "AGENT", "authorName": "Sam", "body": "Hi" }] }),
        );
        let run = crate::import::import(&app, "tickets", "tickets.jsonl", &tickets, &[]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);

        let executor = executor_beside(&app).await;
        let combined = app.beside(|c| c.combine_pages = c360::config::CombinePages::Always).await;
        combined.clock.set(app.clock.now());
        let staff = app.staff();
        let variables = json!({ "id": customer });
        let body = same("conversations", (&app, &executor), CONVERSATIONS, variables.clone(), &staff).await;
        same("conversations, one statement a level", (&combined, &executor), CONVERSATIONS, variables, &staff).await;
        let edges = body["data"]["customer"]["tickets"]["edges"].as_array().expect("tickets");
        let messages = |subject: &str| {
            edges
                .iter()
                .find(|e| e["node"]["subject"] == subject)
                .unwrap_or_else(|| panic!("{subject} in {body}"))["node"]["messages"]["edges"]
                .as_array()
                .expect("messages")
                .len()
        };
        assert_eq!(messages("Quiet"), 0);
        assert_eq!(messages("Talkative"), 2);
        assert!(edges.len() > 2, "the seed's tickets are there too: {body}");
    }
}

/// Every field of a referral that is a value of its row.
const REFERRAL_FIELDS: &[&str] = &[
    "id",
    "code",
    "refereeEmail",
    "status",
    "rejectionReason",
    "referrerRewardPoints",
    "refereeRewardPoints",
    "invitedAt",
    "signedUpAt",
    "convertedAt",
    "rewardedAt",
];

/// Each list whose pages write only the columns their selection reads,
/// and every field its items have, with what it selects of an object value.
const FIELDS_ALONE: &[(&str, &[&str])] = &[
    (
        "orders(first: 3)",
        &[
            "id",
            "customerId",
            "orderNumber",
            "externalRef",
            "status",
            "channel",
            "currencyCode",
            "subtotal { amount currencyCode }",
            "discount { amount currencyCode }",
            "tax { amount currencyCode }",
            "total { amount currencyCode }",
            "refunded { amount currencyCode }",
            "net { amount currencyCode }",
            "placedAt",
            "updatedAt",
        ],
    ),
    (
        "tickets(first: 3)",
        &[
            "id",
            "customerId",
            "subject",
            "status",
            "priority",
            "channel",
            "createdAt",
            "updatedAt",
            "firstReplyAt",
            "solvedAt",
            "firstReplyMinutes",
            "resolutionMinutes",
            "satisfaction { score comment ratedAt }",
            "satisfaction { comment }",
            "satisfaction { ratedAt }",
        ],
    ),
    (
        "reviews(first: 3)",
        &[
            "id",
            "customerId",
            "productSku",
            "orderId",
            "rating",
            "title",
            "body",
            "status",
            "verifiedPurchase",
            "createdAt",
        ],
    ),
    ("referralsMade(first: 3)", REFERRAL_FIELDS),
    (
        "npsResponses(first: 3)",
        &[
            "id",
            "customerId",
            "score",
            "category",
            "comment",
            "channel",
            "createdAt",
        ],
    ),
    (
        "loyalty { transactions(first: 3)",
        &[
            "id",
            "kind",
            "points",
            "state",
            "orderId",
            "description",
            "availableAt",
            "expiresAt",
            "createdAt",
        ],
    ),
];

both_stores! {
    /// Where a level goes out as one statement, a written list's pages
    /// write only the columns its fields read. Each field asked for alone,
    /// on a page of customers and on a profile, answers what the executor
    /// (which reads every column) answers: a column a field reads but does
    /// not ask for would read as an empty value and differ.
    async fn each_field_alone_answers_what_the_executor_answers(app: TestApp) {
        app.seed(25).await;
        let executor = executor_beside(&app).await;
        let combined = app.beside(|c| c.combine_pages = c360::config::CombinePages::Always).await;
        combined.clock.set(app.clock.now());
        let both = (&combined, &executor);
        let staff = app.staff();
        let crm = app.token(Role::Partner, "crm-1", &["customers:read", "referrals:read"]);
        let busiest = app
            .scalar("SELECT customer_id FROM orders GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1")
            .await;
        let mut rows = 0;
        for (list, fields) in FIELDS_ALONE {
            let close = if list.starts_with("loyalty") { "}" } else { "" };
            for field in *fields {
                let selection = format!("{list} {{ edges {{ node {{ {field} }} }} }}{close}");
                let page = format!(
                    "query Page {{ customers(first: 25, orderBy: {{ field: CREATED_AT, direction: ASC }}) {{ edges {{ node {{ id {selection} }} }} }} }}"
                );
                let body = same(&format!("{list} {field}, a page"), both, &page, json!({}), &staff).await;
                let edges = body["data"]["customers"]["edges"].as_array().expect("customers");
                rows += edges.len();
                let profile = format!("query Profile($id: ID!) {{ customer(id: $id) {{ {selection} }} }}");
                let variables = json!({ "id": gid("Customer", busiest) });
                same(&format!("{list} {field}, a profile"), both, &profile, variables, &staff).await;
                if *list == "referralsMade(first: 3)" {
                    same(&format!("{list} {field}, masked"), both, &page, json!({}), &crm).await;
                }
            }
        }
        assert!(rows > 0, "pages of customers answered");

        // A customer the writer leaves to the executor (a fragment on it)
        // still takes the lists read ahead beside it: one statement.
        let before = combined.sql_statements().await;
        let variables = json!({ "id": gid("Customer", busiest) });
        same("a profile with a fragment", both, MIXED, variables, &staff).await;
        if combined.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            assert_eq!(combined.sql_statements().await - before, 1, "the lists read ahead are used");
        }
    }
}

/// The customer's to-one rows read in its own statement, and every field
/// they have, with what it selects of an object value.
const JOINED_ALONE: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "id",
            "externalRef",
            "email",
            "firstName",
            "lastName",
            "phone",
            "birthday",
            "locale",
            "country",
            "city",
            "tags",
            "emailMarketingState",
            "consentUpdatedAt",
            "smsConsentState",
            "smsConsentUpdatedAt",
            "phoneConsentState",
            "phoneConsentUpdatedAt",
            "createdAt",
            "updatedAt",
            "erasedAt",
            "yearInReview(year: 2026) { memberSince orders { count } }",
            "__typename",
        ],
    ),
    (
        "stats",
        &[
            "ordersCount",
            "lifetimeValue { amount currencyCode }",
            "grossSpend { amount }",
            "refunded { amount }",
            "averageOrderValue { amount }",
            "firstOrderAt",
            "lastOrderAt",
            "daysSinceLastOrder",
            "tenureDays",
            "openTickets",
            "ticketsCount",
            "reviewsCount",
            "lastNpsScore",
            "lastNpsCategory",
            "csatAverage",
            "averageFirstReplyMinutes",
            "nextBirthday",
            "nextSignupAnniversary",
            "clvStatus",
            "predictedLifetimeValue { amount }",
            "rfm { group recency }",
            "churnRisk",
            "expectedNextOrderDate",
            "__typename",
        ],
    ),
    (
        "loyalty",
        &[
            "tier",
            "tierReviewAt",
            "tierExpiresAt",
            "spendToKeepTier { amount }",
            "tierAtRisk",
            "referralCode",
            "pointsAvailable",
            "pointsPending",
            "pointsLifetimeEarned",
            "trailingSpend { amount }",
            "nextTier",
            "spendToNextTier { amount }",
            "pointsToNextTier",
            "transactions(first: 2) { edges { node { points } } }",
            "__typename",
        ],
    ),
    ("referredBy", REFERRAL_FIELDS),
    (
        "referredBy",
        &["referrer { email }", "referee { firstName }"],
    ),
];

both_stores! {
    /// A customer's figures, loyalty account and the referral that brought
    /// it in are read in the customer's statement with only the columns
    /// their fields read (`read::joined`). Each field asked for alone, on a
    /// page written as JSON, on a page the executor resolves (a fragment)
    /// and on a profile, answers what the general path, reading every
    /// column, answers.
    async fn each_joined_field_alone_answers_what_the_general_path_answers(app: TestApp) {
        app.seed(25).await;
        let general = executor_beside(&app).await;
        let staff = app.staff();
        let crm = app.token(Role::Partner, "crm-1", &["customers:read", "referrals:read"]);
        let referred = app
            .scalar("SELECT MIN(referee_customer_id) FROM referrals WHERE status <> 'REJECTED'")
            .await;
        let mut present = std::collections::HashMap::new();
        for (object, fields) in JOINED_ALONE {
            for field in *fields {
                let selection = match *object {
                    "" => (*field).to_owned(),
                    _ => format!("{object} {{ {field} }}"),
                };
                let page = format!(
                    "{{ customers(first: 25, orderBy: {{ field: CREATED_AT, direction: ASC }}) {{ edges {{ node {{ id {selection} }} }} }} }}"
                );
                let body = same(&format!("{selection}, a page"), (&app, &general), &page, json!({}), &staff).await;
                let edges = body["data"]["customers"]["edges"].as_array().expect("customers");
                let key = if object.is_empty() { "id" } else { object };
                *present.entry(*object).or_insert(0) += edges.iter().filter(|e| !e["node"][key].is_null()).count();
                let fragment = format!(
                    "{{ customers(first: 25) {{ edges {{ node {{ id ...F }} }} }} }} fragment F on Customer {{ {selection} }}"
                );
                same(&format!("{selection}, a fragment"), (&app, &general), &fragment, json!({}), &staff).await;
                let profile = format!("query Profile($id: ID!) {{ customer(id: $id) {{ {selection} }} }}");
                let variables = json!({ "id": gid("Customer", referred) });
                same(&format!("{selection}, a profile"), (&app, &general), &profile, variables.clone(), &staff).await;
                let elsewhere = format!(
                    "query Elsewhere($id: ID!) {{ node(id: $id) {{ ... on Customer {{ {selection} }} }}
                       customer(id: $id) {{ referredBy {{ referrer {{ {selection} }} }} }} }}"
                );
                same(&format!("{selection}, a node and a referrer"), (&app, &general), &elsewhere, variables, &staff).await;
                if *object == "referredBy" {
                    same(&format!("{selection}, masked"), (&app, &general), &page, json!({}), &crm).await;
                }
            }
        }
        for (object, _) in JOINED_ALONE {
            assert!(present[object] > 0, "some customers have {object}: {present:?}");
        }

        // A year on, accounts with points or a tier review due are settled
        // before they are shown, whatever of them the selection reads.
        let later = app.clock.now() + chrono::Duration::days(400);
        app.clock.set(later);
        general.clock.set(later);
        let due = app
            .scalar("SELECT COUNT(*) FROM loyalty_accounts WHERE settle_due_at IS NOT NULL OR tier_due_at IS NOT NULL")
            .await;
        assert!(due > 0, "accounts wait to settle");
        let page = "{ customers(first: 25) { edges { node { id loyalty { pointsAvailable } } } } }";
        same("accounts due to settle", (&app, &general), page, json!({}), &staff).await;

        // A page sorted by a figure takes its cursor from the figures row,
        // whatever of it the selection reads.
        let sorted = r#"query Sorted($after: String) {
          customers(first: 4, after: $after, orderBy: { field: LIFETIME_VALUE, direction: DESC }) {
            pageInfo { endCursor hasNextPage } edges { cursor node { id stats { ordersCount } } } } }"#;
        let first = same("sorted by lifetime value", (&app, &general), sorted, json!({}), &staff).await;
        let after = first["data"]["customers"]["pageInfo"]["endCursor"].clone();
        assert!(after.is_string(), "{first}");
        let next = same("the next page", (&app, &general), sorted, json!({ "after": after }), &staff).await;
        assert_eq!(next["data"]["customers"]["edges"].as_array().expect("edges").len(), 4, "{next}");
    }
}

/// A profile whose customer the writer leaves to the executor, with lists
/// it writes.
const MIXED: &str = r#"query Mixed($id: ID!) { customer(id: $id) { ...Name
  orders(first: 3) { edges { node { orderNumber total { amount } } } }
  reviews(first: 2) { edges { node { rating } } } } }
  fragment Name on Customer { firstName }"#;
