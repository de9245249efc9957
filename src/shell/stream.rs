//! Relays an upstream SSE stream to the client as it arrives while a scanner reads usage from
//! it. The runtime pipes the upstream body through a `TransformStream` whose transform is one
//! synchronous call into Rust per chunk (scan, or convert, and enqueue): no promise, future or
//! timer of ours per chunk. (Its CPU is still several times the runtime's native pipe: any
//! JS-visible stream in workerd costs that, measured with a pure-JS transform too; see README.)
//! A supervisor in `waitUntil`, woken only by a slow ticker, the client's abort signal or the
//! pipe's end, sends keep-alive frames while the upstream is silent (so Cloudflare's idle cut
//! never hits), cancels the upstream when the client goes away, ends a stream cut by the
//! upstream with an in-band error event in the client's dialect, and writes the usage log when
//! the stream is over — with the tokens seen so far if it was cut.

use super::app::now_ms;
use super::usage_log::{self, UsageEntry};
use crate::core::convert::StreamConverter;
use crate::core::usage::{
    at_frame_boundary, inband_error_frame, keepalive_frame, Pricing, StreamScanner, WireFamily,
};
use futures::future::{select, Either, FutureExt, Shared};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{QueuingStrategy, StreamPipeOptions, TransformStreamDefaultController};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{AbortController, AbortSignal, TransformStream};
use worker::{Delay, Env, Headers, Response, ResponseBody};

/// What the pump needs besides the two streams.
pub struct StreamJob {
    pub env: Env,
    pub family: WireFamily,
    pub keepalive: Duration,
    /// A client that has taken nothing for this long while data waits for it is gone: some
    /// disconnects (seen behind Miniflare's entry worker) neither fire the signal nor cancel
    /// the stream.
    pub client_stall: Duration,
    pub pricing: Pricing,
    pub log: UsageEntry,
    /// The incoming request's signal: aborted when the client disconnects
    /// (`enable_request_signal`).
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

/// What the per-chunk transform reads and writes; the supervisor reads it between chunks.
struct Scan {
    scanner: StreamScanner,
    converter: Option<StreamConverter>,
    /// The last bytes sent, to know when a frame of ours would not split an upstream event.
    tail: Vec<u8>,
    /// Reused for each chunk's copy into wasm memory.
    buffer: Vec<u8>,
    /// A chunk went through since the supervisor last looked (no clock read per chunk).
    moved: bool,
    log: UsageEntry,
}

impl Scan {
    fn on_chunk(
        &mut self,
        chunk: JsValue,
        controller: &TransformStreamDefaultController,
    ) -> Result<(), JsValue> {
        let chunk: js_sys::Uint8Array = chunk.dyn_into()?;
        self.buffer.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut self.buffer);
        self.moved = true;
        if self.log.ttfb_ms.is_none() {
            self.log.ttfb_ms = Some(now_ms() - self.log.started_at);
        }
        match self.converter.as_mut() {
            Some(converter) => {
                let out = converter.push(&self.buffer);
                remember_tail(&mut self.tail, &out);
                if !out.is_empty() {
                    controller.enqueue_with_chunk(&js_sys::Uint8Array::from(out.as_slice()))?;
                }
                Ok(())
            }
            None => {
                self.scanner.feed(&self.buffer);
                remember_tail(&mut self.tail, &self.buffer);
                controller.enqueue_with_chunk(&chunk)
            }
        }
    }
}

type StartFn = Closure<dyn FnMut(TransformStreamDefaultController)>;
type TransformFn =
    Closure<dyn FnMut(JsValue, TransformStreamDefaultController) -> Result<(), JsValue>>;

