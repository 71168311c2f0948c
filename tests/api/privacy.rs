//! Privacy requests: export and erasure (STAFF or `privacy:write`), and the
//! audit trail of partner reads of unmasked PII.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;

const ERASE: &str = "mutation($id: ID!) { customerErase(id: $id) { customerId erasedAt } }";
const EXPORT: &str = "query($id: ID!) { customerDataExport(id: $id) }";

fn gid(id: i64) -> String {
    format!("gid://c360/Customer/{id}")
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Text columns of every table, and the column that ties a row to a customer.
const TEXT_COLUMNS: &[(&str, &[&str], Option<&str>)] = &[
    (
        "customers",
        &[
            "email",
            "first_name",
            "last_name",
            "phone",
            "external_source",
            "external_ref",
            "city",
            "locale",
            "country",
        ],
        Some("id"),
    ),
    ("customer_tags", &["tag"], Some("customer_id")),
    (
        "orders",
        &["order_number", "external_ref", "currency"],
        Some("customer_id"),
    ),
    ("order_lines", &["sku", "product_name"], Some("customer_id")),
    (
        "tickets",
        &["subject", "satisfaction_comment"],
        Some("customer_id"),
    ),
    (
        "ticket_messages",
        &["body", "author_name"],
        Some("customer_id"),
    ),
    (
        "reviews",
        &["product_sku", "title", "body"],
        Some("customer_id"),
    ),
    (
        "referrals",
        &["referee_email", "code", "rejection_reason"],
        Some("customer_id"),
    ),
    (
        "referrals",
        &["referee_email", "code", "rejection_reason"],
        Some("referee_customer_id"),
    ),
    ("loyalty_accounts", &["referral_code"], Some("customer_id")),
    (
        "loyalty_transactions",
        &["description", "idempotency_key"],
        Some("customer_id"),
    ),
    ("nps_responses", &["comment"], Some("customer_id")),
    (
        "store_credit_entries",
        &["reason", "idempotency_key"],
        Some("customer_id"),
    ),
    (
        "audit_events",
        &["principal", "role", "action", "target", "details"],
        Some("customer_id"),
    ),
    ("segments", &["name", "description", "query"], None),
];

/// Rows whose text contains `needle` (case-insensitive), in the whole table
/// or only in the customer's own rows.
async fn occurrences(app: &TestApp, needle: &str, customer: Option<i64>) -> Vec<String> {
    let needle = needle.to_lowercase().replace('\'', "''");
    let mut found = Vec::new();
    for (table, columns, owner) in TEXT_COLUMNS {
        let scope = match (customer, owner) {
            (Some(id), Some(col)) => format!(" AND {col} = {id}"),
            (Some(_), None) => continue,
            (None, _) => String::new(),
        };
        for column in *columns {
            let n = app
                .scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE LOWER(CAST({column} AS TEXT)) LIKE '%{needle}%'{scope}"
                ))
                .await;
            if n > 0 {
                found.push(format!("{table}.{column} ({n})"));
            }
        }
    }
    found
}

async fn figures(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT CAST(COALESCE(SUM(net_spend), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(orders_count), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(tickets_count), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(csat_sum), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(reviews_count), 0) AS BIGINT) FROM customer_metrics",
        "SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM orders",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM order_lines",
        "SELECT CAST(COALESCE(SUM(points_available + points_pending), 0) AS BIGINT) FROM loyalty_accounts",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

/// Issues store credit to `id` whose reason and retry key carry its name
/// and address, as staff and partners write them.
async fn credit_naming(app: &TestApp, id: i64, first: &str, email: &str) {
    let (_, body) = app
        .post(
            "mutation($c: ID!, $r: String, $k: String) { issueStoreCredit(customerId: $c, amount: 1500, currency: \"USD\", reason: $r, idempotencyKey: $k) { amount { amount } } }",
            json!({ "c": gid(id), "r": format!("Sorry {first}, parcel late ({email})"), "k": format!("goodwill-{email}") }),
            Some(&app.staff()),
        )
        .await;
    assert_eq!(
        body["data"]["issueStoreCredit"]["amount"]["amount"], "15.00",
        "{body}"
    );
}

/// A customer who was referred, has tickets and orders: PII in most tables.
async fn rich_customer(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT c.id FROM customers c \
         JOIN customer_metrics m ON m.customer_id = c.id AND m.orders_count > 0 \
         ORDER BY (SELECT COUNT(*) FROM referrals r WHERE r.referee_customer_id = c.id) DESC, \
                  m.tickets_count DESC, m.orders_count DESC, c.id LIMIT 1",
    )
    .await
}

