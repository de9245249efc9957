//! Incremental Server-Sent Events decoder (WHATWG rules).
//!
//! workerd delivers stream chunks that do not align with events, so the decoder buffers only
//! the current, unfinished event and yields each complete one as soon as its blank line arrives.

/// One dispatched event: `event:` name (empty = "message") and the joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The longest unfinished line kept; a peer that never sends a newline cannot grow memory.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// The most data one event keeps across its `data:` lines: a peer that never ends an event
/// cannot grow memory either.
pub const MAX_EVENT_DATA_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    /// The previous chunk ended on `\r`: a `\n` starting the next chunk belongs to it.
    pending_cr: bool,
    overflowed: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events completed by them, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut bytes = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'\n' || b == b'\r' {
                self.push_line_bytes(&bytes[start..i]);
                self.end_line(&mut out);
                if b == b'\r' {
                    if i + 1 == bytes.len() {
                        self.pending_cr = true;
                    } else if bytes[i + 1] == b'\n' {
                        i += 1;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.push_line_bytes(&bytes[start..]);
        out
    }

    /// Ends the stream: an event without its final blank line is still dispatched (the stream
    /// was cut; what arrived is kept, e.g. for usage accounting).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out.pop()
    }

    /// Whether a line over [`MAX_LINE_BYTES`] or an event over [`MAX_EVENT_DATA_BYTES`] was cut
    /// short.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.overflowed = true;
        }
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_DATA_BYTES {
                    self.overflowed = true;
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            _ => {} // id, retry and unknown fields do not affect the payload
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_keeps_at_most_its_data_cap() {
        let mut d = SseDecoder::new();
        let line = format!("data: {}\n", "x".repeat(1024 * 1024));
        for _ in 0..20 {
            assert!(d.feed(line.as_bytes()).is_empty());
        }
        assert!(d.overflowed());
        let events = d.feed(b"\n");
        assert_eq!(events.len(), 1);
        assert!(events[0].data.len() <= MAX_EVENT_DATA_BYTES);
        // The next event starts afresh.
        assert_eq!(d.feed(b"data: ok\n\n")[0].data, "ok");
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn decodes_events_split_at_every_byte() {
        let stream = b"event: ping\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: line1\ndata: line2\r\n\r\ndata: [DONE]\r\r";
        let whole = SseDecoder::new().feed(stream);
        assert_eq!(
            whole,
            vec![
                ev("ping", "{\"a\":1}"),
                ev("", "line1\nline2"),
                ev("", "[DONE]")
            ]
        );
        for split in 1..stream.len() {
            let mut d = SseDecoder::new();
            let mut got = d.feed(&stream[..split]);
            got.extend(d.feed(&stream[split..]));
            assert_eq!(got, whole, "split at {split}");
        }
        let mut d = SseDecoder::new();
        let one_by_one: Vec<SseEvent> = stream.iter().flat_map(|b| d.feed(&[*b])).collect();
        assert_eq!(one_by_one, whole);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut d = SseDecoder::new();
        assert!(d.feed(b"data: x\r").is_empty());
        assert!(
            d.feed(b"\n").is_empty(),
            "the \\n completes the same line, not a blank one"
        );
        assert_eq!(d.feed(b"\r\n"), vec![ev("", "x")]);
    }

    #[test]
    fn field_rules_follow_the_spec() {
        let got = SseDecoder::new()
            .feed(b"data\ndata:no-space\nid: 3\nretry: 10\nevent:x\n\nevent: lonely\n\n");
        assert_eq!(
            got,
            vec![ev("x", "\nno-space")],
            "an event without data is not dispatched"
        );
    }

    #[test]
    fn finish_keeps_a_cut_event_and_line_length_is_bounded() {
        let mut d = SseDecoder::new();
        assert!(d
            .feed(b"data: {\"usage\":{\"prompt_tokens\":3}}")
            .is_empty());
        assert_eq!(
            d.finish(),
            Some(ev("", "{\"usage\":{\"prompt_tokens\":3}}"))
        );
        assert_eq!(d.finish(), None);
        let mut d = SseDecoder::new();
        let big = vec![b'a'; MAX_LINE_BYTES + 10];
        d.feed(b"data: ");
        d.feed(&big);
        assert!(d.overflowed());
        assert!(d.line.len() <= MAX_LINE_BYTES);
    }
}
