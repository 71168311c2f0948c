//! `c360 import`: files in, the records visible through GraphQL, re-runs
//! changing nothing, and rejected lines reported with their line and reason.

use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;

/// What one `c360 import` run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the summary line's counts.
    fn counts(&self, created: u64, updated: u64, unchanged: u64, rejected: u64) {
        let expected = format!(
            "{created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected"
        );
        assert!(
            self.stdout.contains(&expected),
            "want `{expected}` in {self:?}"
        );
        assert_eq!(self.code, if rejected == 0 { 0 } else { 3 }, "{self:?}");
    }

    /// Asserts that `line` was rejected with a reason starting `prefix`.
    fn rejected(&self, line: u64, prefix: &str) {
        let want = format!("line {line}: {prefix}");
        assert!(
            self.stderr.lines().any(|l| l.starts_with(&want)),
            "want a line starting `{want}` in:\n{}",
            self.stderr
        );
    }
}

/// Writes `contents` to `name` in a temporary directory and imports it as
/// `kind` into the app's store.
pub async fn import(app: &TestApp, kind: &str, name: &str, contents: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write the file");
    let mut args: Vec<String> = vec![
        "import".into(),
        kind.into(),
        path.to_str().expect("utf-8 path").into(),
        "--database-url".into(),
        app.db_url.clone(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        crate::cli::c360()
            .args(&args)
            .output()
            .expect("c360 import runs")
    })
    .await
    .expect("joined");
    drop(dir);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const CUSTOMERS: &str = r#"{"externalRef":"shop-1","email":"Ann@Example.com","firstName":"Ann","tags":["vip","Wholesale"],"emailMarketingState":"SUBSCRIBED"}
{"externalRef":"shop-2","email":"bob@example.com","firstName":"Bob","country":"FR"}

{"externalRef":"shop-3","email":"not-an-email"}
{"externalRef":"shop-4","emial":"x@example.com"}
{"externalRef":"shop-5","email":
{"email":"carol@example.com","lastName":"Jones","birthday":"1990-02-03"}
"#;

const PROFILE: &str = r#"query($email: String!) { customerByEmail(email: $email) {
    id externalRef firstName lastName country birthday tags emailMarketingState updatedAt
    stats { ordersCount lifetimeValue { amount } refunded { amount } ticketsCount reviewsCount lastNpsScore csatAverage }
    loyalty { tier pointsPending pointsAvailable }
    orders(first: 10) { edges { node { orderNumber status total { amount } refunded { amount }
        lines { edges { node { sku quantity } } } } } }
    tickets(first: 10) { edges { node { subject status firstReplyMinutes resolutionMinutes
        satisfaction { score comment } messages { edges { node { authorKind body } } } } } }
    reviews(first: 10) { edges { node { productSku rating status verifiedPurchase } } }
    npsResponses(first: 10) { edges { node { score comment channel } } }
} }"#;

async fn profile(app: &TestApp, email: &str) -> Value {
    app.query(PROFILE, json!({ "email": email })).await["customerByEmail"].clone()
}

async fn audit_rows(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM audit_events").await
}

both_stores!(
    async fn customers_are_created_then_left_alone_and_bad_lines_reported(app: TestApp) {
        let run = import(&app, "customers", "customers.jsonl", CUSTOMERS, &[]).await;
        run.counts(3, 0, 0, 3);
        run.rejected(
            4,
            "BAD_USER_INPUT email: `not-an-email` is not an email address",
        );
        run.rejected(5, "BAD_USER_INPUT: unknown field `emial`");
        run.rejected(6, "BAD_USER_INPUT: not a JSON object");

        let ann = profile(&app, "ann@example.com").await;
        assert_eq!(ann["externalRef"], "shop-1");
        assert_eq!(ann["firstName"], "Ann");
        assert_eq!(ann["tags"], json!(["vip", "wholesale"]));
        assert_eq!(ann["emailMarketingState"], "SUBSCRIBED");
        assert_eq!(ann["loyalty"]["tier"], "BRONZE");
        let carol = profile(&app, "carol@example.com").await;
        assert_eq!(carol["lastName"], "Jones");
        assert_eq!(carol["birthday"], "1990-02-03");

        // The same file again: nothing written, not even an audit row.
        let audits = audit_rows(&app).await;
        let run = import(&app, "customers", "customers.jsonl", CUSTOMERS, &[]).await;
        run.counts(0, 0, 3, 3);
        assert_eq!(audit_rows(&app).await, audits);
        assert_eq!(
            profile(&app, "ann@example.com").await["updatedAt"],
            ann["updatedAt"]
        );

        // A changed record updates only that customer; tags are added.
        let changed = r#"{"externalRef":"shop-1","email":"ann@example.com","firstName":"Anna","tags":["gold"]}
{"externalRef":"shop-2","email":"bob@example.com","firstName":"Bob","country":"FR"}
"#;
        let run = import(&app, "customers", "more.jsonl", changed, &[]).await;
        run.counts(0, 1, 1, 0);
        let ann = profile(&app, "ann@example.com").await;
        assert_eq!(ann["firstName"], "Anna");
        assert_eq!(ann["tags"], json!(["gold", "vip", "wholesale"]));
    }
);

