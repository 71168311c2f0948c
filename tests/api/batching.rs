//! Batched loading: a list with every relation nested costs the same number
//! of SQL statements whatever its length.

use c360::config::CombinePages;
use serde_json::json;

use crate::both_stores;
use crate::helpers::{TestApp, gid};

pub const NESTED: &str = r#"query($n: Int!) {
  customers(first: $n) { edges { node {
    id
    orders(first: 5) { edges { node { orderNumber lines { edges { node { sku } } } } } }
    tickets(first: 3) { edges { node { subject messages { edges { node { body } } } } } }
    reviews { edges { node { rating } } }
    loyalty { pointsAvailable transactions(first: 5) { edges { node { points } } } }
    referralsMade { edges { node { status } } }
    referredBy { code }
    npsResponses { edges { node { score } } }
    stats { ordersCount lifetimeValue { amount } }
  } } }
}"#;

/// Statements one request costs, measured from the server's own counter.
pub async fn statements_for(app: &TestApp, n: i64) -> u64 {
    let before = app.sql_statements().await;
    let data = app.query(NESTED, json!({ "n": n })).await;
    let after = app.sql_statements().await;
    let edges = data["customers"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len() as i64, n);
    after - before
}

both_stores! {
    async fn a_nested_list_costs_the_same_statements_for_5_and_50_customers(app: TestApp) {
        app.seed(60).await;
        let five = statements_for(&app, 5).await;
        let fifty = statements_for(&app, 50).await;
        assert_eq!(five, fifty, "statements must not grow with the list");
        // One statement per relation level: the customers (with their
        // loyalty account, referral and stats beside them), orders, lines,
        // tickets, messages, reviews, transactions, referrals, NPS.
        let budget = 9;
        assert_eq!(fifty, budget, "statement budget of the nested list");
        // Repeated runs cost the same: batching does not depend on timing.
        for _ in 0..3 {
            assert_eq!(statements_for(&app, 50).await, budget);
        }
    }
}

const TO_ONE: &str = r#"query($n: Int!) {
  customers(first: $n) { edges { node {
    id tags
    stats { ordersCount lifetimeValue { amount } lastNpsScore }
    loyalty { tier pointsAvailable pointsPending }
    referredBy { code status }
  } } }
}"#;

both_stores! {
    async fn to_one_rows_read_with_the_customer_are_the_stores(app: TestApp) {
        app.seed(40).await;
        let before = app.sql_statements().await;
        let data = app.query(TO_ONE, json!({ "n": 40 })).await;
        assert_eq!(app.sql_statements().await - before, 1, "one statement for the page and its to-one rows");
        let edges = data["customers"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 40);
        let (mut tagged, mut referred, mut with_loyalty) = (0, 0, 0);
        for e in edges {
            let c = &e["node"];
            let gid = c["id"].as_str().expect("id");
            let id: i64 = gid.rsplit('/').next().and_then(|n| n.parse().ok()).expect("numeric id");

            let tags: Vec<&str> = c["tags"].as_array().expect("tags").iter().map(|t| t.as_str().expect("tag")).collect();
            let stored = app.scalar(&format!("SELECT COUNT(*) FROM customer_tags WHERE customer_id = {id}")).await;
            assert_eq!(tags.len() as i64, stored, "customer {id}'s tags");
            let mut sorted = tags.clone();
            sorted.sort_unstable();
            assert_eq!(tags, sorted, "tags come sorted");
            for tag in &tags {
                let n = app.scalar(&format!(
                    "SELECT COUNT(*) FROM customer_tags WHERE customer_id = {id} AND tag = '{tag}'"
                )).await;
                assert_eq!(n, 1, "customer {id} carries {tag}");
            }
            tagged += usize::from(!tags.is_empty());

            let orders = app.scalar(&format!("SELECT COALESCE(MAX(orders_count), 0) FROM customer_metrics WHERE customer_id = {id}")).await;
            assert_eq!(c["stats"]["ordersCount"], orders, "customer {id}'s orders");

            let accounts = app.scalar(&format!("SELECT COUNT(*) FROM loyalty_accounts WHERE customer_id = {id}")).await;
            if accounts == 1 {
                with_loyalty += 1;
                let available = app.scalar(&format!("SELECT points_available FROM loyalty_accounts WHERE customer_id = {id}")).await;
                assert_eq!(c["loyalty"]["pointsAvailable"], available, "customer {id}'s points");
                let tier = app.text(&format!("SELECT tier FROM loyalty_accounts WHERE customer_id = {id}")).await;
                assert_eq!(c["loyalty"]["tier"], tier, "customer {id}'s tier");
            } else {
                assert!(c["loyalty"].is_null(), "customer {id} has no account");
            }

            let attributions = app.scalar(&format!(
                "SELECT COUNT(*) FROM referrals WHERE referee_customer_id = {id} AND status <> 'REJECTED'"
            )).await;
            if attributions > 0 {
                referred += 1;
                let code = app.text(&format!(
                    "SELECT code FROM referrals WHERE referee_customer_id = {id} AND status <> 'REJECTED' ORDER BY id LIMIT 1"
                )).await;
                assert_eq!(c["referredBy"]["code"], code, "customer {id}'s referral");
            } else {
                assert!(c["referredBy"].is_null(), "customer {id} was not referred");
            }
        }
        // The seed gives the comparison something to compare.
        assert!(tagged > 0 && referred > 0 && with_loyalty > 0, "{tagged} tagged, {referred} referred, {with_loyalty} with accounts");
    }
}

