//! Reads only what routing needs (`model`, `stream`) from a JSON request body, in one pass.
//!
//! The relay forwards the client's original bytes, so a full deserialisation would be wasted
//! work on the hot path. This scanner walks the top-level object, skips nested values by
//! structure (string-aware), and rejects bodies that are not one well-formed JSON object.

use std::fmt;

/// The routing-relevant fields of a request body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub model: Option<String>,
    pub stream: bool,
}

/// Why a body is not a usable JSON object; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedJson {
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for MalformedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request body is not valid JSON: {} at byte {}",
            self.reason, self.offset
        )
    }
}

impl std::error::Error for MalformedJson {}

/// Scans `body` for top-level `model` (a string) and `stream` (a boolean).
pub fn scan_request_head(body: &[u8]) -> Result<RequestHead, MalformedJson> {
    let mut s = Scanner {
        bytes: body,
        pos: 0,
    };
    let mut head = RequestHead::default();
    // Go panels match keys in any letter case and take the last match: a second `model` or
    // `stream` in any case would make the station read another value than the one checked.
    let (mut models, mut streams) = (0u8, 0u8);
    s.skip_ws();
    s.expect(b'{', "expected a JSON object")?;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        loop {
            s.skip_ws();
            let key = s.string()?;
            s.skip_ws();
            s.expect(b':', "expected ':' after a key")?;
            s.skip_ws();
            let key_start = s.pos;
            if go_folds_to(&key, "model") {
                models += 1;
            } else if go_folds_to(&key, "stream") {
                streams += 1;
            }
            if models > 1 || streams > 1 {
                return Err(MalformedJson {
                    offset: key_start,
                    reason: "duplicate top-level key `model` or `stream` (in any letter case)",
                });
            }
            match key.as_str() {
                "model" if s.peek() == Some(b'"') => head.model = Some(s.string()?),
                "stream" if s.rest().starts_with(b"true") => {
                    s.pos += 4;
                    head.stream = true;
                }
                "stream" if s.rest().starts_with(b"false") => {
                    s.pos += 5;
                    head.stream = false;
                }
                _ => s.skip_value()?,
            }
            s.skip_ws();
            match s.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(s.error("expected ',' or '}' in an object")),
            }
        }
    }
    s.skip_ws();
    if s.pos != body.len() {
        return Err(s.error("unexpected data after the JSON object"));
    }
    Ok(head)
}

/// Whether Go's `encoding/json` would match `key` to the field `name` (ASCII lower case):
/// case-insensitive, with the Kelvin sign folding to `k` and the long s to `s`.
fn go_folds_to(key: &str, name: &str) -> bool {
    let folded = key.chars().map(|c| match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        c => c.to_ascii_lowercase(),
    });
    folded.eq(name.chars())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn rest(&self) -> &[u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }

    fn error(&self, reason: &'static str) -> MalformedJson {
        MalformedJson {
            offset: self.pos,
            reason,
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), MalformedJson> {
        if self.next() == Some(byte) {
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Reads a string and decodes its escapes (only keys and `model` are decoded).
    fn string(&mut self) -> Result<String, MalformedJson> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.next() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.next();
                }
                Some(b) if b < 0x20 => return Err(self.error("control character in a string")),
                Some(_) => {}
            }
        }
        let raw = &self.bytes[start - 1..self.pos];
        if !escaped {
            return std::str::from_utf8(&raw[1..raw.len() - 1])
                .map(str::to_owned)
                .map_err(|_| self.error("invalid UTF-8 in a string"));
        }
        serde_json::from_slice(raw).map_err(|_| self.error("invalid escape in a string"))
    }

    /// Skips one value of any type, checking bracket pairing and string boundaries.
    fn skip_value(&mut self) -> Result<(), MalformedJson> {
        let mut closers: Vec<u8> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.error("unexpected end of body")),
                Some(b'"') => self.skip_string()?,
                Some(open @ (b'{' | b'[')) => {
                    closers.push(if open == b'{' { b'}' } else { b']' });
                    self.pos += 1;
                    continue;
                }
                Some(close @ (b'}' | b']')) if !closers.is_empty() => {
                    if closers.pop() != Some(close) {
                        return Err(self.error("mismatched bracket"));
                    }
                    self.pos += 1;
                }
                Some(b',' | b':') if !closers.is_empty() => {
                    self.pos += 1;
                    continue;
                }
                Some(b) if b == b'-' || b.is_ascii_alphanumeric() => {
                    while matches!(self.peek(), Some(c) if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_alphanumeric())
                    {
                        self.pos += 1;
                    }
                }
                Some(_) => return Err(self.error("unexpected character")),
            }
            if closers.is_empty() {
                return Ok(());
            }
        }
    }

    fn skip_string(&mut self) -> Result<(), MalformedJson> {
        self.pos += 1;
        loop {
            match self.next() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    self.next();
                }
                Some(b) if b < 0x20 => return Err(self.error("control character in a string")),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> RequestHead {
        scan_request_head(s.as_bytes()).unwrap()
    }

    #[test]
    fn finds_model_and_stream_at_top_level_only() {
        let h = head(
            r#"{"messages":[{"role":"user","content":"{\"model\":\"x\"}","stream":false,"model":"nested"}],"model":"gpt-4o","stream":true}"#,
        );
        assert_eq!(
            h,
            RequestHead {
                model: Some("gpt-4o".into()),
                stream: true
            }
        );
    }

    #[test]
    fn defaults_when_absent_and_tolerates_whitespace() {
        assert_eq!(head(" \n{ } \r\n"), RequestHead::default());
        assert!(!head("{ \"stream\" : false , \"n\": -1.5e3, \"x\": null }").stream);
    }

    #[test]
    fn decodes_escaped_model_names() {
        assert_eq!(
            head(r#"{"model":"gpt\u002d4o"}"#).model.as_deref(),
            Some("gpt-4o")
        );
    }

    #[test]
    fn non_string_model_is_treated_as_absent() {
        assert_eq!(
            head(r#"{"model":42,"stream":"yes"}"#),
            RequestHead::default()
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"model":"gpt-4o""#,
            r#"{"model":"gpt-4o",}"#,
            r#"{"model" "x"}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":[1,2},"b":1]}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":1} trailing"#,
            "{\"a\":\"ctl\u{1}\"}",
            "not json",
        ] {
            assert!(
                scan_request_head(bad.as_bytes()).is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn a_second_model_or_stream_key_in_any_case_is_refused() {
        for body in [
            r#"{"model":"cheap","Model":"expensive"}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"{"MODEL":"a","messages":[],"model":"b"}"#,
            r#"{"model":"a","stream":false,"Stream":true}"#,
            "{\"model\":\"a\",\"stream\":true,\"\u{017F}tream\":false}",
        ] {
            let err = scan_request_head(body.as_bytes()).unwrap_err();
            assert!(err.reason.contains("duplicate"), "{body}");
        }
        // Nested keys and other fields are not routing's business.
        assert_eq!(
            head(r#"{"model":"a","metadata":{"model":"b","Model":"c"},"models":1}"#).model,
            Some("a".into())
        );
    }

    #[test]
    fn error_message_names_the_offset() {
        let e = scan_request_head(b"{\"model\":").unwrap_err();
        assert!(e.to_string().contains("byte 9"), "{e}");
    }
}