both_stores!(
    async fn customers_from_csv_split_tags_and_number_rows_by_file_line(app: TestApp) {
        let csv = "externalRef,email,firstName,tags,country\n\
                   crm-1,dee@example.com,Dee,vip; early-adopter,DE\n\
                   crm-2,eve@example.com,Eve,,France\n\
                   crm-3,fay@example.com,Fay,,\n";
        let run = import(&app, "customers", "customers.csv", csv, &[]).await;
        run.counts(2, 0, 0, 1);
        run.rejected(
            3,
            "BAD_USER_INPUT country: country must be 1 to 2 characters",
        );
        let dee = profile(&app, "dee@example.com").await;
        assert_eq!(dee["tags"], json!(["early-adopter", "vip"]));
        assert_eq!(dee["country"], "DE");

        let typo = "externalRef,emial\ncrm-9,x@example.com\n";
        let run = import(&app, "customers", "typo.csv", typo, &[]).await;
        run.counts(0, 0, 0, 1);
        run.rejected(2, "BAD_USER_INPUT: unknown field `emial`");
    }
);

const ORDERS: &str = "\
externalRef,customerEmail,status,currency,total,refunded,placedAt,sku,productName,quantity,unitPrice
pos-1,ann@example.com,PAID,USD,3000,,2026-10-01T10:00:00Z,SKU-1,Mug,2,1000
pos-1,ann@example.com,PAID,USD,3000,,2026-10-01T10:00:00Z,SKU-2,Tea,1,1000
pos-2,bob@example.com,PARTIALLY_REFUNDED,USD,5000,2000,2026-10-02T10:00:00Z,SKU-3,Pot,1,5000
pos-3,nobody@example.com,PAID,USD,100,,,SKU-1,Mug,1,100
pos-4,bob@example.com,PAID,USD,999,,,SKU-1,Mug,1,100
pos-5,bob@example.com,SHIPPED,USD,100,,,SKU-1,Mug,1,100
pos-6,bob@example.com,PAID,USD,100,,,SKU-1,Mug,1,100
pos-6,bob@example.com,PAID,USD,200,,,SKU-2,Tea,1,100
";