both_stores! {
    async fn any_tag_text_survives_the_joined_read(app: TestApp) {
        app.seed(3).await;
        let id = app.scalar("SELECT MIN(id) FROM customers").await;
        let odd = ["a,b", "say \"hi\"", "ünïcode ✓", "back\\slash", "[x]"];
        let added = app
            .query(
                "mutation($id: ID!, $tags: [String!]!) { customerTagsAdd(id: $id, tags: $tags) { tags } }",
                json!({ "id": gid("Customer", id), "tags": odd }),
            )
            .await;
        // The mutation's answer reads tags through their own loader; the
        // query below reads them in the customer's statement. Both agree.
        let read = app
            .query("query($id: ID!) { customer(id: $id) { tags } }", json!({ "id": gid("Customer", id) }))
            .await;
        assert_eq!(read["customer"]["tags"], added["customerTagsAdd"]["tags"]);
        let tags = read["customer"]["tags"].as_array().expect("tags");
        for tag in odd {
            assert!(tags.contains(&json!(tag)), "{tag} in {tags:?}");
        }
    }
}

both_stores! {
    async fn a_profile_reads_its_to_one_rows_in_the_customers_statement(app: TestApp) {
        app.seed(20).await;
        let id = app
            .scalar("SELECT MIN(referee_customer_id) FROM referrals WHERE status <> 'REJECTED'")
            .await;
        let q = "query($id: ID!) { customer(id: $id) { tags stats { ordersCount } loyalty { tier } referredBy { code } } }";
        let before = app.sql_statements().await;
        let data = app.query(q, json!({ "id": gid("Customer", id) })).await;
        assert_eq!(app.sql_statements().await - before, 1);
        assert!(data["customer"]["referredBy"]["code"].is_string(), "{data}");
        // Asking for the referrer costs the one level more.
        let q = "query($id: ID!) { customer(id: $id) { referredBy { referrer { email tags } } } }";
        let before = app.sql_statements().await;
        let data = app.query(q, json!({ "id": gid("Customer", id) })).await;
        assert_eq!(app.sql_statements().await - before, 2);
        let referrer = app
            .text(&format!(
                "SELECT c.email FROM referrals r JOIN customers c ON c.id = r.customer_id WHERE r.referee_customer_id = {id} AND r.status <> 'REJECTED' ORDER BY r.id LIMIT 1"
            ))
            .await;
        assert_eq!(data["customer"]["referredBy"]["referrer"]["email"], referrer);
    }
}

