//! Where webhooks may be sent (SSRF): an endpoint URL must not reach the
//! gateway's own network. Checked when an endpoint is created or changed
//! and again before every attempt, on the addresses the host resolves to
//! then; the request then connects to a checked address (pinned with
//! reqwest's `resolve`), so a DNS answer that changes between the check
//! and the connection (rebinding) is never used.
//!
//! In production: https only, and every address public. `--dev` adds http
//! and loopback (a receiver on the developer's machine);
//! `--webhooks-allow-private` trusts the whole internal network (http and
//! any address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

use crate::config::Config;
use crate::error::{AppError, AppResult};

/// What the configuration lets endpoints reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub allow_http: bool,
    pub allow_loopback: bool,
    pub allow_private: bool,
}

impl Policy {
    pub fn from_config(config: &Config) -> Policy {
        Policy {
            allow_http: config.dev || config.webhooks_allow_private,
            allow_loopback: config.dev || config.webhooks_allow_private,
            allow_private: config.webhooks_allow_private,
        }
    }

    /// Why `ip` may not be reached, if it may not.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            // An IPv4 address written as IPv6 is checked as what it is.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        if self.allow_private {
            return None;
        }
        match ip {
            IpAddr::V4(v4) => refuses_v4(v4),
            IpAddr::V6(v6) => refuses_v6(v6),
        }
    }
}

/// The cloud metadata service (AWS, GCP, Azure, ...), link-local anyway but
/// named so the reason says what it is.
const METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

fn refuses_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == METADATA {
        Some("the cloud metadata address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("a non-unicast address")
    } else {
        None
    }
}

fn refuses_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if (first & 0xfe00) == 0xfc00 {
        Some("a unique-local address")
    } else if (first & 0xffc0) == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("a non-unicast address")
    } else {
        None
    }
}

/// Parses and checks an endpoint URL's form (scheme, host); the addresses
/// are checked by [`resolve`]. Errors name `field`.
pub fn parse(field: &str, url: &str, policy: Policy) -> AppResult<Url> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| AppError::bad_input(field, format!("`{url}` is not a valid URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(AppError::bad_input(
                field,
                "webhook endpoints must use https",
            ));
        }
        other => {
            return Err(AppError::bad_input(
                field,
                format!("`{other}` URLs cannot receive webhooks; use https"),
            ));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(AppError::bad_input(field, "the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AppError::bad_input(
            field,
            "put no credentials in the URL; verify deliveries by their signature",
        ));
    }
    Ok(parsed)
}

/// The addresses `url`'s host resolves to, every one checked; a refused
/// one refuses the URL (a host must not mix public and private answers).
pub async fn resolve(field: &str, url: &Url, policy: Policy) -> AppResult<Vec<SocketAddr>> {
    let port = url.port_or_known_default().unwrap_or(443);
    let host = url
        .host_str()
        .ok_or_else(|| AppError::bad_input(field, "the URL has no host"))?;
    // IPv6 literals come bracketed (`[::1]`); a literal needs no lookup.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AppError::bad_input(field, format!("cannot resolve `{host}`: {e}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(AppError::bad_input(
            field,
            "the host resolves to no address",
        ));
    }
    for addr in &addrs {
        if let Some(why) = policy.refuses(addr.ip()) {
            return Err(AppError::bad_input(
                field,
                format!(
                    "the URL resolves to {} ({why}); webhooks go only to public addresses",
                    addr.ip()
                ),
            ));
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: Policy = Policy {
        allow_http: false,
        allow_loopback: false,
        allow_private: false,
    };

    #[test]
    fn production_refuses_internal_addresses_and_accepts_public_ones() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(PRODUCTION.refuses(ip).is_some(), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert_eq!(PRODUCTION.refuses(ip), None, "{ip}");
        }
        let dev = Policy {
            allow_http: true,
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(dev.refuses(IpAddr::V4(Ipv4Addr::LOCALHOST)), None);
        assert!(
            dev.refuses(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
                .is_some()
        );
    }

    #[test]
    fn production_urls_must_be_https_without_credentials() {
        assert!(parse("url", "https://hooks.example.com/c360", PRODUCTION).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(parse("url", bad, PRODUCTION).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn literal_addresses_are_checked_without_dns() {
        let url = parse("url", "https://169.254.169.254/latest", PRODUCTION);
        let url = url.unwrap_or_else(|_| unreachable!());
        assert!(resolve("url", &url, PRODUCTION).await.is_err());
        let url =
            parse("url", "https://[::1]:8443/", PRODUCTION).unwrap_or_else(|_| unreachable!());
        assert!(resolve("url", &url, PRODUCTION).await.is_err());
    }
}
