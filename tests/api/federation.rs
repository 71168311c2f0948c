//! c360 as an Apollo Federation v2 subgraph: the SDL a gateway composes
//! (`_service { sdl }`), entities resolved in one statement per kind, under
//! `node(id)`'s access rules and masking, and bad representations answered
//! as user errors, one representation at a time.

use c360::auth::{Role, mask_email};
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{TestApp, codes, gid};

const ENTITIES: &str = r#"query($r: [_Any!]!) {
  _entities(representations: $r) {
    __typename
    ... on Customer { id email }
    ... on Order { id orderNumber customerId }
    ... on Ticket { id subject customerId }
    ... on Review { id rating productSku customerId }
  }
}"#;

fn rep(kind: &str, id: i64) -> Value {
    json!({ "__typename": kind, "id": gid(kind, id) })
}

/// The first `n` row ids of `table`.
async fn first_ids(app: &TestApp, table: &str, n: usize) -> Vec<i64> {
    let ids = app
        .ids(&format!("SELECT id FROM {table} ORDER BY id LIMIT {n}"))
        .await;
    assert_eq!(ids.len(), n, "the seed has {n} rows in {table}");
    ids
}

/// What each kind's entity must read back, straight from the store.
async fn expected(app: &TestApp, kind: &str, id: i64) -> Value {
    match kind {
        "Customer" => json!({
            "__typename": kind, "id": gid(kind, id),
            "email": app.text(&format!("SELECT email FROM customers WHERE id = {id}")).await,
        }),
        "Order" => json!({
            "__typename": kind, "id": gid(kind, id),
            "orderNumber": app.text(&format!("SELECT order_number FROM orders WHERE id = {id}")).await,
            "customerId": gid("Customer", app.scalar(&format!("SELECT customer_id FROM orders WHERE id = {id}")).await),
        }),
        "Ticket" => json!({
            "__typename": kind, "id": gid(kind, id),
            "subject": app.text(&format!("SELECT subject FROM tickets WHERE id = {id}")).await,
            "customerId": gid("Customer", app.scalar(&format!("SELECT customer_id FROM tickets WHERE id = {id}")).await),
        }),
        "Review" => json!({
            "__typename": kind, "id": gid(kind, id),
            "rating": app.scalar(&format!("SELECT CAST(rating AS BIGINT) FROM reviews WHERE id = {id}")).await,
            "productSku": app.text(&format!("SELECT product_sku FROM reviews WHERE id = {id}")).await,
            "customerId": gid("Customer", app.scalar(&format!("SELECT customer_id FROM reviews WHERE id = {id}")).await),
        }),
        other => panic!("no entity {other}"),
    }
}

/// `n` representations of each kind, interleaved (a gateway sends them in
/// whatever order its plan met them), with the entities they must resolve to.
async fn mixed(app: &TestApp, n: usize) -> (Vec<Value>, Vec<Value>) {
    let kinds = [
        ("Customer", "customers"),
        ("Order", "orders"),
        ("Ticket", "tickets"),
        ("Review", "reviews"),
    ];
    let mut per_kind = Vec::new();
    for (kind, table) in kinds {
        per_kind.push((kind, first_ids(app, table, n).await));
    }
    let (mut reps, mut want) = (Vec::new(), Vec::new());
    for i in 0..n {
        for (kind, ids) in &per_kind {
            reps.push(rep(kind, ids[i]));
            want.push(expected(app, kind, ids[i]).await);
        }
    }
    (reps, want)
}

#[tokio::test]
async fn service_sdl_links_federation_v2_and_keys_each_entity_by_id() {
    let app = TestApp::spawn_sqlite().await;
    let data = app.query("{ _service { sdl } }", json!({})).await;
    let sdl = data["_service"]["sdl"].as_str().expect("sdl");

    assert!(
        sdl.contains("extend schema @link(")
            && sdl.contains("url: \"https://specs.apollo.dev/federation/v2."),
        "links the federation v2 spec:\n{sdl}"
    );
    let import = sdl
        .lines()
        .find(|l| l.trim_start().starts_with("import:"))
        .expect("an import list");
    for directive in ["@key", "@shareable", "@external", "@requires"] {
        assert!(
            import.contains(&format!("\"{directive}\"")),
            "imports {directive}: {import}"
        );
    }
    // Each entity, keyed by its global id; the product only referred to.
    let declaration = |ty: &str| {
        sdl.lines()
            .find(|l| l.starts_with(&format!("type {ty} ")))
            .unwrap_or_else(|| panic!("type {ty} in the SDL"))
            .to_owned()
    };
    for ty in ["Customer", "Order", "Ticket", "Review"] {
        assert!(
            declaration(ty).contains("@key(fields: \"id\")"),
            "{}",
            declaration(ty)
        );
    }
    assert!(
        declaration("Product").contains("@key(fields: \"sku\", resolvable: false)"),
        "{}",
        declaration("Product")
    );
    // Types that are not entities carry no key.
    for ty in ["OrderLine", "Referral", "Money"] {
        assert!(!declaration(ty).contains("@key"), "{}", declaration(ty));
    }
    // The federation SDL leaves out the protocol's own fields and types,
    // which a gateway adds itself.
    for protocol in ["_entities", "_service", "_Any", "_Entity", "_Service"] {
        assert!(
            !sdl.contains(protocol),
            "{protocol} is not in the federation SDL"
        );
    }
}