both_stores!(
    async fn orders_from_csv_group_their_lines_earn_points_and_only_move_forward(app: TestApp) {
        import(&app, "customers", "c.jsonl", CUSTOMERS, &[]).await;
        let run = import(&app, "orders", "orders.csv", ORDERS, &[]).await;
        run.counts(2, 0, 0, 4);
        run.rejected(5, "NOT_FOUND: no customer with email nobody@example.com");
        run.rejected(
            6,
            "BAD_USER_INPUT total: total 999 does not match the lines",
        );
        run.rejected(7, "BAD_USER_INPUT: unknown variant `SHIPPED`");
        run.rejected(
            8,
            "BAD_USER_INPUT: line 9 repeats order `pos-6` with different order fields",
        );

        let ann = profile(&app, "ann@example.com").await;
        let order = &ann["orders"]["edges"][0]["node"];
        assert_eq!(order["status"], "PAID");
        assert_eq!(order["total"]["amount"], "30.00");
        assert_eq!(
            order["lines"]["edges"].as_array().map(Vec::len),
            Some(2),
            "{order}"
        );
        assert_eq!(ann["stats"]["ordersCount"], 1);
        assert_eq!(ann["stats"]["lifetimeValue"]["amount"], "30.00");
        assert_eq!(ann["loyalty"]["pointsPending"], 30);
        let bob = profile(&app, "bob@example.com").await;
        let order = &bob["orders"]["edges"][0]["node"];
        assert_eq!(order["status"], "PARTIALLY_REFUNDED");
        assert_eq!(order["refunded"]["amount"], "20.00");
        // 50 points earned, 20 taken back with the refund.
        assert_eq!(bob["loyalty"]["pointsPending"], 30);
        assert_eq!(bob["stats"]["lifetimeValue"]["amount"], "30.00");

        let audits = audit_rows(&app).await;
        let run = import(&app, "orders", "orders.csv", ORDERS, &[]).await;
        run.counts(0, 0, 2, 4);
        assert_eq!(audit_rows(&app).await, audits);

        // A later export moves the order on; an earlier status is refused.
        let moved = "externalRef,customerEmail,status,currency,total,sku,productName,quantity,unitPrice\n\
                     pos-1,ann@example.com,FULFILLED,USD,3000,SKU-1,Mug,2,1000\n\
                     pos-1,ann@example.com,FULFILLED,USD,3000,SKU-2,Tea,1,1000\n\
                     pos-2,bob@example.com,PENDING,USD,5000,SKU-3,Pot,1,5000\n";
        let run = import(&app, "orders", "moved.csv", moved, &[]).await;
        run.counts(0, 1, 0, 1);
        run.rejected(4, "CONFLICT: the stored order is PARTIALLY_REFUNDED");
        let ann = profile(&app, "ann@example.com").await;
        assert_eq!(ann["orders"]["edges"][0]["node"]["status"], "FULFILLED");
        assert_eq!(ann["loyalty"]["pointsPending"], 30);

        // The same order from JSON Lines is the same order.
        let jsonl = r#"{"externalRef":"pos-1","customerEmail":"ann@example.com","status":"FULFILLED","currency":"USD","total":3000,"lines":[{"sku":"SKU-1","productName":"Mug","quantity":2,"unitPrice":1000},{"sku":"SKU-2","productName":"Tea","quantity":1,"unitPrice":1000}]}"#;
        let run = import(&app, "orders", "o.jsonl", jsonl, &[]).await;
        run.counts(0, 0, 1, 0);
    }
);

both_stores!(
    async fn order_lines_keep_their_category_from_csv_and_json_lines(app: TestApp) {
        import(&app, "customers", "c.jsonl", CUSTOMERS, &[]).await;
        let csv = "externalRef,customerEmail,status,currency,total,sku,productName,quantity,unitPrice,category\n\
                   cat-1,ann@example.com,PAID,USD,3000,SKU-1,Mug,2,1000, kitchen \n\
                   cat-1,ann@example.com,PAID,USD,3000,SKU-2,Tea,1,1000,\n";
        import(&app, "orders", "orders.csv", csv, &[])
            .await
            .counts(1, 0, 0, 0);
        let long = "x".repeat(65);
        let jsonl = format!(
            "{}\n{}\n",
            r#"{"externalRef":"cat-2","customerEmail":"bob@example.com","status":"PAID","currency":"USD","total":5000,"lines":[{"sku":"SKU-3","productName":"Pot","quantity":1,"unitPrice":5000,"category":"kitchen"}]}"#,
            format_args!(
                r#"{{"externalRef":"cat-3","customerEmail":"bob@example.com","status":"PAID","currency":"USD","total":5000,"lines":[{{"sku":"SKU-4","productName":"Cup","quantity":1,"unitPrice":5000,"category":"{long}"}}]}}"#
            ),
        );
        let run = import(&app, "orders", "o.jsonl", &jsonl, &[]).await;
        run.counts(1, 0, 0, 1);
        run.rejected(2, "BAD_USER_INPUT lines[0].category");
        // Trimmed, and absent where the file leaves it empty.
        for (sku, category) in [("SKU-1", "kitchen"), ("SKU-2", "-"), ("SKU-3", "kitchen")] {
            let stored = app
                .text(&format!(
                    "SELECT COALESCE(category, '-') FROM order_lines WHERE sku = '{sku}'"
                ))
                .await;
            assert_eq!(stored, category, "{sku}");
        }
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM order_lines WHERE sku = 'SKU-4'")
                .await,
            0
        );
    }
);