/// Under load (here: always) PostgreSQL gets a page of customers and the
/// lists below them as one statement: their orders, tickets, reviews,
/// ledger rows, referrals and NPS answers, the lines of those orders and
/// the messages of those tickets, read from the page's customers in the
/// same statement. The answer is SQLite's, a statement a list.
#[tokio::test]
async fn a_nested_list_is_one_statement_on_postgres() {
    let Some((pg, sqlite)) = combined_beside_sqlite(60).await else {
        return;
    };
    assert_eq!(statements_for(&pg, 5).await, 1);
    assert_eq!(statements_for(&pg, 50).await, 1);
    for n in [1, 7, 50] {
        let variables = json!({ "n": n });
        let from_pg = pg.query(NESTED, variables.clone()).await;
        assert_eq!(from_pg, sqlite.query(NESTED, variables).await, "first {n}");
    }
    // Every list of the page is read, not only the first customer's.
    let data = pg.query(NESTED, json!({ "n": 50 })).await;
    let edges = data["customers"]["edges"].as_array().expect("edges");
    let with_orders = edges
        .iter()
        .filter(|e| {
            e["node"]["orders"]["edges"]
                .as_array()
                .is_some_and(|o| !o.is_empty())
        })
        .count();
    assert!(with_orders > 25, "{with_orders} of 50 with orders");
    // A later page, walking backwards, and a page sorted by a metrics key
    // read their lists the same way.
    let cursors = pg
        .query("{ customers(first: 10) { edges { cursor } } }", json!({}))
        .await;
    let end = cursors["customers"]["edges"][9]["cursor"].clone();
    assert!(end.is_string(), "{cursors}");
    for (args, vars) in [
        ("last: $n, before: $c", json!({ "n": 4, "c": end })),
        ("first: $n, after: $c", json!({ "n": 6, "c": end })),
    ] {
        let q = format!(
            r#"query($n: Int!, $c: String) {{ customers({args}) {{ edges {{ node {{ id
              orders(first: 2) {{ edges {{ node {{ orderNumber lines {{ edges {{ node {{ sku }} }} }} }} }} }}
              npsResponses {{ totalCount edges {{ node {{ score }} }} }} }} }} }} }}"#
        );
        let before = pg.sql_statements().await;
        let from_pg = pg.query(&q, vars.clone()).await;
        // The counts are their own statement.
        assert_eq!(pg.sql_statements().await - before, 2, "{args}: {from_pg}");
        assert_eq!(from_pg, sqlite.query(&q, vars).await, "{args}");
    }
    let q = r#"{ customers(first: 20, orderBy: { field: LIFETIME_VALUE, direction: DESC }) {
      pageInfo { hasNextPage endCursor }
      nodes { id tickets(first: 2) { nodes { subject messages(first: 1) { nodes { body } } } } } } }"#;
    let before = pg.sql_statements().await;
    let from_pg = pg.query(q, json!({})).await;
    assert_eq!(pg.sql_statements().await - before, 1, "{from_pg}");
    assert_eq!(from_pg, sqlite.query(q, json!({})).await);
    // Two pages in one request, each with its own lists.
    let q = r#"{ newest: customers(first: 3) { nodes { id reviews { nodes { rating } } } }
      oldest: customers(first: 3, orderBy: { direction: ASC }) {
        nodes { id reviews { nodes { rating } } orders(first: 1) { nodes { orderNumber } } } } }"#;
    let before = pg.sql_statements().await;
    let from_pg = pg.query(q, json!({})).await;
    assert_eq!(pg.sql_statements().await - before, 1, "{from_pg}");
    assert_ne!(from_pg["newest"], from_pg["oldest"]);
    assert_eq!(from_pg, sqlite.query(q, json!({})).await);
}