/// Returns the client's response at once; the supervisor runs in `waitUntil`.
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
        None => super::upstream::relayed_headers(upstream.headers()),
    };
    let StreamJob {
        env,
        family,
        keepalive,
        client_stall,
        pricing,
        log,
        client_signal,
        converter,
    } = job;
    // A JSON-array stream (Gemini without alt=sse) has no place for keep-alive frames.
    let keepalive = match &converter {
        Some(c) if c.client_framing_is_json_array() => None,
        _ => Some(keepalive),
    };
    let scan = Rc::new(RefCell::new(Scan {
        scanner: StreamScanner::new(family),
        converter,
        tail: Vec::new(),
        buffer: Vec::new(),
        moved: false,
        log,
    }));
    let slot: Rc<RefCell<Option<TransformStreamDefaultController>>> = Rc::default();
    let start: StartFn = {
        let slot = Rc::clone(&slot);
        Closure::new(move |controller| *slot.borrow_mut() = Some(controller))
    };
    let transform: TransformFn = {
        let scan = Rc::clone(&scan);
        Closure::new(move |chunk, controller: TransformStreamDefaultController| {
            scan.borrow_mut().on_chunk(chunk, &controller)
        })
    };
    let transformer = js_sys::Object::new();
    js_sys::Reflect::set(&transformer, &"start".into(), start.as_ref()).map_err(js_text)?;
    js_sys::Reflect::set(&transformer, &"transform".into(), transform.as_ref()).map_err(js_text)?;
    // One chunk may wait for the client: a queue that stays non-empty while nothing moves is
    // how a client that stopped reading shows (with the default of 0 it would look idle).
    let readable_strategy = QueuingStrategy::new();
    readable_strategy.set_high_water_mark(1.0);
    let pipe = TransformStream::new_with_transformer_and_writable_strategy_and_readable_strategy(
        &transformer,
        &QueuingStrategy::new(),
        &readable_strategy,
    )
    .map_err(js_text)?;
    // `start` ran inside the constructor.
    let controller = slot
        .borrow_mut()
        .take()
        .ok_or("the stream transformer was not started")?;
    let abort = AbortController::new().map_err(js_text)?;
    let options = StreamPipeOptions::new();
    // The supervisor ends the client's side itself, after what it may have to add (an upstream
    // error must not error the client's stream before the in-band error event is in it).
    options.set_prevent_close(true);
    options.set_prevent_abort(true);
    options.set_signal(&abort.signal());
    let source: web_sys::ReadableStream = source.unchecked_into();
    let piped = JsFuture::from(source.pipe_to_with_options(&pipe.writable(), &options));
    let supervisor = Supervisor {
        scan,
        controller,
        abort,
        family,
        keepalive,
        client_stall,
    };
    ctx.wait_until(async move {
        let log = supervisor.run(piped, &client_signal, pricing).await;
        usage_log::finish(&env, log).await;
        // The callbacks must outlive the pipe: only now may they go.
        drop((start, transform));
    });
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .stream(pipe.readable()))
}

/// Watches one piped stream from `waitUntil`.
struct Supervisor {
    scan: Rc<RefCell<Scan>>,
    controller: TransformStreamDefaultController,
    abort: AbortController,
    family: WireFamily,
    keepalive: Option<Duration>,
    client_stall: Duration,
}

impl Supervisor {
    /// Waits for the pipe to end, ticking for keep-alives and stalls; returns the finished log.
    async fn run(
        self,
        piped: JsFuture,
        client_signal: &AbortSignal,
        pricing: Pricing,
    ) -> UsageEntry {
        let gone = client_gone(client_signal);
        // Half periods: a keep-alive goes out between 1× and 1.5× the interval of silence.
        let period = self
            .keepalive
            .unwrap_or(self.client_stall)
            .min(self.client_stall)
            / 2;
        let mut silent = Duration::ZERO;
        let mut stalled = Duration::ZERO;
        let mut client_closed = false;
        futures::pin_mut!(piped);
        let piped = loop {
            let wake = select(gone.clone(), Delay::from(period));
            match select(&mut piped, wake).await {
                Either::Left((result, _)) => break result,
                Either::Right((Either::Left(_), _)) => {
                    client_closed = true;
                    self.drop_client();
                    break piped.await;
                }
                Either::Right((Either::Right(_), _)) => {
                    let moved = std::mem::take(&mut self.scan.borrow_mut().moved);
                    silent = if moved {
                        Duration::ZERO
                    } else {
                        silent + period
                    };
                    // Data waits in the client's queue and nothing moved: the client takes nothing.
                    let backlog = self.controller.desired_size().is_some_and(|d| d < 1.0);
                    stalled = if backlog && !moved {
                        stalled + period
                    } else {
                        Duration::ZERO
                    };
                    if stalled >= self.client_stall {
                        client_closed = true;
                        self.drop_client();
                        break piped.await;
                    } else if self.keepalive.is_some_and(|k| silent >= k) {
                        silent = Duration::ZERO;
                        self.send_keepalive();
                    }
                }
            }
        };
        let cut = piped.err().map(js_text);
        self.finish(cut, client_closed, pricing)
    }