both_stores! {
    async fn erasure_leaves_no_pii_in_any_table_and_keeps_the_figures(app: TestApp) {
        app.seed(30).await;
        let id = rich_customer(&app).await;
        let email = app.text(&format!("SELECT email FROM customers WHERE id = {id}")).await;
        let first = app.text(&format!("SELECT first_name FROM customers WHERE id = {id}")).await;
        let last = app.text(&format!("SELECT last_name FROM customers WHERE id = {id}")).await;
        let phone = app.text(&format!("SELECT COALESCE(phone, '') FROM customers WHERE id = {id}")).await;
        credit_naming(&app, id, &first, &email).await;
        // The seed spreads PII well beyond the profile; the test means something.
        assert!(!occurrences(&app, &email, None).await.iter().all(|t| t.starts_with("customers.")), "email only in customers");
        assert!(occurrences(&app, &first, Some(id)).await.len() > 1);
        let before = figures(&app).await;
        let orders = app.scalar(&format!("SELECT COUNT(*) FROM orders WHERE customer_id = {id}")).await;

        let data = app.query(ERASE, json!({ "id": gid(id) })).await;
        assert_eq!(data["customerErase"]["customerId"], gid(id));
        assert!(data["customerErase"]["erasedAt"].is_string());

        assert_eq!(occurrences(&app, &email, None).await, Vec::<String>::new(), "email {email}");
        if !phone.is_empty() {
            assert_eq!(occurrences(&app, &phone, None).await, Vec::<String>::new(), "phone {phone}");
        }
        for name in [&first, &last] {
            assert_eq!(occurrences(&app, name, Some(id)).await, Vec::<String>::new(), "name {name}");
        }
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM customer_tags WHERE customer_id = {id}")).await, 0);
        assert_eq!(
            app.text(&format!("SELECT email FROM customers WHERE id = {id}")).await,
            format!("erased-{id}@erased.invalid")
        );
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM customers WHERE id = {id} AND erased_at IS NOT NULL AND first_name IS NULL AND last_name IS NULL AND phone IS NULL AND birthday IS NULL AND city IS NULL AND external_ref IS NULL")).await, 1);
        // The anonymous history stays and every aggregate is unchanged.
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM orders WHERE customer_id = {id}")).await, orders);
        assert_eq!(figures(&app).await, before);
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'customer.erase' AND customer_id = {id} AND principal = 'staff-test' AND role = 'STAFF'")).await,
            1
        );
        // The API shows the erased profile.
        let data = app.query("query($id: ID!) { customer(id: $id) { email firstName phone erasedAt tags } }", json!({ "id": gid(id) })).await;
        assert_eq!(data["customer"]["email"], format!("erased-{id}@erased.invalid"));
        assert!(data["customer"]["firstName"].is_null());
        assert!(data["customer"]["erasedAt"].is_string());
        assert_eq!(data["customer"]["tags"], json!([]));
    }
}

both_stores! {
    async fn the_export_holds_every_record_on_the_customer(app: TestApp) {
        app.seed(20).await;
        let id = rich_customer(&app).await;
        let email = app.text(&format!("SELECT email FROM customers WHERE id = {id}")).await;
        let first = app.text(&format!("SELECT first_name FROM customers WHERE id = {id}")).await;
        credit_naming(&app, id, &first, &email).await;
        let data = app.query(EXPORT, json!({ "id": gid(id) })).await;
        let doc = &data["customerDataExport"];
        assert_eq!(doc["customer"]["email"], email);
        for (key, table, column) in [
            ("orders", "orders", "customer_id"),
            ("orderLines", "order_lines", "customer_id"),
            ("tickets", "tickets", "customer_id"),
            ("ticketMessages", "ticket_messages", "customer_id"),
            ("reviews", "reviews", "customer_id"),
            ("referralsMade", "referrals", "customer_id"),
            ("referredBy", "referrals", "referee_customer_id"),
            ("loyaltyTransactions", "loyalty_transactions", "customer_id"),
            ("npsResponses", "nps_responses", "customer_id"),
            ("tags", "customer_tags", "customer_id"),
            ("loyaltyAccount", "loyalty_accounts", "customer_id"),
            ("storeCreditEntries", "store_credit_entries", "customer_id"),
            ("storeCreditBalances", "store_credit_balances", "customer_id"),
        ] {
            let expected = app.scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = {id}")).await;
            assert_eq!(doc[key].as_array().map(Vec::len), Some(expected as usize), "{key}");
        }
        assert!(doc["orders"].as_array().is_some_and(|o| !o.is_empty()));
        assert_eq!(doc["storeCreditEntries"][0]["amount"], 1500);
        assert_eq!(doc["storeCreditBalances"][0]["balance"], 1500);
        assert_eq!(doc["metrics"]["customer_id"], id);
        // Audit details are JSON on both stores.
        app.post("query($id: ID!) { customer(id: $id) { email } }", json!({ "id": gid(id) }),
            Some(&app.token(Role::Partner, "crm", &["customers:read", "pii:read"]))).await;
        let data = app.query(EXPORT, json!({ "id": gid(id) })).await;
        let events = data["customerDataExport"]["auditEvents"].as_array().expect("events");
        let read = events.iter().find(|e| e["action"] == "pii.read").expect("the pii.read row");
        assert_eq!(read["principal"], "crm");
        assert_eq!(read["details"]["scopes"], json!(["customers:read", "pii:read"]));
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'customer.export' AND customer_id = {id}")).await,
            2
        );
        // After erasure the export holds no trace of the address.
        app.query(ERASE, json!({ "id": gid(id) })).await;
        let data = app.query(EXPORT, json!({ "id": gid(id) })).await;
        assert!(!data.to_string().contains(&email));
    }
}