both_stores! {
    async fn entities_resolve_in_one_statement_per_kind_whatever_their_number(app: TestApp) {
        app.seed(30).await;
        let mut counts = Vec::new();
        for n in [2, 20] {
            let (reps, want) = mixed(&app, n).await;
            assert_eq!(reps.len(), 4 * n);
            let before = app.sql_statements().await;
            let data = app.query(ENTITIES, json!({ "r": reps })).await;
            counts.push(app.sql_statements().await - before);
            assert_eq!(data["_entities"], Value::Array(want), "{n} of each kind");
        }
        assert_eq!(counts[0], counts[1], "statements must not grow with the representations: {counts:?}");
        // The customers, the orders, the tickets, the reviews.
        assert_eq!(counts[1], 4, "one statement per kind");

        // An entity's relations batch as they do under `node`: one more
        // statement for every order's lines, whose products are references
        // by sku.
        let orders = first_ids(&app, "orders", 20).await;
        let reps: Vec<Value> = orders.iter().map(|&id| rep("Order", id)).collect();
        let before = app.sql_statements().await;
        let data = app
            .query(
                r#"query($r: [_Any!]!) { _entities(representations: $r) {
                    ... on Order { id lines(first: 100) { nodes { sku product { sku } } } } } }"#,
                json!({ "r": reps }),
            )
            .await;
        assert_eq!(app.sql_statements().await - before, 2, "orders, then their lines");
        for (entity, id) in data["_entities"].as_array().expect("entities").iter().zip(&orders) {
            assert_eq!(entity["id"], gid("Order", *id));
            let stored = app.ids(&format!("SELECT id FROM order_lines WHERE order_id = {id} ORDER BY id")).await;
            let lines = entity["lines"]["nodes"].as_array().expect("lines");
            assert_eq!(lines.len(), stored.len(), "order {id}'s lines");
            for (line, line_id) in lines.iter().zip(stored) {
                let sku = app.text(&format!("SELECT sku FROM order_lines WHERE id = {line_id}")).await;
                assert_eq!(line["sku"], sku.as_str(), "line {line_id}");
                assert_eq!(line["product"], json!({ "sku": sku }), "the product is referred to by the line's sku");
            }
        }
    }
}

both_stores! {
    async fn entities_follow_the_access_rules_and_masking_of_node(app: TestApp) {
        app.seed(10).await;
        let customers = first_ids(&app, "customers", 2).await;
        let (me, other) = (customers[0], customers[1]);
        let order_of = |c: i64| format!("SELECT MIN(id) FROM orders WHERE customer_id = {c}");
        let (my_order, other_order) = (app.scalar(&order_of(me)).await, app.scalar(&order_of(other)).await);
        let my_email = app.text(&format!("SELECT email FROM customers WHERE id = {me}")).await;
        let reps = json!([rep("Customer", me), rep("Order", my_order), rep("Customer", other), rep("Order", other_order)]);
        let query = r#"query($r: [_Any!]!) { _entities(representations: $r) {
            ... on Customer { id email } ... on Order { id orderNumber } } }"#;
        let node_query = r#"query($c: ID!, $o: ID!) {
            c: node(id: $c) { ... on Customer { id email } } o: node(id: $o) { ... on Order { id orderNumber } } }"#;
        let node_vars = json!({ "c": gid("Customer", me), "o": gid("Order", my_order) });

        // A partner without `orders:read` or `pii:read`: customers masked,
        // each order FORBIDDEN on its own, the rest of the answer standing.
        let partner = app.token(Role::Partner, "partner-federation", &["customers:read"]);
        let (status, body) = app.post(query, json!({ "r": reps }), Some(&partner)).await;
        assert_eq!(status, 200, "{body}");
        let entities = &body["data"]["_entities"];
        assert_eq!(entities[0], json!({ "id": gid("Customer", me), "email": mask_email(&my_email) }));
        assert_ne!(entities[0]["email"], my_email.as_str());
        assert_eq!(entities[2]["id"], gid("Customer", other));
        assert_eq!(entities[1], Value::Null);
        assert_eq!(entities[3], Value::Null);
        assert_eq!(codes(&body), vec!["FORBIDDEN", "FORBIDDEN"], "{body}");
        let mut paths: Vec<Value> = body["errors"].as_array().expect("errors").iter().map(|e| e["path"].clone()).collect();
        paths.sort_by_key(|p| p[1].as_u64());
        assert_eq!(paths, vec![json!(["_entities", 1]), json!(["_entities", 3])]);
        // `node` answers the same caller the same way.
        let (_, by_node) = app.post(node_query, node_vars.clone(), Some(&partner)).await;
        assert_eq!(by_node["data"]["c"], entities[0]);
        assert_eq!(codes(&by_node), vec!["FORBIDDEN"]);

        // With `orders:read` and `pii:read`: everything, unmasked.
        let full = app.token(Role::Partner, "partner-federation", &["customers:read", "orders:read", "pii:read"]);
        let (_, body) = app.post(query, json!({ "r": reps }), Some(&full)).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["_entities"][0]["email"], my_email.as_str());
        let number = app.text(&format!("SELECT order_number FROM orders WHERE id = {other_order}")).await;
        assert_eq!(body["data"]["_entities"][3]["orderNumber"], number.as_str());

        // A customer sees itself and its own orders; everyone else's
        // entities are null, without an error, as under `node`.
        let customer = app.token(Role::Customer, &me.to_string(), &[]);
        let (_, body) = app.post(query, json!({ "r": reps }), Some(&customer)).await;
        assert!(body.get("errors").is_none(), "{body}");
        let entities = &body["data"]["_entities"];
        assert_eq!(entities[0], json!({ "id": gid("Customer", me), "email": my_email }));
        assert_eq!(entities[1]["id"], gid("Order", my_order));
        assert_eq!((&entities[2], &entities[3]), (&Value::Null, &Value::Null));
        let (_, by_node) = app.post(node_query, json!({ "c": gid("Customer", other), "o": gid("Order", other_order) }), Some(&customer)).await;
        assert_eq!(by_node["data"], json!({ "c": null, "o": null }));

        // Nobody anonymous.
        let (status, body) = app.post(query, json!({ "r": [rep("Customer", me)] }), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["_entities"], json!([null]));
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
    }
}