    /// Gives up on a gone client: errors its side (a pipe waits for its pending write to a
    /// client that no longer reads) and cancels the upstream through the pipe's signal.
    fn drop_client(&self) {
        self.controller
            .error_with_reason(&JsValue::from_str("the client went away"));
        self.abort.abort();
    }

    fn send_keepalive(&self) {
        let scan = self.scan.borrow();
        if at_frame_boundary(&scan.tail) {
            let frame = js_sys::Uint8Array::from(keepalive_frame(self.family));
            let _ = self.controller.enqueue_with_chunk(&frame);
        }
    }

    /// Ends the client's stream properly (terminal events, or an in-band error when the
    /// upstream stopped early) and completes the log.
    fn finish(self, cut: Option<String>, mut client_closed: bool, pricing: Pricing) -> UsageEntry {
        let family = self.family;
        let mut scan = self.scan.borrow_mut();
        let Scan {
            scanner,
            converter,
            tail,
            log,
            ..
        } = &mut *scan;
        scanner.finish();
        // A pass-through stream that ended without its terminal event was cut short too; a
        // converter closes such a stream properly by itself.
        let cut = cut.or_else(|| {
            (converter.is_none() && !scanner.terminal_seen())
                .then(|| "the upstream closed the stream before its end".to_string())
        });
        if !client_closed {
            // The client already has a 200: an error can only travel inside the stream.
            let ending = match (converter.as_mut(), &cut) {
                (Some(converter), Some(reason)) => {
                    converter.error(&format!("upstream stream interrupted: {reason}"))
                }
                (Some(converter), None) => converter.finish(),
                (None, Some(reason)) => {
                    let message = format!("upstream stream interrupted: {reason}");
                    let separator: &[u8] = if at_frame_boundary(tail) {
                        b""
                    } else {
                        b"\n\n"
                    };
                    let frame = inband_error_frame(family, &message, scanner.events());
                    [separator, frame.as_slice()].concat()
                }
                (None, None) => Vec::new(),
            };
            if cut.is_some() {
                log.error_class = Some("stream_cut".into());
            }
            // A cancelled client side refuses the enqueue: that is how a disconnect that ended
            // the pipe shows.
            let delivered = ending.is_empty()
                || self
                    .controller
                    .enqueue_with_chunk(&js_sys::Uint8Array::from(ending.as_slice()))
                    .is_ok();
            if delivered {
                self.controller.terminate();
            } else {
                client_closed = true;
            }
        }
        if client_closed {
            // The pipe has already cancelled the upstream: by our abort, or because the client's
            // side was cancelled.
            log.client_closed = true;
            log.error_class = Some("client_closed".into());
        }
        if let Some(reason) = scanner.upstream_error() {
            log.error_class = Some(format!("upstream_stream_error: {}", truncate(reason, 200)));
        }
        log.usage = match converter {
            Some(converter) => Some(converter.usage()),
            None => scanner.usage(),
        };
        log.cost_usd = pricing.cost_usd(log.usage);
        std::mem::take(log)
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
