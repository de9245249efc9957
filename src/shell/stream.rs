//! Relays an upstream SSE stream to the client chunk by chunk, unchanged, while a scanner reads
//! usage from it. The pump also sends keep-alive frames while the upstream is silent (so
//! Cloudflare's idle cut never hits), ends a stream cut by the upstream with an in-band error
//! event in the client's dialect, cancels the upstream when the client goes away, and writes
//! the usage log when the stream is over — with the tokens seen so far if it was cut.

use super::app::now_ms;
use super::usage_log::{self, UsageEntry};
use crate::core::convert::StreamConverter;
use crate::core::usage::{
    at_frame_boundary, inband_error_frame, keepalive_frame, Pricing, StreamScanner, WireFamily,
};
use futures::future::{select, Either, FutureExt, Shared};
use std::pin::Pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{
    AbortSignal, ReadableStreamDefaultReader, TransformStream, WritableStreamDefaultWriter,
};
use worker::{Delay, Env, Headers, Response, ResponseBody};

/// What the pump needs besides the two streams.
pub struct StreamJob {
    pub env: Env,
    pub family: WireFamily,
    pub keepalive: Duration,
    /// A write the client has not taken within this time means it is gone: some disconnects
    /// (seen behind Miniflare's entry worker) neither fire the signal nor fail the write.
    pub client_stall: Duration,
    pub pricing: Pricing,
    pub log: UsageEntry,
    /// The incoming request's signal: aborted when the client disconnects
    /// (`enable_request_signal`). A pending write to a gone client may otherwise never settle.
    pub client_signal: AbortSignal,
    /// Set when the upstream speaks another dialect: its stream is converted chunk by chunk.
    pub converter: Option<StreamConverter>,
}

/// Resolves when the client has gone away.
type ClientGone = Shared<JsFuture>;

fn client_gone(signal: &AbortSignal) -> ClientGone {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if signal.aborted() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        } else {
            let _ = signal.add_event_listener_with_callback("abort", &resolve);
        }
    });
    JsFuture::from(promise).shared()
}

/// Returns the client's response at once; the pump runs in `waitUntil`.
pub fn relay(
    ctx: &worker::Context,
    upstream: Response,
    job: StreamJob,
) -> Result<Response, String> {
    let status = upstream.status_code();
    let ResponseBody::Stream(source) = upstream.body().clone() else {
        return Ok(upstream);
    };
    let headers = match &job.converter {
        // The upstream's headers describe its own format; a converted stream gets fresh ones.
        Some(converter) => {
            let headers = Headers::new();
            let content_type = if converter.client_framing_is_json_array() {
                "application/json"
            } else {
                "text/event-stream"
            };
            headers
                .set("Content-Type", content_type)
                .map_err(|e| e.to_string())?;
            headers
                .set("Cache-Control", "no-cache")
                .map_err(|e| e.to_string())?;
            headers
        }
        None => upstream.headers().clone(),
    };
    let pipe = TransformStream::new().map_err(js_text)?;
    let writer = pipe.writable().get_writer().map_err(js_text)?;
    let reader: ReadableStreamDefaultReader = source.get_reader().unchecked_into();
    ctx.wait_until(pump(reader, writer, job));
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .stream(pipe.readable()))
}

enum Step {
    Chunk(js_sys::Uint8Array),
    End,
    Failed(String),
}

async fn pump(
    reader: ReadableStreamDefaultReader,
    writer: WritableStreamDefaultWriter,
    job: StreamJob,
) {
    let StreamJob {
        env,
        family,
        keepalive,
        client_stall,
        pricing,
        mut log,
        client_signal,
        mut converter,
    } = job;
    // A JSON-array stream (Gemini without alt=sse) has no place for keep-alive frames.
    let keepalive = match &converter {
        Some(c) if c.client_framing_is_json_array() => Duration::from_secs(86_400),
        _ => keepalive,
    };
    let gone = client_gone(&client_signal);
    let as_ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let mut client = Client {
        writer: &writer,
        gone: &gone,
        // Half periods: a keep-alive goes out between 1× and 1.5× the interval of silence.
        ticker: Ticker::new(keepalive.min(client_stall) / 2),
        stall_ms: as_ms(client_stall),
        keepalive_ms: as_ms(keepalive),
        last_write_ms: now_ms(),
    };
    let mut scanner = StreamScanner::new(family);
    // The last bytes sent, to know when a frame of ours would not split an upstream event.
    let mut tail: Vec<u8> = Vec::new();
    let mut cut: Option<String> = None;
    loop {
        let step = next_step(&reader, &mut client, family, &tail).await;
        let chunk = match step {
            Ok(Step::Chunk(chunk)) => chunk,
            Ok(Step::End) => break,
            Ok(Step::Failed(reason)) => {
                cut = Some(reason);
                break;
            }
            Err(()) => {
                log.client_closed = true;
                break;
            }
        };
        let bytes = chunk.to_vec();
        if log.ttfb_ms.is_none() {
            log.ttfb_ms = Some(now_ms() - log.started_at);
        }
        let written = match converter.as_mut() {
            Some(converter) => {
                let out = converter.push(&bytes);
                remember_tail(&mut tail, &out);
                if out.is_empty() {
                    Ok(())
                } else {
                    client
                        .write(&js_sys::Uint8Array::from(out.as_slice()))
                        .await
                }
            }
            None => {
                scanner.feed(&bytes);
                remember_tail(&mut tail, &bytes);
                client.write(&chunk).await
            }
        };
        if written.is_err() {
            log.client_closed = true;
            break;
        }
    }
    scanner.finish();
    if log.client_closed {
        // The client is gone: stop the upstream from generating (and billing) further tokens.
        // Not awaited: the log must not wait on how the upstream reacts to the cancel.
        let _ = reader.cancel();
        log.error_class = Some("client_closed".into());
    } else if let Some(converter) = converter.as_mut() {
        // The converter always ends the client's stream properly: terminal events, or an
        // in-band error when the upstream stopped early.
        let out = match &cut {
            Some(reason) => converter.error(&format!("upstream stream interrupted: {reason}")),
            None => converter.finish(),
        };
        if cut.is_some() {
            log.error_class = Some("stream_cut".into());
        }
        if !out.is_empty() {
            let _ = client
                .write(&js_sys::Uint8Array::from(out.as_slice()))
                .await;
        }
        let _ = JsFuture::from(writer.close()).await;
    } else {
        if cut.is_none() && !scanner.terminal_seen() {
            cut = Some("the upstream closed the stream before its end".into());
        }
        if let Some(reason) = &cut {
            // The client already has a 200: the error can only travel inside the stream.
            let message = format!("upstream stream interrupted: {reason}");
            let frame = inband_error_frame(family, &message, scanner.events());
            let separator: &[u8] = if at_frame_boundary(&tail) {
                b""
            } else {
                b"\n\n"
            };
            let frame = [separator, frame.as_slice()].concat();
            let _ = client
                .write(&js_sys::Uint8Array::from(frame.as_slice()))
                .await;
            log.error_class = Some("stream_cut".into());
        }
        let _ = JsFuture::from(writer.close()).await;
    }
    if let Some(reason) = scanner.upstream_error() {
        log.error_class = Some(format!("upstream_stream_error: {}", truncate(reason, 200)));
    }
    log.usage = match &converter {
        Some(converter) => Some(converter.usage()),
        None => scanner.usage(),
    };
    log.cost_usd = pricing.cost_usd(log.usage);
    log.latency_ms = now_ms() - log.started_at;
    usage_log::write(&env, &log).await;
}