both_stores! {
    async fn bad_representations_are_user_errors_for_themselves_only(app: TestApp) {
        app.seed(3).await;
        let staff = app.staff();
        let customer = first_ids(&app, "customers", 1).await[0];
        let order = first_ids(&app, "orders", 1).await[0];
        let cases = [
            (json!({ "__typename": "Product", "id": gid("Order", order) }), "__typename"),
            (json!({ "__typename": "Referral", "id": "gid://c360/Referral/1" }), "__typename"),
            (json!({ "id": gid("Order", order) }), "__typename"),
            (json!({ "__typename": 5, "id": gid("Order", order) }), "__typename"),
            (json!({ "__typename": "Order" }), "id"),
            (json!({ "__typename": "Order", "id": null }), "id"),
            (json!({ "__typename": "Order", "id": order }), "id"),
            (json!({ "__typename": "Order", "id": "five" }), "id"),
            (json!({ "__typename": "Order", "id": "gid://c360/Order/0" }), "id"),
            (json!({ "__typename": "Order", "id": gid("Customer", customer) }), "id"),
            (json!({ "__typename": "Customer", "id": gid("Order", order) }), "id"),
            (json!("gid://c360/Order/1"), ""),
            (json!(["Order", 1]), ""),
        ];
        for (bad, part) in cases {
            // Between two good representations, which still resolve.
            let reps = json!([rep("Customer", customer), bad, rep("Order", order)]);
            let (status, body) = app
                .post(
                    r#"query($r: [_Any!]!) { e: _entities(representations: $r) {
                        ... on Customer { id } ... on Order { id } } }"#,
                    json!({ "r": reps }),
                    Some(&staff),
                )
                .await;
            assert_eq!(status, 200, "{bad}: {body}");
            assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{bad}: {body}");
            let error = &body["errors"][0];
            let field = if part.is_empty() { "representations[1]".to_owned() } else { format!("representations[1].{part}") };
            assert_eq!(error["extensions"]["field"], field.as_str(), "{bad}: {body}");
            assert_eq!(error["path"], json!(["e", 1]), "{bad}: {body}");
            assert_eq!(
                body["data"]["e"],
                json!([{ "id": gid("Customer", customer) }, null, { "id": gid("Order", order) }]),
                "{bad}"
            );
        }

        // The messages say what to send instead.
        let (_, body) = app
            .post(ENTITIES, json!({ "r": [{ "__typename": "Order", "id": gid("Customer", customer) }] }), Some(&staff))
            .await;
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("Customer id") && message.contains("Order id is expected"), "{message}");
        let (_, body) = app
            .post(ENTITIES, json!({ "r": [{ "__typename": "Product", "id": "x" }] }), Some(&staff))
            .await;
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("Customer, Order, Ticket, Review"), "{message}");

        // Ids that do not exist are null, not errors, as under `node`.
        let (_, body) = app
            .post(ENTITIES, json!({ "r": [rep("Order", 999_999), rep("Customer", 999_999)] }), Some(&staff))
            .await;
        assert_eq!(body, json!({ "data": { "_entities": [null, null] } }));

        // A representation list that is not one is refused before execution.
        let (status, body) = app.post(ENTITIES, json!({ "r": null }), Some(&staff)).await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{body}");
        assert!(status < 500, "{status}: {body}");
    }
}
