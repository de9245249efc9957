//! Keeping secrets out of what leaves the gateway: upstream and runtime error text shown to
//! clients or kept by the cooldown registry (truncated, the station's URL and any credential
//! removed), and log lines (`?key=` and other credentials redacted).

/// The most of an upstream's or the runtime's message a client or the cooldown registry gets.
pub const MAX_MESSAGE_BYTES: usize = 1024;
const REDACTED: &str = "[redacted]";

/// `text` without the station's `base_url` (and its host) or anything shaped like a credential
/// (`sk-…`/`ag-…` keys, `Bearer …`, `key=…`), cut to [`MAX_MESSAGE_BYTES`].
pub fn scrub_message(text: &str, base_url: &str) -> String {
    let mut out = scrub_station(text, base_url);
    out = redact_tokens(&out);
    truncate(&out, MAX_MESSAGE_BYTES)
}

/// `text` with the station's URL and host replaced (keeps a JSON body valid: neither contains
/// a quote). For upstream bodies passed on to the client as they are.
pub fn scrub_station(text: &str, base_url: &str) -> String {
    let host = base_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let mut out = text.to_string();
    for needle in [base_url.trim_end_matches('/'), host] {
        if needle.len() >= 3 {
            out = out.replace(needle, "[station]");
        }
    }
    out
}

/// A log line without credentials: `?key=…` and other credential parameters of any URL in it,
/// bearer tokens and key-shaped words are redacted (the runtime's own error text can quote the
/// request URL, and Gemini clients put their key in it).
pub fn redact_secrets(text: &str) -> String {
    redact_tokens(text)
}

/// Replaces key-shaped words, bearer tokens and credential parameters in free text.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = next_secret(rest) {
        let (before, from) = rest.split_at(start.at);
        out.push_str(before);
        out.push_str(start.keep);
        out.push_str(REDACTED);
        let tail = &from[start.keep.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

struct SecretStart {
    at: usize,
    /// The marker kept before the redaction (`sk-`, `Bearer `, `key=`).
    keep: &'static str,
}

fn next_secret(text: &str) -> Option<SecretStart> {
    const MARKERS: [&str; 9] = [
        "sk-", "ag-", "Bearer ", "bearer ", "key=", "token=", "api_key=", "apikey=", "AIza",
    ];
    MARKERS
        .iter()
        .filter_map(|m| {
            text.match_indices(m)
                .find(|(i, _)| {
                    // A word start, and something secret-like after it.
                    let word_start = *i == 0
                        || !text[..*i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_ascii_alphanumeric());
                    let after = &text[i + m.len()..];
                    word_start
                        && after
                            .chars()
                            .take(6)
                            .filter(|c| c.is_ascii_alphanumeric())
                            .count()
                            >= 6
                })
                .map(|(at, _)| SecretStart { at, keep: m })
        })
        .min_by_key(|s| s.at)
}

/// At most `max` bytes, cut on a character boundary, with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_urls_and_credentials_leave_upstream_messages() {
        let text = "upstream https://relay.internal.example.com/v1 failed for key sk-abcdef123456 \
                    (Authorization: Bearer eyJhbGciOiJ.x.y; relay.internal.example.com:443; ?key=AIzaSyXXXXXXXX)";
        let out = scrub_message(text, "https://relay.internal.example.com");
        assert!(!out.contains("relay.internal"), "{out}");
        assert!(!out.contains("abcdef123456"), "{out}");
        assert!(!out.contains("eyJhbGciOiJ"), "{out}");
        assert!(!out.contains("AIzaSyXXXXXXXX"), "{out}");
        assert!(
            out.contains("[station]/v1 failed for key sk-[redacted]"),
            "{out}"
        );
        // Ordinary words stay.
        assert_eq!(
            scrub_message("task-force risk-free key", "https://a.example.com"),
            "task-force risk-free key"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(2_000);
        let out = scrub_message(&long, "https://a.example.com");
        assert!(out.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(out.ends_with('…'));
        assert_eq!(scrub_message("short", "https://a.example.com"), "short");
    }

    #[test]
    fn credential_parameters_are_redacted_from_log_lines() {
        assert_eq!(
            redact_secrets("fetch https://gw.example.com/v1beta/models/x:generateContent?alt=sse&key=AIzaSECRET1 failed"),
            "fetch https://gw.example.com/v1beta/models/x:generateContent?alt=sse&key=[redacted] failed"
        );
        assert_eq!(
            redact_secrets("/x?access_token=abcdefgh&a=3"),
            "/x?access_token=[redacted]&a=3"
        );
        assert_eq!(redact_secrets("GET /v1/models"), "GET /v1/models");
    }
}
