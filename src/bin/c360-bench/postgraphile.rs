//! PostGraphile v5 serving the same PostgreSQL database, as the yardstick of
//! a generic GraphQL-over-PostgreSQL server (`bench/postgraphile/run.sh`).
//!
//! The profile below asks PostGraphile's generated schema (Amber preset) for
//! what c360's profile asks: the same relations, page sizes, orders and
//! columns, as far as a schema generated from tables allows; the list asks
//! for what c360's list asks. Where c360 computes a field (money as amount and
//! currency, a ticket's first reply in minutes, an NPS category, tags as a
//! list) PostGraphile returns the columns it is computed from.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::load::Target;
use crate::scenario::{Scenario, Workload};

/// c360's `Profile` in PostGraphile's schema: customer by primary key; 10
/// orders by `placed_at` descending with their lines; 5 tickets by
/// `created_at` descending with their messages; 5 reviews; the loyalty
/// account with 10 ledger rows; 5 referrals made and the one that referred
/// the customer, with its referrer's email; 3 NPS answers; the metrics row.
pub const PROFILE: &str = r#"query Profile($id: BigInt!) {
  customerByRowId(rowId: $id) {
    id email firstName lastName
    customerTagsByCustomerId { edges { node { tag } } }
    customerMetricByCustomerId { ordersCount netSpend grossSpend lastOrderAt openTickets lastNpsScore }
    loyaltyAccountsByCustomerId(first: 1) { edges { node { tier pointsAvailable pointsPending } } }
    loyaltyTransactionsByCustomerId(first: 10, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { kind points state createdAt } } }
    ordersByCustomerId(first: 10, orderBy: [PLACED_AT_DESC, ROW_ID_DESC]) { edges { node { orderNumber status placedAt total currency
      orderLinesByOrderId(first: 20, orderBy: [ROW_ID_ASC]) { edges { node { sku productName quantity unitPrice } } } } } }
    ticketsByCustomerId(first: 5, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { subject status createdAt firstReplyAt satisfactionScore satisfactionComment
      ticketMessagesByTicketId(first: 20, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) { edges { node { authorKind body } } } } } }
    reviewsByCustomerId(first: 5, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { productSku rating title verifiedPurchase } } }
    referralsByCustomerId(first: 5, orderBy: [INVITED_AT_DESC, ROW_ID_DESC]) { edges { node { refereeEmail status } } }
    referralsByRefereeCustomerId(first: 1) { edges { node { code customerByCustomerId { email } } } }
    npsResponsesByCustomerId(first: 3, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { score comment } } }
  }
}"#;

/// c360's `List` in PostGraphile's schema: 50 customers by `created_at`
/// descending, then id, from the instant the cursor holds; per customer its
/// tags, metrics row and loyalty account, 5 orders by `placed_at` descending,
/// 3 tickets, 3 reviews and 1 NPS answer by `created_at` descending, 3
/// referrals made by `invited_at` descending and the referral that brought
/// the customer. The same rows in the same order as c360's answer.
pub const LIST: &str = r#"query List($after: Cursor!) {
  allCustomers(first: 50, after: $after, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node {
    id email firstName lastName
    customerTagsByCustomerId { edges { node { tag } } }
    customerMetricByCustomerId { ordersCount netSpend lastOrderAt }
    loyaltyAccountsByCustomerId(first: 1) { edges { node { tier pointsAvailable } } }
    ordersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, ROW_ID_DESC]) { edges { node { orderNumber status total } } }
    ticketsByCustomerId(first: 3, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { subject status } } }
    reviewsByCustomerId(first: 3, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { rating } } }
    referralsByCustomerId(first: 3, orderBy: [INVITED_AT_DESC, ROW_ID_DESC]) { edges { node { status } } }
    referralsByRefereeCustomerId(first: 1, orderBy: [ROW_ID_ASC]) { edges { node { code } } }
    npsResponsesByCustomerId(first: 1, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { score } } }
  } } }
}"#;

/// A cursor of `allCustomers` in the list's order, asked for once to learn
/// the digest PostGraphile puts in such cursors.
const LIST_CURSOR: &str = r#"query ListCursor {
  allCustomers(first: 1, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { cursor } }
}"#;

/// The `after` cursor that starts the list at customers added before
/// `before`, as c360's `filter: { createdBefore }` does.
///
/// PostGraphile's cursor is base64 of the JSON array `[digest, created_at,
/// row_id]`, and `after` in a descending order selects
/// `(created_at, row_id) < (cursor's created_at, cursor's row_id)`: with
/// row id 0, below every id, that is `created_at < before`. The instant is
/// written in microseconds, PostgreSQL's precision, as c360's list sends it.
pub fn list_cursor(digest: &str, before: DateTime<Utc>) -> String {
    let parts = json!([
        digest,
        before.to_rfc3339_opts(SecondsFormat::Micros, true),
        "0"
    ]);
    STANDARD.encode(parts.to_string())
}