both_stores! {
    async fn privacy_requests_need_staff_or_the_privacy_scope(app: TestApp) {
        app.seed(3).await;
        let id = app.scalar("SELECT MIN(id) FROM customers").await;
        let vars = json!({ "id": gid(id) });
        let partner = app.token(Role::Partner, "crm", &["customers:read", "pii:read"]);
        let customer = app.token(Role::Customer, &id.to_string(), &[]);
        for query in [EXPORT, ERASE] {
            let (_, body) = app.post(query, vars.clone(), Some(&partner)).await;
            assert_eq!(code(&body), "FORBIDDEN", "{body}");
            let (_, body) = app.post(query, vars.clone(), Some(&customer)).await;
            assert_eq!(code(&body), "FORBIDDEN", "{body}");
            let (_, body) = app.post(query, vars.clone(), None).await;
            assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
            let (_, body) = app.post(query, json!({ "id": gid(999_999) }), Some(&app.staff())).await;
            assert_eq!(code(&body), "NOT_FOUND", "{body}");
        }
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM customers WHERE id = {id} AND erased_at IS NULL")).await, 1);
        let dpo = app.token(Role::Partner, "dpo-tool", &["privacy:write"]);
        let (status, body) = app.post(EXPORT, vars.clone(), Some(&dpo)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["customerDataExport"]["customer"]["email"].is_string());
        let (_, body) = app.post(ERASE, vars.clone(), Some(&dpo)).await;
        assert!(body["data"]["customerErase"]["erasedAt"].is_string(), "{body}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_events WHERE principal = 'dpo-tool' AND role = 'PARTNER'").await, 2);
        // A mutation never runs over GET.
        let r = app.client.get(app.url("/graphql"))
            .query(&[("query", ERASE), ("variables", &vars.to_string())])
            .header("accept", "application/json")
            .bearer_auth(app.staff())
            .send().await.expect("sent");
        assert_eq!(r.status(), 405);
    }
}

both_stores! {
    async fn partner_reads_of_unmasked_pii_are_audited_in_one_statement(app: TestApp) {
        app.seed(12).await;
        let pii = app.token(Role::Partner, "helpdesk", &["customers:read", "pii:read"]);
        let masked = app.token(Role::Partner, "pos", &["customers:read"]);
        let list = "query($n: Int) { customers(first: $n) { edges { node { id email firstName } } } }";
        let pii_rows = || app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'pii.read'");

        let before = app.sql_statements().await;
        let (_, body) = app.post(list, json!({ "n": 3 }), Some(&pii)).await;
        let three = app.sql_statements().await - before;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(pii_rows().await, 3);
        let audited = app.ids("SELECT customer_id FROM audit_events WHERE action = 'pii.read' AND principal = 'helpdesk' ORDER BY customer_id").await;
        let mut shown: Vec<i64> = body["data"]["customers"]["edges"].as_array().expect("edges").iter()
            .map(|e| e["node"]["id"].as_str().expect("id").rsplit('/').next().expect("num").parse().expect("int"))
            .collect();
        shown.sort();
        assert_eq!(audited, shown);

        let before = app.sql_statements().await;
        app.post(list, json!({ "n": 10 }), Some(&pii)).await;
        let ten = app.sql_statements().await - before;
        assert_eq!(three, ten, "the audit costs one statement whatever the page");
        assert_eq!(pii_rows().await, 13);

        // Masked reads, reads without PII fields and staff reads leave no row.
        app.post(list, json!({ "n": 5 }), Some(&masked)).await;
        app.post("{ customers(first: 5) { edges { node { id country } } } }", json!({}), Some(&pii)).await;
        app.query(list, json!({ "n": 5 })).await;
        assert_eq!(pii_rows().await, 13);
    }
}
