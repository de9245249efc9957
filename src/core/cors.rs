//! Cross-origin policy: which browser origins may call the admin API (`ADMIN_ORIGINS`) and the
//! relay (`RELAY_ORIGINS`, off unless set), the preflight answer, and the headers of an answer.
//! An allowed origin is echoed exactly (never `*` together with credentials); everything else
//! gets no CORS header at all, so the browser refuses to hand the answer to the page.

/// The two surfaces a browser can reach, each with its own allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/api/…` and `/health`: bearer session or admin token, `X-Organization-Id`.
    Admin,
    /// The OpenAI / Anthropic / Gemini compatible endpoints.
    Relay,
}

/// Exactly the methods and request headers each surface uses.
const ADMIN_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ADMIN_HEADERS: [&str; 3] = ["authorization", "content-type", "x-organization-id"];
const RELAY_METHODS: &str = "GET, POST, DELETE";
const RELAY_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "x-api-key",
    "x-goog-api-key",
    "anthropic-version",
    "anthropic-beta",
    "openai-organization",
];
/// Browsers may cache a preflight this long (seconds).
const MAX_AGE_S: &str = "600";

/// The configured allow-lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    admin: Vec<String>,
    relay: Vec<String>,
    /// `RELAY_ORIGINS=*`: any origin may call the relay (keys travel in headers, never cookies).
    relay_any: bool,
}

/// Why a preflight was refused (answered 403 without CORS headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    OriginNotAllowed,
    MethodNotAllowed,
    HeaderNotAllowed,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::OriginNotAllowed => "origin not allowed",
            Refusal::MethodNotAllowed => "method not allowed",
            Refusal::HeaderNotAllowed => "request header not allowed",
        }
    }
}

/// `https://console.example.com` as the browser sends it: lower-case, no trailing slash.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Comma- or space-separated origins; `*` and anything that is not `scheme://host[:port]` is
/// dropped from the admin list (a wildcard never reaches an endpoint with credentials).
fn parse_list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(normalize)
        .filter(|o| {
            (o.starts_with("https://") || o.starts_with("http://"))
                && !o.contains('*')
                && o.split("://").nth(1).is_some_and(|h| !h.contains('/'))
        })
        .collect()
}

impl CorsPolicy {
    pub fn new(admin_origins: Option<&str>, relay_origins: Option<&str>) -> Self {
        Self {
            admin: parse_list(admin_origins),
            relay: parse_list(relay_origins),
            relay_any: relay_origins.is_some_and(|r| r.trim() == "*"),
        }
    }

    fn allows(&self, surface: Surface, origin: &str) -> bool {
        let origin = normalize(origin);
        match surface {
            Surface::Admin => self.admin.contains(&origin),
            Surface::Relay => self.relay_any || self.relay.contains(&origin),
        }
    }

    /// The headers of an `OPTIONS` preflight answer (status 204), or why it is refused.
    pub fn preflight(
        &self,
        surface: Surface,
        origin: &str,
        method: &str,
        request_headers: &str,
    ) -> Result<Vec<(&'static str, String)>, Refusal> {
        if !self.allows(surface, origin) {
            return Err(Refusal::OriginNotAllowed);
        }
        let (methods, allowed): (&str, &[&str]) = match surface {
            Surface::Admin => (ADMIN_METHODS, &ADMIN_HEADERS),
            Surface::Relay => (RELAY_METHODS, &RELAY_HEADERS),
        };
        let method = method.trim().to_ascii_uppercase();
        if method.is_empty() || !methods.split(", ").any(|m| m == method) {
            return Err(Refusal::MethodNotAllowed);
        }
        let all_known = request_headers
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| allowed.contains(&h.as_str()));
        if !all_known {
            return Err(Refusal::HeaderNotAllowed);
        }
        let mut headers = self.answer(surface, origin);
        headers.push(("Access-Control-Allow-Methods", methods.to_string()));
        headers.push(("Access-Control-Allow-Headers", allowed.join(", ")));
        headers.push(("Access-Control-Max-Age", MAX_AGE_S.to_string()));
        Ok(headers)
    }

    /// The headers added to an actual answer for `origin` (none when it is not allowed).
    pub fn answer(&self, surface: Surface, origin: &str) -> Vec<(&'static str, String)> {
        if !self.allows(surface, origin) {
            return Vec::new();
        }
        let mut headers = vec![
            ("Access-Control-Allow-Origin", normalize(origin)),
            ("Vary", "Origin".to_string()),
            ("Access-Control-Expose-Headers", "Retry-After".to_string()),
        ];
        if surface == Surface::Admin {
            // Exact origin only (see `parse_list`): credentials never meet a wildcard.
            headers.push(("Access-Control-Allow-Credentials", "true".to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::new(
            Some("https://console.example.com, https://*.evil.com *  https://x.dev/path"),
            None,
        )
    }

    #[test]
    fn allowed_origin_gets_exact_echo_and_the_api_methods_and_headers() {
        let h = policy()
            .preflight(
                Surface::Admin,
                "https://console.example.com",
                "PATCH",
                "Authorization, Content-Type, X-Organization-Id",
            )
            .unwrap();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("Access-Control-Allow-Origin"),
            Some("https://console.example.com")
        );
        assert_eq!(
            get("Access-Control-Allow-Methods"),
            Some("GET, POST, PUT, PATCH, DELETE")
        );
        assert_eq!(
            get("Access-Control-Allow-Headers"),
            Some("authorization, content-type, x-organization-id")
        );
        assert_eq!(get("Access-Control-Allow-Credentials"), Some("true"));
    }

    #[test]
    fn foreign_origins_wildcards_and_unknown_methods_or_headers_are_refused() {
        let p = policy();
        for origin in [
            "https://evil.com",
            "https://a.evil.com",
            "*",
            "https://x.dev",
            "null",
        ] {
            assert_eq!(
                p.preflight(Surface::Admin, origin, "GET", ""),
                Err(Refusal::OriginNotAllowed),
                "{origin}"
            );
            assert!(p.answer(Surface::Admin, origin).is_empty());
        }
        let ok = "https://console.example.com";
        assert_eq!(
            p.preflight(Surface::Admin, ok, "TRACE", ""),
            Err(Refusal::MethodNotAllowed)
        );
        assert_eq!(
            p.preflight(Surface::Admin, ok, "GET", "x-custom"),
            Err(Refusal::HeaderNotAllowed)
        );
    }

    #[test]
    fn relay_cors_is_off_unless_configured() {
        let p = policy();
        assert_eq!(
            p.preflight(Surface::Relay, "https://console.example.com", "POST", ""),
            Err(Refusal::OriginNotAllowed)
        );
        let any = CorsPolicy::new(None, Some("*"));
        let h = any
            .preflight(
                Surface::Relay,
                "https://app.test",
                "POST",
                "authorization,content-type",
            )
            .unwrap();
        assert!(h.contains(&("Access-Control-Allow-Origin", "https://app.test".into())));
        assert!(!h
            .iter()
            .any(|(k, _)| *k == "Access-Control-Allow-Credentials"));
        assert!(any.answer(Surface::Admin, "https://app.test").is_empty());
    }
}
