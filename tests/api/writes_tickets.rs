//! Ticket writes through the API: open, replies, status changes, CSAT and
//! the first-reply SLA.

use c360::auth::Role;
use chrono::SubsecRound;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;
use crate::writes_orders::{codes, field, first_customer, gid};

const OPEN: &str = r#"
mutation($c: ID!, $s: String!, $b: String!) {
  ticketOpen(customerId: $c, subject: $s, body: $b, priority: HIGH, channel: CHAT) {
    id status priority firstReplyAt firstReplyBreached messages(first: 5) { edges { node { authorKind body } } } }
}"#;
const REPLY: &str = r#"
mutation($id: ID!, $k: AuthorKind!, $b: String!) {
  ticketReply(id: $id, authorKind: $k, body: $b, authorName: "Sam") {
    status firstReplyAt firstReplyMinutes firstReplyBreached } }"#;
const STATUS: &str = r#"
mutation($id: ID!, $s: TicketStatus!) { ticketUpdateStatus(id: $id, status: $s) { status solvedAt resolutionMinutes } }"#;
const RATE: &str = r#"
mutation($id: ID!, $score: Int!, $comment: String) {
  ticketRate(id: $id, score: $score, comment: $comment) { satisfaction { score comment } } }"#;

async fn metric(app: &TestApp, column: &str, customer: i64) -> i64 {
    app.scalar(&format!(
        "SELECT {column} FROM customer_metrics WHERE customer_id = {customer}"
    ))
    .await
}

fn err(body: &Value) -> (Vec<String>, String) {
    (codes(body), field(body).to_owned())
}

both_stores! {
    async fn tickets_open_get_answered_solved_and_rated_once(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let desk = app.token(Role::Partner, "helpdesk", &["tickets:write", "tickets:read"]);
        let open_before = metric(&app, "open_tickets", id).await;
        let csat_before = metric(&app, "csat_count", id).await;

        let (_, body) = app.post(OPEN, json!({ "c": gid("Customer", id), "s": "Broken zip", "b": "The zip broke." }), Some(&own)).await;
        let t = &body["data"]["ticketOpen"];
        assert_eq!(t["status"], "NEW", "{body}");
        assert_eq!(t["priority"], "HIGH");
        assert_eq!(t["firstReplyBreached"], false);
        assert_eq!(t["messages"]["edges"][0]["node"], json!({ "authorKind": "CUSTOMER", "body": "The zip broke." }));
        let ticket = t["id"].as_str().expect("id").to_owned();
        let ticket_id: i64 = ticket.rsplit('/').next().expect("n").parse().expect("int");
        assert_eq!(metric(&app, "open_tickets", id).await, open_before + 1);

        // Bad input and access, nothing written.
        let messages = app.scalar("SELECT COUNT(*) FROM ticket_messages").await;
        let (_, body) = app.post(OPEN, json!({ "c": gid("Customer", id), "s": " ", "b": "x" }), Some(&own)).await;
        assert_eq!(err(&body), (vec!["BAD_USER_INPUT".to_owned()], "subject".to_owned()), "{body}");
        let (_, body) = app.post(OPEN, json!({ "c": gid("Customer", other), "s": "s", "b": "x" }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "AGENT", "b": "hi" }), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(RATE, json!({ "id": ticket, "score": 5 }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("m").contains("is NEW"), "{body}");
        let (_, body) = app.post(STATUS, json!({ "id": ticket, "s": "CLOSED" }), Some(&desk)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM ticket_messages").await, messages);

        // The customer writes again: no first reply yet. The agent's reply sets it.
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "CUSTOMER", "b": "Any news?" }), Some(&own)).await;
        assert!(body["data"]["ticketReply"]["firstReplyAt"].is_null(), "{body}");
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "AGENT", "b": "On it." }), Some(&desk)).await;
        let r = &body["data"]["ticketReply"];
        assert_eq!(r["status"], "OPEN", "{body}");
        assert_eq!(r["firstReplyMinutes"], 0);
        assert_eq!(r["firstReplyBreached"], false);
        let first = r["firstReplyAt"].clone();
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "AGENT", "b": "Shipped a new one." }), Some(&desk)).await;
        assert_eq!(body["data"]["ticketReply"]["firstReplyAt"], first, "only the first agent reply counts");
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = {ticket_id}")).await, 4);

        let (_, body) = app.post(STATUS, json!({ "id": ticket, "s": "SOLVED" }), Some(&desk)).await;
        assert_eq!(body["data"]["ticketUpdateStatus"]["status"], "SOLVED", "{body}");
        assert!(body["data"]["ticketUpdateStatus"]["solvedAt"].is_string());
        assert_eq!(metric(&app, "open_tickets", id).await, open_before);
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "CUSTOMER", "b": "thanks" }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(RATE, json!({ "id": ticket, "score": 6 }), Some(&own)).await;
        assert_eq!(err(&body), (vec!["BAD_USER_INPUT".to_owned()], "score".to_owned()), "{body}");
        let (_, body) = app.post(RATE, json!({ "id": ticket, "score": 4, "comment": " quick " }), Some(&own)).await;
        assert_eq!(body["data"]["ticketRate"]["satisfaction"], json!({ "score": 4, "comment": "quick" }), "{body}");
        let (_, body) = app.post(RATE, json!({ "id": ticket, "score": 5 }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(metric(&app, "csat_count", id).await, csat_before + 1);
        let (_, body) = app.post(STATUS, json!({ "id": ticket, "s": "CLOSED" }), Some(&desk)).await;
        assert_eq!(body["data"]["ticketUpdateStatus"]["status"], "CLOSED", "{body}");
        let (_, body) = app.post(STATUS, json!({ "id": ticket, "s": "OPEN" }), Some(&desk)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        assert!(body["errors"][0]["message"].as_str().expect("m").contains("is CLOSED"), "{body}");
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM audit_events WHERE target = '{ticket}'")).await, 7);
    }
}

both_stores! {
    async fn a_first_reply_later_than_the_target_is_a_breach(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let desk = app.token(Role::Partner, "helpdesk", &["tickets:write", "tickets:read"]);
        // Opened on a stopped clock 61 minutes before the system time, so an
        // unanswered ticket has waited 61 minutes whichever clock a read uses.
        let opened = chrono::Utc::now().trunc_subsecs(0) - chrono::TimeDelta::minutes(61);
        app.clock.set(opened);
        let (_, body) = app.post(OPEN, json!({ "c": gid("Customer", id), "s": "Late", "b": "hello" }), Some(&desk)).await;
        let ticket = body["data"]["ticketOpen"]["id"].as_str().expect("id").to_owned();
        // The clock moves past the one-hour first-reply target: unanswered,
        // already breached.
        app.clock.advance(chrono::TimeDelta::minutes(61));
        let data = app.query("query($id: ID!) { node(id: $id) { ... on Ticket { firstReplyBreached firstReplyMinutes } } }", json!({ "id": ticket })).await;
        assert_eq!(data["node"], json!({ "firstReplyBreached": true, "firstReplyMinutes": null }));
        let (_, body) = app.post(REPLY, json!({ "id": ticket, "k": "AGENT", "b": "sorry" }), Some(&desk)).await;
        assert_eq!(body["data"]["ticketReply"]["firstReplyBreached"], true, "{body}");
        assert_eq!(body["data"]["ticketReply"]["firstReplyMinutes"], 61);
    }
}
