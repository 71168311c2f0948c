//! `Accept` negotiation between the two GraphQL response media types.

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes carry meaning.
    GraphqlResponse,
    /// `application/json`: legacy clients; well-formed requests get 200.
    Json,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response type for an `Accept` header; `None` when neither is
/// acceptable (406). No header, or only a wildcard (`*/*`, which fetch and
/// curl send by default), means `application/json`: the spec asks for it
/// until the new type is widespread, since a client that names neither type
/// may predate it.
pub fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, u8, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        // Specific matches beat wildcards at equal quality.
        let candidates: &[(MediaType, u8)] = match media.as_str() {
            "application/graphql-response+json" => &[(MediaType::GraphqlResponse, 3)],
            "application/json" => &[(MediaType::Json, 3)],
            "application/*" | "*/*" => &[(MediaType::Json, 1)],
            _ => &[],
        };
        for &(mt, specificity) in candidates {
            if best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specificity > bs)) {
                best = Some((q, specificity, mt));
            }
        }
    }
    best.map(|(_, _, mt)| mt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_quality_and_specificity() {
        assert_eq!(negotiate(None), Some(MediaType::Json));
        assert_eq!(negotiate(Some("application/json")), Some(MediaType::Json));
        assert_eq!(
            negotiate(Some("application/graphql-response+json")),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(Some("*/*")), Some(MediaType::Json));
        assert_eq!(
            negotiate(Some("application/graphql-response+json, */*;q=0.8")),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }
}
