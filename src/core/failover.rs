//! The failover policy (docs/architecture.md §4): what one upstream answer, received before any byte
//! reached the client, means for the request and for the channel that gave it. Pure: the
//! relay's loop (`shell/relay/send.rs`) asks, this module decides.

/// What the relay does with one upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the client: a success, or the client's own mistake relayed as it is.
    Deliver,
    /// The station has no such route for the dialect it was called in: call the same channel
    /// again with the request converted, and remember the fact. Not a channel fault: no
    /// cooldown, no attempt used.
    RouteMissing,
    /// A fault of the channel: cool it down and try another one.
    ChannelFault {
        /// The station rejected the channel's key (401/403): verify the key off the request
        /// path. Only a failed verification marks the key invalid; one answer never does.
        probe_key: bool,
    },
}

/// Judges an answer of `status` with (the start of) its `body`. `can_convert`: the call went
/// natively in a dialect the channel could also be reached without (its station has no
/// explicit dialect list, and a conversion or a local answer exists), so a missing route is
/// worth learning rather than relaying.
pub fn judge(status: u16, body: &[u8], can_convert: bool) -> Verdict {
    if status < 400 {
        return Verdict::Deliver;
    }
    if can_convert && route_missing(status, body) {
        return Verdict::RouteMissing;
    }
    if channel_fault(status) {
        return Verdict::ChannelFault {
            probe_key: matches!(status, 401 | 403),
        };
    }
    Verdict::Deliver
}

/// 408, 429, 5xx and credential rejections are the channel's fault: another channel may
/// answer. Other 4xx are the request's own fault and reach the client as they are.
pub fn channel_fault(status: u16) -> bool {
    matches!(status, 401 | 403 | 408 | 429) || status >= 500
}

/// Whether an error answer says that the route does not exist (rather than that the model, the
/// key or the request is wrong). One API and older New API answer unknown routes with 404
/// `Invalid URL (POST /v1/messages)` before any token check; Gin's default is a plain-text
/// `404 page not found`; others answer 405 or 501.
pub fn route_missing(status: u16, body: &[u8]) -> bool {
    let text = lowercase_head(body);
    const ROUTE_WORDS: [&str; 8] = [
        "invalid url",
        "unknown endpoint",
        "unknown url",
        "page not found",
        "no route",
        "route not found",
        "unsupported endpoint",
        "endpoint not supported",
    ];
    if ROUTE_WORDS.iter().any(|w| text.contains(w))
        || (text.contains("not supported")
            && ["endpoint", "path", "url", "route", "api"]
                .iter()
                .any(|w| text.contains(w))
            && !text.contains("model"))
    {
        return true;
    }
    match status {
        405 | 501 => true,
        // A 404 about a model (OpenAI's `model_not_found`) or a resource is not a missing route.
        404 => !["model", "does not exist", "no such", "not_found_error"]
            .iter()
            .any(|w| text.contains(w)),
        _ => false,
    }
}

/// The body's first 2 KB, lower-cased: error messages sit at the start.
fn lowercase_head(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase()
}

/// Which of two failures the client is told about at the end: an upstream's own HTTP error
/// says more than a connection failure, so a later connection failure never replaces it.
pub fn keeps_last_error(last_was_upstream_http: bool, new_is_connection: bool) -> bool {
    last_was_upstream_http && new_is_connection
}

/// How many channels one request may try (`RELAY_MAX_ATTEMPTS`, at least 1, at most 10).
/// A conversion retry after a missing route is not an attempt.
pub fn attempt_budget(configured: i64) -> usize {
    usize::try_from(configured.clamp(1, 10)).unwrap_or(1)
}

/// What a key verification's answer proves about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// The station accepted the key.
    Valid,
    /// The station rejected it (401/403 on its cheapest authenticated route): mark invalid.
    Rejected,
    /// Nothing is proven (timeout, 5xx, 404, 429…): the key keeps its status.
    Inconclusive,
}