/// A PostgreSQL gateway that always combines its levels and a SQLite one,
/// both seeded with `customers` from the same seed; `None` where
/// PostgreSQL is not configured.
async fn combined_beside_sqlite(customers: u64) -> Option<(TestApp, TestApp)> {
    let pg = TestApp::spawn_postgres_with(|c| c.combine_pages = CombinePages::Always).await?;
    let sqlite = TestApp::spawn_sqlite().await;
    pg.seed(customers).await;
    sqlite.seed(customers).await;
    Some((pg, sqlite))
}

/// A profile page: the customer's to-one rows and every list below it.
const PROFILE: &str = r#"query($id: ID!) { customer(id: $id) {
  id email tags
  stats { ordersCount lifetimeValue { amount } }
  loyalty { tier pointsAvailable transactions(first: 10) { edges { node { kind points } } } }
  orders(first: 10) { edges { node { orderNumber lines { edges { node { sku quantity } } } } } }
  tickets(first: 5) { edges { node { subject messages { edges { node { body } } } } } }
  reviews(first: 5) { edges { node { rating } } }
  referralsMade(first: 5) { edges { node { status } } }
  referredBy { code }
  npsResponses(first: 3) { edges { node { score } } }
} }"#;

/// Under load (here: always) a profile is one statement on PostgreSQL: its
/// lists, and the lines and messages below its orders and tickets, are read
/// ahead beside the customer's own statement, as one. SQLite, where a
/// statement costs no round trip, answers the same, a statement a list.
#[tokio::test]
async fn a_profile_under_load_is_one_statement_on_postgres() {
    let Some((pg, sqlite)) = combined_beside_sqlite(30).await else {
        return;
    };
    let busiest = "SELECT customer_id FROM orders GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1";
    let id = pg.scalar(busiest).await;
    assert_eq!(sqlite.scalar(busiest).await, id, "the same seed");
    let variables = json!({ "id": gid("Customer", id) });
    let before = pg.sql_statements().await;
    let from_pg = pg.query(PROFILE, variables.clone()).await;
    assert_eq!(pg.sql_statements().await - before, 1, "{from_pg}");
    assert_eq!(from_pg, sqlite.query(PROFILE, variables).await);
    let orders = from_pg["customer"]["orders"]["edges"]
        .as_array()
        .expect("orders");
    assert!(orders.len() > 1, "{from_pg}");
    assert!(
        orders.iter().all(|o| o["node"]["lines"]["edges"]
            .as_array()
            .is_some_and(|l| !l.is_empty())),
        "every order's lines: {from_pg}"
    );
    // A customer that does not exist is null, and costs the same.
    let before = pg.sql_statements().await;
    let none = pg
        .query(PROFILE, json!({ "id": gid("Customer", 999_999) }))
        .await;
    assert_eq!(none["customer"], serde_json::Value::Null);
    assert_eq!(pg.sql_statements().await - before, 1);

    // The customer who referred it, with its own to-one rows, too.
    let referee = pg
        .scalar("SELECT MIN(referee_customer_id) FROM referrals WHERE status <> 'REJECTED'")
        .await;
    let q = r#"query($id: ID!) { customer(id: $id) {
      referredBy { code referrer { email tags stats { ordersCount } } }
      orders(first: 2) { edges { node { orderNumber } } } } }"#;
    let variables = json!({ "id": gid("Customer", referee) });
    let before = pg.sql_statements().await;
    let from_pg = pg.query(q, variables.clone()).await;
    assert_eq!(pg.sql_statements().await - before, 1, "{from_pg}");
    let referrer = pg
        .text(&format!(
            "SELECT c.email FROM referrals r JOIN customers c ON c.id = r.customer_id WHERE r.referee_customer_id = {referee} AND r.status <> 'REJECTED' ORDER BY r.id LIMIT 1"
        ))
        .await;
    assert_eq!(
        from_pg["customer"]["referredBy"]["referrer"]["email"],
        referrer
    );
    assert_eq!(from_pg, sqlite.query(q, variables).await);
}