const TICKETS: &str = r#"{"externalRef":"zd-1","customerEmail":"ann@example.com","subject":"Broken mug","status":"SOLVED","priority":"HIGH","channel":"CHAT","createdAt":"2026-10-05T09:00:00Z","firstReplyAt":"2026-10-05T09:30:00Z","solvedAt":"2026-10-05T11:00:00Z","satisfactionScore":5,"satisfactionComment":"quick","messages":[{"authorKind":"CUSTOMER","body":"It arrived broken"},{"authorKind":"AGENT","authorName":"Sam","body":"A new one is on its way","createdAt":"2026-10-05T09:30:00Z"}]}
{"externalRef":"zd-2","customerEmail":"ann@example.com","subject":"Where is it?","status":"NEW","firstReplyAt":"2026-10-05T09:30:00Z"}
{"externalRef":"zd-3","customerId":"gid://c360/Customer/999999","subject":"Hello"}
{"externalRef":"zd-4","customerEmail":"ann@example.com","subject":"Rate early","status":"OPEN","satisfactionScore":4}
"#;

const REVIEWS: &str = r#"{"customerEmail":"ann@example.com","sku":"SKU-1","rating":5,"title":"Lovely","status":"PUBLISHED","createdAt":"2026-10-10T08:00:00Z"}
{"customerEmail":"ann@example.com","sku":"SKU-9","rating":7}
{"customerEmail":"bob@example.com","sku":"SKU-1","rating":2,"orderExternalRef":"pos-1"}
"#;

const NPS: &str = "externalRef,customerEmail,score,comment,channel,createdAt\n\
                   s-1,ann@example.com,9,Great,WEB,2026-10-12T08:00:00Z\n\
                   s-2,ann@example.com,11,,,\n";