/// One timer for the whole stream, re-armed only when it fires: per chunk the pump creates
/// no timer at all (each one is a setTimeout/clearTimeout pair across the wasm boundary).
struct Ticker {
    delay: Pin<Box<Delay>>,
    period: Duration,
}

impl Ticker {
    fn new(period: Duration) -> Self {
        Self {
            delay: Box::pin(Delay::from(period)),
            period,
        }
    }

    fn rearm(&mut self) {
        self.delay = Box::pin(Delay::from(self.period));
    }
}

/// Waits for the next upstream chunk, sending keep-alive frames while it is late.
/// `Err(())` means the client went away while we were waiting.
async fn next_step(
    reader: &ReadableStreamDefaultReader,
    client: &mut Client<'_>,
    family: WireFamily,
    tail: &[u8],
) -> Result<Step, ()> {
    let read = JsFuture::from(reader.read());
    futures::pin_mut!(read);
    loop {
        let wake = select(client.gone.clone(), &mut client.ticker.delay);
        match select(read, wake).await {
            Either::Left((result, _)) => return Ok(read_result(result)),
            Either::Right((Either::Left(_), _)) => return Err(()),
            Either::Right((Either::Right(_), pending)) => {
                read = pending;
                client.ticker.rearm();
                let idle = now_ms() - client.last_write_ms >= client.keepalive_ms;
                if idle && at_frame_boundary(tail) {
                    let frame = js_sys::Uint8Array::from(keepalive_frame(family));
                    client.write(&frame).await?;
                }
            }
        }
    }
}

fn read_result(result: Result<JsValue, JsValue>) -> Step {
    let value = match result {
        Ok(v) => v,
        Err(e) => return Step::Failed(js_text(e)),
    };
    let done = js_sys::Reflect::get(&value, &JsValue::from_str("done"))
        .ok()
        .and_then(|d| d.as_bool())
        .unwrap_or(true);
    if done {
        return Step::End;
    }
    match js_sys::Reflect::get(&value, &JsValue::from_str("value")) {
        Ok(chunk) => match chunk.dyn_into::<js_sys::Uint8Array>() {
            Ok(bytes) => Step::Chunk(bytes),
            Err(_) => Step::Failed("the upstream sent a non-byte chunk".into()),
        },
        Err(e) => Step::Failed(js_text(e)),
    }
}

/// The client side of the pump.
struct Client<'a> {
    writer: &'a WritableStreamDefaultWriter,
    gone: &'a ClientGone,
    ticker: Ticker,
    stall_ms: i64,
    keepalive_ms: i64,
    last_write_ms: i64,
}

impl Client<'_> {
    /// Writes to the client; `Err` when it has gone away (the write failed, the signal fired,
    /// or the write stalled past `stall_ms`).
    async fn write(&mut self, chunk: &js_sys::Uint8Array) -> Result<(), ()> {
        let started = now_ms();
        let write = JsFuture::from(self.writer.write_with_chunk(chunk));
        futures::pin_mut!(write);
        loop {
            let wake = select(self.gone.clone(), &mut self.ticker.delay);
            match select(write, wake).await {
                Either::Left((Ok(_), _)) => {
                    self.last_write_ms = now_ms();
                    return Ok(());
                }
                Either::Left((Err(_), _)) | Either::Right((Either::Left(_), _)) => return Err(()),
                Either::Right((Either::Right(_), pending)) => {
                    self.ticker.rearm();
                    if now_ms() - started >= self.stall_ms {
                        return Err(());
                    }
                    write = pending;
                }
            }
        }
    }
}

fn remember_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(&bytes[bytes.len().saturating_sub(4)..]);
    let excess = tail.len().saturating_sub(4);
    tail.drain(..excess);
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn js_text(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(&e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown stream error".into())
}
