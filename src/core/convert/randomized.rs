//! Deterministic mutation testing of the SSE decoding and every stream converter (cargo fuzz
//! needs nightly): seeded corpus mutations and random chunking must never panic, must keep
//! output proportional to input, and must always leave the client stream closed.

use super::fixtures::context;
use super::matrix::{deltas, upstream_stream, SCENARIOS};
use super::*;
use crate::core::usage::StreamScanner;

/// xorshift64*: small, fixed-seed, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the framing and the JSON inside it.
const INTERESTING: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"data: ",
    b"event: ",
    b":",
    b"{",
    b"}",
    b"\"",
    b"[DONE]",
    b"\xff\xfe",
    b"event: error\n",
    b"data: {\"error\":{}}\n\n",
    b"\"index\":99999999999",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next() as u8;
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            2 => out.truncate(at),
            3 => {
                let end = (at + rng.below(200)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            _ => {
                let end = (at + rng.below(50)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

fn corpus(upstream: Dialect) -> Vec<Vec<u8>> {
    SCENARIOS
        .into_iter()
        .flat_map(|s| {
            [false, true].map(|fail| upstream_stream(upstream, &deltas(s, upstream, fail)))
        })
        .collect()
}

#[test]
fn mutated_streams_never_panic_or_grow_unbounded() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let mut runs = 0;
    for upstream in Dialect::ALL {
        let seeds = corpus(upstream);
        for client in Dialect::ALL.into_iter().filter(|c| *c != upstream) {
            let ctx = context(upstream, client, "m", true);
            for _ in 0..40 {
                let seed = rng.below(seeds.len());
                let input = mutate(&mut rng, &seeds[seed]);
                let mut conv = StreamConverter::new(ctx.clone());
                let mut usage = StreamScanner::new(upstream.wire_family());
                let mut out = Vec::new();
                let mut rest = input.as_slice();
                while !rest.is_empty() {
                    let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(97)));
                    out.extend(conv.push(piece));
                    usage.feed(piece);
                    rest = tail;
                }
                out.extend(conv.finish());
                usage.finish();
                assert!(conv.is_closed(), "{upstream:?} -> {client:?}");
                // Output is bounded by the input (plus fixed start/end frames).
                assert!(
                    out.len() <= 16 * input.len() + 16 * 1024,
                    "{upstream:?} -> {client:?}: {} from {}",
                    out.len(),
                    input.len()
                );
                // Nothing follows the close.
                assert!(conv.push(b"data: {}\n\n").is_empty());
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 20 * 40);
}

#[test]
fn random_bytes_through_every_parser() {
    let mut rng = Rng(42);
    for upstream in Dialect::ALL {
        for _ in 0..30 {
            let len = rng.below(2048);
            let noise: Vec<u8> = (0..len)
                .map(|_| {
                    let b = rng.next() as u8;
                    if b.is_multiple_of(5) {
                        b'\n'
                    } else {
                        b
                    }
                })
                .collect();
            let ctx = context(upstream, Dialect::AnthropicMessages, "m", false);
            let mut conv = StreamConverter::new(ctx);
            let out = [conv.push(&noise), conv.finish()].concat();
            // Whatever came in, the Anthropic client sees a named, terminated stream.
            let text = String::from_utf8(out).unwrap();
            assert!(text.ends_with("\n\n"));
            assert!(text.contains("event: error") || text.contains("event: message_stop"));
        }
    }
}

#[test]
fn request_bodies_never_panic() {
    let mut rng = Rng(7);
    for from in Dialect::ALL {
        let seed = emit_request(
            from,
            &Request {
                model: "m".into(),
                messages: vec![ir::Message {
                    role: ir::Role::User,
                    content: vec![Block::text("hi")],
                }],
                ..Request::default()
            },
        );
        let Ok(seed) = seed else { continue };
        let seed = seed.to_string().into_bytes();
        for to in Dialect::ALL {
            for _ in 0..40 {
                let body = mutate(&mut rng, &seed);
                if let Ok(c) = convert_request(from, to, &body, "m", None) {
                    let _ = convert_response(&c.context, 200, &body);
                }
                let _ = tokens::estimate_tokens(from, &body);
            }
        }
    }
}