/// A profile's `totalCount`s are counted beside the customer's own
/// statement too, one statement in all on PostgreSQL, for a customer with
/// orders and for one without; SQLite counts them apart and answers the
/// same.
#[tokio::test]
async fn a_profile_counts_its_lists_in_its_one_statement_on_postgres() {
    let Some((pg, sqlite)) = combined_beside_sqlite(30).await else {
        return;
    };
    let q = r#"query($id: ID!) { customer(id: $id) {
      id
      orders(first: 2) { totalCount edges { node { orderNumber lines { edges { node { sku } } } } } }
      tickets(first: 2) { totalCount edges { node { subject } } }
      reviews(first: 2) { totalCount }
      referralsMade(first: 2) { totalCount }
      npsResponses(first: 2) { totalCount } } }"#;
    // Counts a level below (an order's lines), and the ledger's, which a
    // settlement may write first, are counted after, in their levels.
    let later = r#"query($id: ID!) { customer(id: $id) {
      orders(first: 2) { edges { node { lines { totalCount } } } }
      loyalty { transactions(first: 2) { totalCount } } } }"#;
    let busiest = "SELECT customer_id FROM orders GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1";
    let idle = "SELECT MIN(id) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)";
    for (who, find) in [("a customer with orders", busiest), ("one without", idle)] {
        let id = pg.scalar(find).await;
        assert_eq!(sqlite.scalar(find).await, id, "{who}: the same seed");
        let variables = json!({ "id": gid("Customer", id) });
        let before = pg.sql_statements().await;
        let from_pg = pg.query(q, variables.clone()).await;
        assert_eq!(pg.sql_statements().await - before, 1, "{who}: {from_pg}");
        let orders = pg
            .scalar(&format!(
                "SELECT COUNT(*) FROM orders WHERE customer_id = {id}"
            ))
            .await;
        assert_eq!(
            from_pg["customer"]["orders"]["totalCount"],
            json!(orders),
            "{who}: {from_pg}"
        );
        let tickets = pg
            .scalar(&format!(
                "SELECT COUNT(*) FROM tickets WHERE customer_id = {id}"
            ))
            .await;
        assert_eq!(
            from_pg["customer"]["tickets"]["totalCount"],
            json!(tickets),
            "{who}"
        );
        assert_eq!(from_pg, sqlite.query(q, variables.clone()).await, "{who}");
        let from_pg = pg.query(later, variables.clone()).await;
        assert_eq!(from_pg, sqlite.query(later, variables).await, "{who}");
        let ledger = pg
            .scalar(&format!(
                "SELECT COUNT(*) FROM loyalty_transactions WHERE customer_id = {id}"
            ))
            .await;
        assert_eq!(
            from_pg["customer"]["loyalty"]["transactions"]["totalCount"],
            json!(ledger),
            "{who}: {from_pg}"
        );
    }
}

/// Every relation with the fields that tell rows apart, two levels deep.
const EVERYTHING: &str = r#"query($n: Int!) {
  customers(first: $n, orderBy: { field: CREATED_AT, direction: ASC }) { edges { node {
    id email tags createdAt
    stats { ordersCount lifetimeValue { amount } lastOrderAt openTickets lastNpsScore }
    orders(first: 4) { pageInfo { hasNextPage endCursor } edges { cursor node {
      id orderNumber status channel placedAt total { amount currencyCode }
      lines(first: 3) { pageInfo { hasNextPage } edges { node { sku productName quantity unitPrice { amount } } } } } } }
    tickets(first: 3) { pageInfo { hasNextPage } edges { node {
      id subject status priority createdAt firstReplyMinutes satisfaction { score comment }
      messages(first: 2) { pageInfo { hasNextPage } edges { node { authorKind body createdAt } } } } } }
    reviews(first: 2) { edges { node { id productSku rating title verifiedPurchase createdAt } } }
    loyalty { tier pointsAvailable transactions(first: 3) { pageInfo { hasNextPage } edges { node { id kind points state createdAt } } } }
    referralsMade(first: 2) { edges { node { id code status invitedAt } } }
    referredBy { code }
    npsResponses(first: 2) { edges { node { id score category comment createdAt } } }
  } } }
}"#;

