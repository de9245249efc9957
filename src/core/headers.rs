//! Header policy toward upstreams (docs/architecture.md §7): forward the client's headers except
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

/// Whether a station's answer header reaches the client: an allow-list of what clients and SDKs
/// read (content description, rate limits, request ids, retry hints, the vendors' own
/// `openai-*` / `anthropic-*` headers), plus other `x-` extension headers unless they name the
/// station's software or its proxies. Cookies, CORS headers, hop-by-hop headers, `Server`,
/// `Via`, `X-Powered-By`, `X-Oneapi-Request-Id` and the like stay behind.
pub fn relayable_response_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let listed = matches!(
        n.as_str(),
        "content-type"
            | "content-disposition"
            | "content-language"
            | "cache-control"
            | "retry-after"
            | "request-id"
    ) || n.starts_with("ratelimit")
        || n.starts_with("openai-")
        || n.starts_with("anthropic-ratelimit-")
        || n == "anthropic-organization-id";
    const SOFTWARE: [&str; 14] = [
        "x-powered-by",
        "x-oneapi",
        "x-one-api",
        "x-new-api",
        "x-aspnet",
        "x-runtime",
        "x-server",
        "x-served-by",
        "x-backend",
        "x-upstream",
        "x-cache",
        "x-envoy-",
        "x-amz-",
        "x-kong-",
    ];
    listed || (n.starts_with("x-") && !SOFTWARE.iter().any(|s| n.starts_with(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_only_what_clients_read() {
        for kept in [
            "Content-Type",
            "Retry-After",
            "x-request-id",
            "request-id",
            "x-ratelimit-remaining-requests",
            "anthropic-ratelimit-tokens-remaining",
            "openai-processing-ms",
            "Content-Disposition",
            "x-should-retry",
            "x-goog-request-id",
        ] {
            assert!(relayable_response_header(kept), "{kept}");
        }
        for dropped in [
            "Set-Cookie",
            "Access-Control-Allow-Origin",
            "access-control-allow-credentials",
            "Connection",
            "Transfer-Encoding",
            "Keep-Alive",
            "Server",
            "X-Powered-By",
            "X-Oneapi-Request-Id",
            "X-New-Api-Version",
            "x-envoy-upstream-service-time",
            "X-Cache",
            "Content-Encoding",
            "Content-Length",
            "Via",
        ] {
            assert!(!relayable_response_header(dropped), "{dropped}");
        }
    }

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
