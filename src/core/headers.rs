//! Header policy toward upstreams (DESIGN.md §5): forward the client's headers except
//! credentials (swapped for the upstream key), headers that select an account or project at
//! the upstream vendor (the upstream key is the gateway's, so they mean nothing there — and a
//! foreign `OpenAI-Organization` makes OpenAI answer 401), proxy/CF headers and hop-by-hop
//! headers.

/// Whether a client request header may be forwarded to the upstream as is.
pub fn forwardable_request_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !(n.starts_with("cf-")
        || n.starts_with("x-forwarded-")
        || matches!(
            n.as_str(),
            "authorization"
                | "x-api-key"
                | "x-goog-api-key"
                // Azure OpenAI's key header.
                | "api-key"
                // Account and project selectors: OpenAI, Google Cloud (quota/billing project).
                | "openai-organization"
                | "openai-project"
                | "x-goog-user-project"
                | "host"
                | "content-length"
                | "cookie"
                | "forwarded"
                | "via"
                | "x-real-ip"
                | "true-client-ip"
                | "cdn-loop"
                | "connection"
                | "keep-alive"
                | "proxy-authorization"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_credentials_proxy_and_cf_headers_keeps_the_rest() {
        for dropped in [
            "Authorization",
            "x-api-key",
            "X-Forwarded-For",
            "x-forwarded-proto",
            "CF-Connecting-IP",
            "cf-ray",
            "Via",
            "X-Real-IP",
            "Forwarded",
            "Cookie",
            "Host",
            "Connection",
            "OpenAI-Organization",
            "openai-project",
            "X-Goog-User-Project",
            "api-key",
        ] {
            assert!(!forwardable_request_header(dropped), "{dropped}");
        }
        for kept in [
            "User-Agent",
            "Content-Type",
            "Accept",
            "anthropic-version",
            "OpenAI-Beta",
            "x-stainless-lang",
        ] {
            assert!(forwardable_request_header(kept), "{kept}");
        }
    }
}