/// PostgreSQL reads each level's pages through one combined statement, as
/// JSON; SQLite reads them one statement each, as rows. The same seed in
/// both gives the same answer, field for field.
#[tokio::test]
async fn combined_pages_answer_what_separate_statements_answer() {
    let Some((pg, sqlite)) = combined_beside_sqlite(30).await else {
        return;
    };
    let from_pg = pg.query(EVERYTHING, json!({ "n": 30 })).await;
    let from_sqlite = sqlite.query(EVERYTHING, json!({ "n": 30 })).await;
    let edges = from_pg["customers"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 30);
    let orders: usize = edges
        .iter()
        .map(|e| e["node"]["orders"]["edges"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        orders > 30,
        "the seed gives the pages rows to compare ({orders} orders)"
    );
    assert_eq!(from_pg, from_sqlite);
}

/// The benchmark's list, ten customers long: a page with the customers'
/// to-one rows and five lists below them.
const LIST: &str = r#"query($order: CustomerOrder) { customers(first: 10, orderBy: $order) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id email firstName lastName tags
    stats { ordersCount lifetimeValue { amount } lastOrderAt }
    loyalty { tier pointsAvailable }
    orders(first: 5) { edges { node { orderNumber status total { amount } lines(first: 2) { nodes { sku } } } } }
    tickets(first: 3) { edges { node { subject status } } }
    reviews(first: 3) { edges { node { rating } } }
    referralsMade(first: 3) { edges { node { status } } }
    referredBy { code }
    npsResponses(first: 1) { edges { node { score } } }
  } } } }"#;

/// A request executing alone sends a page of customers and the lists below
/// it as two statements side by side (`--combine-pages split`, the
/// default): the customers in one, the lists over the page's keys in the
/// other. It answers what one statement answers, for every order of the
/// page; a page with no list below it, and a profile, stay one statement.
#[tokio::test]
async fn a_lone_page_and_its_lists_are_two_statements_side_by_side_on_postgres() {
    let Some((one, sqlite)) = combined_beside_sqlite(40).await else {
        return;
    };
    let split = one.beside(|c| c.combine_pages = CombinePages::Split).await;
    let orders = [
        json!(null),
        json!({ "field": "LIFETIME_VALUE", "direction": "DESC" }),
        json!({ "field": "LAST_ORDER_DATE", "direction": "ASC" }),
        json!({ "field": "CREATED_AT", "direction": "ASC" }),
    ];
    for order in orders {
        let variables = json!({ "order": order });
        let before = split.sql_statements().await;
        let halves = split.query(LIST, variables.clone()).await;
        assert_eq!(
            split.sql_statements().await - before,
            2,
            "{order}: {halves}"
        );
        assert_eq!(halves, one.query(LIST, variables.clone()).await, "{order}");
        assert_eq!(halves, sqlite.query(LIST, variables).await, "{order}");
        let edges = halves["customers"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 10);
        assert!(
            edges.iter().any(|e| !e["node"]["orders"]["edges"]
                .as_array()
                .expect("orders")
                .is_empty()),
            "{halves}"
        );
        // The next page, from the cursor, the same way.
        let after = halves["customers"]["pageInfo"]["endCursor"].clone();
        let next = LIST.replace("first: 10,", "first: 10, after: $after,");
        let next = next.replace("query($order", "query($after: String, $order");
        let variables = json!({ "order": order, "after": after });
        let before = split.sql_statements().await;
        let page = split.query(&next, variables.clone()).await;
        assert_eq!(split.sql_statements().await - before, 2, "{order}: {page}");
        assert_eq!(page, one.query(&next, variables).await, "{order}");
    }
    // Nothing below the customers: nothing to read beside them.
    let plain = r#"{ customers(first: 10) { nodes { id email stats { ordersCount } } } }"#;
    let before = split.sql_statements().await;
    let page = split.query(plain, json!({})).await;
    assert_eq!(split.sql_statements().await - before, 1, "{page}");
    assert_eq!(page, one.query(plain, json!({})).await);
    let id = split.scalar("SELECT MIN(customer_id) FROM orders").await;
    let variables = json!({ "id": gid("Customer", id) });
    let before = split.sql_statements().await;
    let profile = split.query(PROFILE, variables.clone()).await;
    assert_eq!(split.sql_statements().await - before, 1, "{profile}");
    assert_eq!(profile, one.query(PROFILE, variables).await);
    let reruns = split
        .pool_metric("c360_sql_split_reruns_total", "primary")
        .await;
    assert_eq!(reruns, 0.0, "every page read the same in both statements");
}

