//! PostGraphile v5 serving the same PostgreSQL database, as the yardstick of
//! a generic GraphQL-over-PostgreSQL server (`bench/postgraphile/run.sh`).
//!
//! The profile below asks PostGraphile's generated schema (Amber preset) for
//! what c360's profile asks: the same relations, page sizes, orders and
//! columns, as far as a schema generated from tables allows. Where c360
//! computes a field (money as amount and currency, a ticket's first reply in
//! minutes, an NPS category, tags as a list) PostGraphile returns the columns
//! it is computed from.

use crate::load::Target;

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

/// PostGraphile at `url`, checked with a first profile; its process, when it
/// runs on this machine, is found by the port it listens on so that its
/// memory is sampled like c360's.
pub async fn target(url: &str, client: reqwest::Client) -> anyhow::Result<Target<'static>> {
    let answer: serde_json::Value = client
        .post(url)
        .json(&serde_json::json!({ "query": PROFILE, "variables": { "id": 1 } }))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PostGraphile at {url}: {e}"))?
        .json()
        .await?;
    if answer.get("errors").is_some() || answer["data"]["customerByRowId"].is_null() {
        anyhow::bail!("PostGraphile at {url} answers the profile with {answer}");
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