/// The digest of a cursor PostGraphile issued, if it is one of an order on
/// two columns.
fn cursor_digest(cursor: &str) -> Option<String> {
    let parts: Value = serde_json::from_slice(&STANDARD.decode(cursor).ok()?).ok()?;
    match parts.as_array()?.as_slice() {
        [Value::String(digest), _, _] => Some(digest.clone()),
        _ => None,
    }
}

async fn ask(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    Ok(client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PostGraphile at {url}: {e}"))?
        .json()
        .await?)
}

/// PostGraphile at `url`, checked with a first request of `scenario`; for
/// the list, the cursor digest is learnt first and kept in `workload`. Its
/// process, when it runs on this machine, is found by the port it listens
/// on so that its memory is sampled like c360's.
pub async fn target(
    url: &str,
    client: reqwest::Client,
    scenario: Scenario,
    workload: &Workload,
) -> anyhow::Result<Target<'static>> {
    let (body, root) = match scenario {
        Scenario::PostgraphileProfile => (
            json!({ "query": PROFILE, "variables": { "id": 1 } }),
            "customerByRowId",
        ),
        Scenario::PostgraphileList => {
            let answer = ask(&client, url, &json!({ "query": LIST_CURSOR })).await?;
            let cursor = answer["data"]["allCustomers"]["edges"][0]["cursor"]
                .as_str()
                .unwrap_or_default();
            let digest = cursor_digest(cursor).ok_or_else(|| {
                anyhow::anyhow!("PostGraphile at {url} gives no list cursor: {answer}")
            })?;
            let digest = workload.postgraphile_cursor.get_or_init(|| digest);
            let after = list_cursor(digest, Utc::now());
            (
                json!({ "query": LIST, "variables": { "after": after } }),
                "allCustomers",
            )
        }
        _ => anyhow::bail!("{} is not sent to PostGraphile", scenario.name()),
    };
    let answer = ask(&client, url, &body).await?;
    let empty = match &answer["data"][root] {
        Value::Null => true,
        found => found["edges"].as_array().is_some_and(Vec::is_empty),
    };
    if answer.get("errors").is_some() || empty {
        anyhow::bail!(
            "PostGraphile at {url} answers {} with {answer}",
            scenario.name()
        );
    }
    let port = reqwest::Url::parse(url)?.port_or_known_default();
    Ok(Target {
        client,
        url: url.to_owned(),
        token: None,
        pid: port.and_then(listener_pid),
        server: None,
    })
}

/// The process listening on TCP `port` on this machine: the socket's inode
/// from `/proc/net/tcp{,6}`, then the process holding that inode open.
fn listener_pid(port: u16) -> Option<u32> {
    const LISTEN: &str = "0A";
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            text.lines().skip(1).find_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let local_port = cols.get(1)?.rsplit_once(':')?.1;
                (u16::from_str_radix(local_port, 16).ok()? == port && *cols.get(3)? == LISTEN)
                    .then(|| cols.get(9).map(|i| (*i).to_owned()))
                    .flatten()
            })
        })?;
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == socket.as_str())
                })
                .then_some(pid)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cursor_holds_digest_instant_and_lowest_id() {
        let before = DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456789Z")
            .expect("an RFC 3339 instant")
            .with_timezone(&Utc);
        let cursor = list_cursor("0123456789", before);
        let raw = STANDARD.decode(&cursor).expect("base64");
        let parts: Value = serde_json::from_slice(&raw).expect("a JSON array");
        assert_eq!(
            parts,
            json!(["0123456789", "2025-03-04T05:06:07.123456Z", "0"])
        );
        assert_eq!(cursor_digest(&cursor).as_deref(), Some("0123456789"));
    }

    #[test]
    fn cursor_digest_rejects_what_is_not_a_two_column_cursor() {
        assert_eq!(cursor_digest("not base64!"), None);
        assert_eq!(cursor_digest(&STANDARD.encode(r#"["natural", 3]"#)), None);
        assert_eq!(cursor_digest(&STANDARD.encode("{}")), None);
    }

    /// The page sizes of c360's list, in the order its query names them,
    /// are PostGraphile's once the two to-one relations PostGraphile serves
    /// as connections (loyalty account, referred by) are set aside.
    #[test]
    fn list_asks_for_the_page_sizes_of_c360s_list() {
        let firsts = |q: &str| -> Vec<u32> {
            q.split("first: ")
                .skip(1)
                .filter_map(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                })
                .collect()
        };
        let ours: Vec<u32> = LIST
            .lines()
            .filter(|l| {
                !l.contains("loyaltyAccountsByCustomerId")
                    && !l.contains("referralsByRefereeCustomerId")
            })
            .flat_map(firsts)
            .collect();
        assert_eq!(ours, firsts(crate::scenario::LIST));
    }
}