/// The two statements of a lone page run in snapshots of their own. Where
/// a customer is added between them, the lists' statement reads another
/// page than the customers' one: the gateway sees the pages differ and
/// reads the level again as one statement, so that no customer of the
/// answer has the lists of another page (or none). Here the lists'
/// statement waits on a lock on `tickets`, held by a transaction that adds
/// the newest customer and commits once that statement waits. Whatever
/// the order, the answer is what one statement reads after the commit.
#[tokio::test]
async fn a_page_that_changes_between_its_two_statements_is_read_again_as_one() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some((one, _sqlite)) = combined_beside_sqlite(20).await else {
        return;
    };
    // Connections to spare: the customers' statement must not wait on the
    // pool while the lists' statement holds one, waiting on the lock.
    let split = one
        .beside(|c| {
            c.combine_pages = CombinePages::Split;
            c.db_max_connections = 10;
        })
        .await;
    let variables = json!({ "order": null });
    // Warm: the statements are prepared, and the page reads the same in both.
    let before = split.query(LIST, variables.clone()).await;
    let reruns = split
        .pool_metric("c360_sql_split_reruns_total", "primary")
        .await;

    let tx = split.db.begin().await.expect("begin");
    tx.execute_unprepared("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock tickets");
    tx.execute_unprepared(
        "INSERT INTO customers (email, first_name, email_marketing_state, sms_consent_state, \
         phone_consent_state, created_at, updated_at) \
         SELECT 'newest@example.com', 'Newest', 'NOT_SUBSCRIBED', 'NOT_SUBSCRIBED', \
         'NOT_SUBSCRIBED', MAX(created_at) + INTERVAL '1 second', MAX(created_at) FROM customers",
    )
    .await
    .expect("add the newest customer");
    let request = {
        let (split, variables) = (&split, variables.clone());
        async move {
            let statements = split.sql_statements().await;
            let page = split.query(LIST, variables).await;
            (page, split.sql_statements().await - statements)
        }
    };
    let commit = async {
        // Until the lists' statement waits on the lock: it takes its
        // snapshot once the lock is granted, after the commit.
        let waiting = "SELECT COUNT(*) FROM pg_locks WHERE NOT granted \
                       AND relation = 'tickets'::regclass";
        let mut waited = 0;
        while one.scalar(waiting).await == 0 {
            waited += 1;
            assert!(
                waited < 1000,
                "the lists' statement never waited on tickets"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // A moment for the customers' statement, which waits on nothing.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        tx.commit().await.expect("commit");
    };
    let ((page, statements), ()) = futures_util::join!(request, commit);

    // The customers' statement, which waits on nothing, has mostly read
    // the page before the commit: then the halves differ and the level is
    // read again. Where it had not, both read after the commit and agree.
    let rerun = split
        .pool_metric("c360_sql_split_reruns_total", "primary")
        .await
        - reruns;
    assert!(rerun == 0.0 || rerun == 1.0, "{rerun}");
    assert_eq!(statements as f64, 2.0 + rerun, "{page}");
    assert_eq!(
        page["customers"]["edges"][0]["node"]["email"],
        "newest@example.com"
    );
    assert_ne!(page, before);
    // What one statement reads now, every list of every customer included.
    assert_eq!(page, one.query(LIST, variables).await);
}