both_stores!(
    async fn tickets_reviews_and_nps_answers_keep_their_history(app: TestApp) {
        import(&app, "customers", "c.jsonl", CUSTOMERS, &[]).await;
        import(&app, "orders", "o.csv", ORDERS, &[]).await;

        let run = import(&app, "tickets", "tickets.jsonl", TICKETS, &[]).await;
        run.counts(1, 0, 0, 3);
        run.rejected(
            2,
            "BAD_USER_INPUT status: a NEW ticket has no agent reply yet",
        );
        run.rejected(
            3,
            "NOT_FOUND: no customer with id gid://c360/Customer/999999",
        );
        run.rejected(
            4,
            "BAD_USER_INPUT satisfactionScore: satisfaction is given once",
        );
        let run = import(&app, "reviews", "reviews.jsonl", REVIEWS, &[]).await;
        run.counts(1, 0, 0, 2);
        run.rejected(2, "BAD_USER_INPUT rating: rating is 1 to 5, not 7");
        run.rejected(
            3,
            "NOT_FOUND: no order with externalRef `pos-1` for this customer",
        );
        let run = import(&app, "nps", "nps.csv", NPS, &[]).await;
        run.counts(1, 0, 0, 1);
        run.rejected(3, "BAD_USER_INPUT score: score is 0 to 10, not 11");

        let ann = profile(&app, "ann@example.com").await;
        let ticket = &ann["tickets"]["edges"][0]["node"];
        assert_eq!(ticket["status"], "SOLVED");
        assert_eq!(ticket["firstReplyMinutes"], 30);
        assert_eq!(ticket["resolutionMinutes"], 120);
        assert_eq!(
            ticket["satisfaction"],
            json!({ "score": 5, "comment": "quick" })
        );
        let authors: Vec<&Value> = ticket["messages"]["edges"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|e| &e["node"]["authorKind"])
            .collect();
        assert_eq!(authors, [&json!("CUSTOMER"), &json!("AGENT")]);
        let review = &ann["reviews"]["edges"][0]["node"];
        assert_eq!(review["status"], "PUBLISHED");
        // Ann's imported PAID order holds SKU-1.
        assert_eq!(review["verifiedPurchase"], true);
        assert_eq!(
            ann["npsResponses"]["edges"][0]["node"],
            json!({ "score": 9, "comment": "Great", "channel": "WEB" })
        );
        assert_eq!(ann["stats"]["ticketsCount"], 1);
        assert_eq!(ann["stats"]["reviewsCount"], 1);
        assert_eq!(ann["stats"]["lastNpsScore"], 9);
        assert_eq!(ann["stats"]["csatAverage"], 5.0);

        let audits = audit_rows(&app).await;
        import(&app, "tickets", "tickets.jsonl", TICKETS, &[])
            .await
            .counts(0, 0, 1, 3);
        import(&app, "reviews", "reviews.jsonl", REVIEWS, &[])
            .await
            .counts(0, 0, 1, 2);
        import(&app, "nps", "nps.csv", NPS, &[])
            .await
            .counts(0, 0, 1, 1);
        assert_eq!(audit_rows(&app).await, audits);

        // The helpdesk closed the ticket since; the survey answer was edited.
        let later = r#"{"externalRef":"zd-1","customerEmail":"ann@example.com","subject":"Broken mug","status":"CLOSED","priority":"HIGH","channel":"CHAT","createdAt":"2026-10-05T09:00:00Z","firstReplyAt":"2026-10-05T09:30:00Z","solvedAt":"2026-10-05T11:00:00Z","satisfactionScore":5,"satisfactionComment":"quick"}"#;
        import(&app, "tickets", "later.jsonl", later, &[])
            .await
            .counts(0, 1, 0, 0);
        let nps = "externalRef,customerEmail,score,channel\ns-1,ann@example.com,6,WEB\n";
        import(&app, "nps", "later.csv", nps, &[])
            .await
            .counts(0, 1, 0, 0);
        let ann = profile(&app, "ann@example.com").await;
        assert_eq!(ann["tickets"]["edges"][0]["node"]["status"], "CLOSED");
        assert_eq!(ann["npsResponses"]["edges"][0]["node"]["score"], 6);
        assert_eq!(ann["stats"]["lastNpsScore"], 6);
        // Still one conversation of two messages.
        assert_eq!(
            ann["tickets"]["edges"][0]["node"]["messages"]["edges"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }
);

/// Row counts of every table a record can touch.
async fn table_counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "customers",
        "customer_tags",
        "orders",
        "order_lines",
        "tickets",
        "ticket_messages",
        "reviews",
        "nps_responses",
        "loyalty_transactions",
        "audit_events",
    ] {
        counts.push(app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts
}

both_stores!(
    async fn rejected_lines_write_nothing_and_good_lines_around_them_land(app: TestApp) {
        import(&app, "customers", "c.jsonl", CUSTOMERS, &[]).await;
        let before = table_counts(&app).await;
        let bad = r#"{"externalRef":"x-1","customerEmail":"ann@example.com","status":"PAID","currency":"usd","total":100,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}
{"externalRef":"x-2","customerEmail":"ann@example.com","status":"REFUNDED","currency":"USD","total":100,"refunded":50,"lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}
{"externalRef":"x-3","customerEmail":"ann@example.com","status":"PAID","currency":"USD","total":100,"lines":[{"sku":"A","productName":"A","quantity":0,"unitPrice":100}]}
"#;
        let run = import(&app, "orders", "bad.jsonl", bad, &["--batch-size", "2"]).await;
        run.counts(0, 0, 0, 3);
        run.rejected(1, "BAD_USER_INPUT currency");
        run.rejected(
            2,
            "BAD_USER_INPUT refunded: a REFUNDED order refunded its total (100), not 50",
        );
        run.rejected(3, "BAD_USER_INPUT lines[0].quantity");
        assert_eq!(table_counts(&app).await, before);

        // Good records before and after bad ones, across batch boundaries.
        let mixed = r#"{"externalRef":"m-1","email":"m1@example.com"}
{"externalRef":"m-2","email":"ann@example.com"}
{"externalRef":"m-3","email":"m3@example.com"}
{"externalRef":"m-4","email":"m3@example.com"}
{"externalRef":"m-5","email":"m5@example.com"}
"#;
        let run = import(
            &app,
            "customers",
            "mixed.jsonl",
            mixed,
            &["--batch-size", "2"],
        )
        .await;
        run.counts(3, 0, 0, 2);
        run.rejected(
            2,
            "CONFLICT: another customer already uses the email ann@example.com",
        );
        run.rejected(
            4,
            "CONFLICT: another customer already uses the email m3@example.com",
        );
        for email in ["m1@example.com", "m3@example.com", "m5@example.com"] {
            assert_eq!(
                profile(&app, email).await["emailMarketingState"],
                "NOT_SUBSCRIBED"
            );
        }
    }
);

both_stores!(
    async fn rejected_lines_can_go_to_a_file(app: TestApp) {
        let dir = tempfile::tempdir().expect("temp dir");
        let rejects = dir.path().join("rejects.jsonl");
        let run = import(
            &app,
            "customers",
            "c.jsonl",
            CUSTOMERS,
            &["--rejects", rejects.to_str().expect("utf-8")],
        )
        .await;
        run.counts(3, 0, 0, 3);
        assert!(
            run.stderr.contains("rejected lines are listed in"),
            "{run:?}"
        );
        let lines: Vec<Value> = std::fs::read_to_string(&rejects)
            .expect("rejects written")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(
            lines[0],
            json!({ "line": 4, "code": "BAD_USER_INPUT", "field": "email",
                    "reason": "`not-an-email` is not an email address such as jane@example.com" })
        );
        assert_eq!(
            lines.iter().map(|l| l["line"].as_u64()).collect::<Vec<_>>(),
            [Some(4), Some(5), Some(6)]
        );
    }
);

/// Imports `contents` as `kind` in-process, at the gateway clock's time,
/// as `c360 import` does at the system clock's.
async fn import_at_the_clock(
    app: &TestApp,
    kind: c360::import::Kind,
    name: &str,
    contents: &str,
) -> c360::import::Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write the file");
    let ctx = c360::import::records::Context {
        rules: app.rules.clone(),
        principal: c360::auth::Principal {
            role: c360::auth::Role::Staff,
            subject: "c360-import".into(),
            scopes: Default::default(),
        },
        source: "import".into(),
        now: app.clock.now(),
    };
    let options = c360::import::Options {
        format: None,
        batch_size: 500,
        progress: false,
        record_at_a_time: false,
    };
    c360::import::run(&app.db, &ctx, kind, &path, &options)
        .await
        .expect("the import runs")
}

both_stores!(
    async fn times_ahead_of_the_run_are_refused_by_its_clock(app: TestApp) {
        use c360::import::Kind;
        use chrono::{DateTime, Utc};
        let at =
            |t: &str| -> DateTime<Utc> { DateTime::parse_from_rfc3339(t).expect("time").to_utc() };
        import(&app, "customers", "c.jsonl", CUSTOMERS, &[]).await;
        let order = r#"{"externalRef":"ahead-1","customerEmail":"ann@example.com","status":"PAID","currency":"USD","total":100,"placedAt":"2030-06-01T10:00:00Z","lines":[{"sku":"A","productName":"A","quantity":1,"unitPrice":100}]}"#;
        let nps = "externalRef,customerEmail,score,createdAt\n\
                   ahead-1,ann@example.com,9,2030-06-01T10:00:00Z\n";

        // An hour before: the future, beyond five minutes of clock skew.
        app.clock.set(at("2030-06-01T09:00:00Z"));
        for (kind, name, contents, field) in [
            (Kind::Orders, "o.jsonl", order, "placedAt"),
            (Kind::Nps, "n.csv", nps, "createdAt"),
        ] {
            let report = import_at_the_clock(&app, kind, name, contents).await;
            assert_eq!((report.created, report.rejected.len()), (0, 1), "{report}");
            let rejected = &report.rejected[0];
            assert_eq!(
                (rejected.code, rejected.field.as_deref()),
                ("BAD_USER_INPUT", Some(field))
            );
            assert_eq!(
                rejected.reason,
                format!("{field} 2030-06-01T10:00:00+00:00 is in the future")
            );
        }

        // Four minutes before is skew, not the future.
        app.clock.set(at("2030-06-01T09:56:00Z"));
        for (kind, name, contents) in [(Kind::Orders, "o.jsonl", order), (Kind::Nps, "n.csv", nps)]
        {
            let report = import_at_the_clock(&app, kind, name, contents).await;
            assert_eq!((report.created, report.rejected.len()), (1, 0), "{report}");
        }
        app.clock.reset();
    }
);

#[tokio::test]
async fn import_refuses_files_it_cannot_read() {
    let app = TestApp::spawn_sqlite().await;
    let run = import(&app, "customers", "customers.txt", "{}", &[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("cannot tell the format"), "{run:?}");
    let run = import(
        &app,
        "customers",
        "customers.txt",
        "",
        &["--format", "jsonl"],
    )
    .await;
    run.counts(0, 0, 0, 0);

    let out = crate::cli::c360()
        .args([
            "import",
            "orders",
            "/nonexistent/orders.csv",
            "--database-url",
            &app.db_url,
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/orders.csv"));

    let out = crate::cli::c360()
        .args(["import", "invoices", "x.csv", "--database-url", &app.db_url])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("possible values: customers, orders, tickets, reviews, nps")
    );
}