/// Reads a verification probe's status.
pub fn probe_result(status: u16) -> ProbeResult {
    match status {
        200..=299 => ProbeResult::Valid,
        401 | 403 => ProbeResult::Rejected,
        _ => ProbeResult::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes_and_client_mistakes_are_delivered() {
        assert_eq!(judge(200, b"{}", true), Verdict::Deliver);
        assert_eq!(judge(302, b"", true), Verdict::Deliver);
        assert_eq!(
            judge(
                400,
                br#"{"error":{"message":"messages is required"}}"#,
                true
            ),
            Verdict::Deliver
        );
        assert_eq!(judge(422, b"{}", false), Verdict::Deliver);
        // A model the station does not know is the client's problem, not a missing route.
        let no_model =
            br#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#;
        assert_eq!(judge(404, no_model, true), Verdict::Deliver);
    }

    #[test]
    fn channel_faults_cool_down_and_credential_rejections_are_probed() {
        for status in [408, 429, 500, 502, 503, 504, 529] {
            assert_eq!(
                judge(status, b"{}", false),
                Verdict::ChannelFault { probe_key: false },
                "{status}"
            );
        }
        for status in [401, 403] {
            assert_eq!(
                judge(status, br#"{"error":{"message":"invalid token"}}"#, true),
                Verdict::ChannelFault { probe_key: true }
            );
        }
        assert!(!channel_fault(404));
        assert!(!channel_fault(413));
    }

    #[test]
    fn missing_routes_are_learned_only_where_a_conversion_exists() {
        let one_api = br#"{"error":{"message":"Invalid URL (POST /v1/messages)","type":"invalid_request_error","code":""}}"#;
        assert_eq!(judge(404, one_api, true), Verdict::RouteMissing);
        assert_eq!(
            judge(404, b"404 page not found", true),
            Verdict::RouteMissing
        );
        assert_eq!(judge(405, b"", true), Verdict::RouteMissing);
        assert_eq!(judge(501, b"Not Implemented", true), Verdict::RouteMissing);
        assert_eq!(judge(404, b"", true), Verdict::RouteMissing);
        assert_eq!(
            judge(
                400,
                br#"{"error":{"message":"unknown endpoint /v1/responses"}}"#,
                true
            ),
            Verdict::RouteMissing
        );
        assert_eq!(
            judge(
                500,
                br#"{"message":"this API endpoint is not supported"}"#,
                true
            ),
            Verdict::RouteMissing
        );
        // Nothing to convert to: the answer is what it is.
        assert_eq!(judge(404, one_api, false), Verdict::Deliver);
        assert_eq!(
            judge(501, b"", false),
            Verdict::ChannelFault { probe_key: false }
        );
        // "not supported" about a model or a parameter is not about the route.
        assert_eq!(
            judge(
                400,
                br#"{"error":{"message":"model gpt-x is not supported by this api"}}"#,
                true
            ),
            Verdict::Deliver
        );
        assert_eq!(
            judge(
                400,
                br#"{"error":{"message":"tools are not supported"}}"#,
                true
            ),
            Verdict::Deliver
        );
    }

    #[test]
    fn an_upstream_error_outranks_a_later_connection_failure() {
        assert!(keeps_last_error(true, true));
        assert!(!keeps_last_error(true, false));
        assert!(!keeps_last_error(false, true));
    }

    #[test]
    fn the_attempt_budget_is_bounded() {
        assert_eq!(attempt_budget(3), 3);
        assert_eq!(attempt_budget(0), 1);
        assert_eq!(attempt_budget(-4), 1);
        assert_eq!(attempt_budget(99), 10);
    }

    #[test]
    fn only_a_rejection_of_the_probe_condemns_a_key() {
        assert_eq!(probe_result(200), ProbeResult::Valid);
        assert_eq!(probe_result(401), ProbeResult::Rejected);
        assert_eq!(probe_result(403), ProbeResult::Rejected);
        for status in [404, 429, 500, 503] {
            assert_eq!(probe_result(status), ProbeResult::Inconclusive);
        }
    }
}
