//! Following queued prompts: ComfyUI's WebSocket messages and `/history` answers turned into
//! the run events the browser gets over SSE (queued, started, executing, progress, preview,
//! done, error, cancelled). A pure step function over the runs one stream follows.

use serde::Serialize;
use serde_json::{json, Value};

/// One file a run produced, as `/view` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OutputFile {
    pub filename: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(rename = "type", default = "output_type")]
    pub kind: String,
}

fn output_type() -> String {
    "output".into()
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        outputs: Vec<OutputFile>,
    },
    Error {
        node: Option<String>,
        message: String,
    },
    Cancelled,
}

/// An event for the browser: the SSE `event:` name and its JSON `data:`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub name: &'static str,
    pub data: Value,
}

impl RunEvent {
    fn new(name: &'static str, data: Value) -> Self {
        Self { name, data }
    }

    /// The SSE frame.
    pub fn frame(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }
}

#[derive(Debug, Clone)]
struct Followed {
    run: i64,
    prompt_id: String,
    started: bool,
    outputs: Vec<OutputFile>,
    outcome: Option<Outcome>,
}

/// The runs one stream follows, by ComfyUI prompt id.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    runs: Vec<Followed>,
}

impl Tracker {
    pub fn new(runs: impl IntoIterator<Item = (i64, String)>) -> Self {
        Self {
            runs: runs
                .into_iter()
                .map(|(run, prompt_id)| Followed {
                    run,
                    prompt_id,
                    started: false,
                    outputs: Vec::new(),
                    outcome: None,
                })
                .collect(),
        }
    }

    /// Whether every followed run has an outcome.
    pub fn finished(&self) -> bool {
        self.runs.iter().all(|r| r.outcome.is_some())
    }

    /// Runs still without an outcome: `(run id, prompt id)`.
    pub fn pending(&self) -> Vec<(i64, String)> {
        self.runs
            .iter()
            .filter(|r| r.outcome.is_none())
            .map(|r| (r.run, r.prompt_id.clone()))
            .collect()
    }

    /// The outcome of each finished run.
    pub fn outcomes(&self) -> Vec<(i64, Outcome)> {
        self.runs
            .iter()
            .filter_map(|r| r.outcome.clone().map(|o| (r.run, o)))
            .collect()
    }

    fn by_prompt(&mut self, data: &Value) -> Option<&mut Followed> {
        let id = data.get("prompt_id")?.as_str()?;
        self.runs
            .iter_mut()
            .find(|r| r.prompt_id == id && r.outcome.is_none())
    }

    /// One text frame of `/ws` (`{"type", "data"}`).
    pub fn on_message(&mut self, message: &Value) -> Vec<RunEvent> {
        let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
        let data = message.get("data").cloned().unwrap_or(Value::Null);
        let node = || data.get("node").and_then(Value::as_str).map(String::from);
        let Some(run) = self.by_prompt(&data) else {
            return Vec::new();
        };
        let id = run.run;
        let mut events = Vec::new();
        let start = |run: &mut Followed, events: &mut Vec<RunEvent>| {
            if !run.started {
                run.started = true;
                events.push(RunEvent::new("started", json!({"run": id})));
            }
        };
        match kind {
            "execution_start" => start(run, &mut events),
            "executing" => match node() {
                Some(node) => {
                    start(run, &mut events);
                    events.push(RunEvent::new("executing", json!({"run": id, "node": node})));
                }
                // `node: null` is the classic end of a prompt.
                None => events.push(finish(
                    run,
                    Outcome::Done {
                        outputs: run.outputs.clone(),
                    },
                )),
            },
            "progress" => {
                let value = data.get("value").and_then(Value::as_u64).unwrap_or(0);
                let max = data.get("max").and_then(Value::as_u64).unwrap_or(0).max(1);
                start(run, &mut events);
                events.push(RunEvent::new(
                    "progress",
                    json!({"run": id, "node": node(), "value": value, "max": max,
                           "percent": (value.min(max) * 100) / max}),
                ));
            }
            "executed" => {
                let files = files_of(data.get("output").unwrap_or(&Value::Null));
                if !files.is_empty() {
                    events.push(RunEvent::new("output", json!({"run": id, "files": files})));
                    run.outputs.extend(files);
                }
            }
            "execution_success" => events.push(finish(
                run,
                Outcome::Done {
                    outputs: run.outputs.clone(),
                },
            )),
            "execution_error" => {
                let node = data
                    .get("node_id")
                    .and_then(Value::as_str)
                    .map(String::from);
                let message = error_text(&data);
                events.push(finish(run, Outcome::Error { node, message }));
            }
            "execution_interrupted" => events.push(finish(run, Outcome::Cancelled)),
            _ => {}
        }
        events
    }

    /// A `/history/{prompt_id}` answer (empty while the prompt waits or runs).
    pub fn on_history(&mut self, prompt_id: &str, history: &Value) -> Vec<RunEvent> {
        let Some(entry) = history.get(prompt_id) else {
            return Vec::new();
        };
        let Some(run) = self
            .runs
            .iter_mut()
            .find(|r| r.prompt_id == prompt_id && r.outcome.is_none())
        else {
            return Vec::new();
        };
        let status = entry.pointer("/status/status_str").and_then(Value::as_str);
        let messages = entry
            .pointer("/status/messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let message_of = |kind: &str| {
            messages
                .iter()
                .find(|m| m.get(0).and_then(Value::as_str) == Some(kind))
                .and_then(|m| m.get(1))
                .cloned()
        };
        let outcome = if let Some(error) = message_of("execution_error") {
            Outcome::Error {
                node: error
                    .get("node_id")
                    .and_then(Value::as_str)
                    .map(String::from),
                message: error_text(&error),
            }
        } else if message_of("execution_interrupted").is_some() {
            Outcome::Cancelled
        } else if status == Some("error") {
            Outcome::Error {
                node: None,
                message: "ComfyUI reported an error without details".into(),
            }
        } else {
            let mut outputs = Vec::new();
            if let Some(nodes) = entry.get("outputs").and_then(Value::as_object) {
                for output in nodes.values() {
                    outputs.extend(files_of(output));
                }
            }
            Outcome::Done { outputs }
        };
        vec![finish(run, outcome)]
    }

    /// The user stopped the runs still pending.
    pub fn cancel_all(&mut self) -> Vec<RunEvent> {
        self.runs
            .iter_mut()
            .filter(|r| r.outcome.is_none())
            .map(|r| finish(r, Outcome::Cancelled))
            .collect()
    }
}

fn finish(run: &mut Followed, outcome: Outcome) -> RunEvent {
    let id = run.run;
    let event = match &outcome {
        Outcome::Done { outputs } => RunEvent::new("done", json!({"run": id, "outputs": outputs})),
        Outcome::Error { node, message } => RunEvent::new(
            "error",
            json!({"run": id, "node": node, "message": message}),
        ),
        Outcome::Cancelled => RunEvent::new("cancelled", json!({"run": id})),
    };
    run.outcome = Some(outcome);
    event
}

/// `"KSampler (node 3): CUDA out of memory"` from an `execution_error` body.
fn error_text(data: &Value) -> String {
    let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("");
    let message = match text("exception_message").trim() {
        "" => "the node failed".to_string(),
        m => m.to_string(),
    };
    match (text("node_type"), text("node_id")) {
        ("", "") => message,
        (kind, id) => format!("{kind} (node {id}): {message}"),
    }
}

/// Files of one node's UI output: `images`, `gifs` (VideoHelperSuite) and `videos`.
fn files_of(output: &Value) -> Vec<OutputFile> {
    ["images", "gifs", "videos"]
        .iter()
        .filter_map(|key| output.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(|file| serde_json::from_value(file.clone()).ok())
        .collect()
}

/// A binary `/ws` frame: event type 1 (`PREVIEW_IMAGE`) with a 4-byte image format (1 JPEG,
/// 2 PNG) and the image; `None` for any other frame.
pub fn preview(frame: &[u8]) -> Option<(&'static str, &[u8])> {
    let kind = u32::from_be_bytes(frame.get(0..4)?.try_into().ok()?);
    let format = u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?);
    if kind != 1 {
        return None;
    }
    let mime = match format {
        1 => "image/jpeg",
        2 => "image/png",
        _ => return None,
    };
    Some((mime, frame.get(8..)?))
}

/// The position of a prompt in `GET /queue` (0: running), if it is there.
pub fn queue_position(queue: &Value, prompt_id: &str) -> Option<usize> {
    let entries = |key: &str| {
        queue
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let is_it = |entry: &Value| entry.get(1).and_then(Value::as_str) == Some(prompt_id);
    if entries("queue_running").iter().any(is_it) {
        return Some(0);
    }
    let mut pending = entries("queue_pending");
    pending.sort_by_key(|e| e.get(0).and_then(Value::as_i64).unwrap_or(i64::MAX));
    pending.iter().position(is_it).map(|i| i + 1)
}

/// The reason ComfyUI refused a prompt (`POST /prompt` 400: `error` and `node_errors`).
pub fn prompt_rejection(body: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(nodes) = body.get("node_errors").and_then(Value::as_object) {
        for (id, node) in nodes {
            let class = node
                .get("class_type")
                .and_then(Value::as_str)
                .unwrap_or("node");
            for error in node
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("");
                let detail = match text("details") {
                    "" => String::new(),
                    d => format!(" ({d})"),
                };
                parts.push(format!("{class} (node {id}): {}{detail}", text("message")));
            }
        }
    }
    if parts.is_empty() {
        let error = body.get("error");
        let message = error
            .and_then(|e| e.get("message").or(Some(e)))
            .and_then(Value::as_str)
            .unwrap_or("the server refused the prompt");
        parts.push(message.to_string());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[RunEvent]) -> Vec<&str> {
        events.iter().map(|e| e.name).collect()
    }

    #[test]
    fn a_websocket_run_gives_ordered_events_and_ignores_other_prompts() {
        let mut t = Tracker::new([(7, "p1".to_string())]);
        let frames = [
            json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": "x"}}),
            json!({"type": "execution_start", "data": {"prompt_id": "p1"}}),
            json!({"type": "executing", "data": {"node": "3", "prompt_id": "p1"}}),
            json!({"type": "progress", "data": {"value": 5, "max": 20, "node": "3", "prompt_id": "p1"}}),
            json!({"type": "progress", "data": {"value": 5, "max": 20, "node": "3", "prompt_id": "other"}}),
            json!({"type": "executed", "data": {"node": "9", "prompt_id": "p1",
                   "output": {"images": [{"filename": "a.png", "subfolder": "gateway", "type": "output"}]}}}),
            json!({"type": "execution_success", "data": {"prompt_id": "p1"}}),
            json!({"type": "executing", "data": {"node": null, "prompt_id": "p1"}}),
        ];
        let events: Vec<RunEvent> = frames.iter().flat_map(|f| t.on_message(f)).collect();
        assert_eq!(
            names(&events),
            ["started", "executing", "progress", "output", "done"]
        );
        assert_eq!(events[2].data["percent"], 25);
        assert_eq!(events[4].data["outputs"][0]["filename"], "a.png");
        assert!(t.finished());
        assert!(events[4].frame().starts_with("event: done\ndata: {"));
    }

    #[test]
    fn a_node_error_names_the_node_and_its_message() {
        let mut t = Tracker::new([(1, "p".to_string())]);
        let events = t.on_message(&json!({"type": "execution_error", "data": {
            "prompt_id": "p", "node_id": "3", "node_type": "KSampler",
            "exception_message": "CUDA out of memory", "traceback": []}}));
        assert_eq!(
            events[0].data["message"],
            "KSampler (node 3): CUDA out of memory"
        );
        assert_eq!(
            t.outcomes()[0].1,
            Outcome::Error {
                node: Some("3".into()),
                message: "KSampler (node 3): CUDA out of memory".into()
            }
        );
    }

    #[test]
    fn history_gives_the_outcome_when_the_socket_is_gone() {
        let mut t = Tracker::new([(1, "a".to_string()), (2, "b".to_string())]);
        assert!(t.on_history("a", &json!({})).is_empty());
        let done = t.on_history("a", &json!({"a": {
            "outputs": {"9": {"images": [{"filename": "x.png", "subfolder": "", "type": "output"}]}},
            "status": {"status_str": "success", "completed": true, "messages": []}}}));
        assert_eq!(names(&done), ["done"]);
        let failed = t.on_history("b", &json!({"b": {"outputs": {},
            "status": {"status_str": "error", "completed": false, "messages": [
                ["execution_start", {"prompt_id": "b"}],
                ["execution_error", {"prompt_id": "b", "node_id": "4", "node_type": "CheckpointLoaderSimple",
                                     "exception_message": "file not found"}]]}}}));
        assert_eq!(
            failed[0].data["message"],
            "CheckpointLoaderSimple (node 4): file not found"
        );
        assert!(t.finished());
        assert_eq!(t.pending(), []);
    }

    #[test]
    fn cancel_finishes_only_what_is_pending() {
        let mut t = Tracker::new([(1, "a".to_string()), (2, "b".to_string())]);
        t.on_message(&json!({"type": "execution_success", "data": {"prompt_id": "a"}}));
        assert_eq!(names(&t.cancel_all()), ["cancelled"]);
        assert_eq!(t.outcomes()[1], (2, Outcome::Cancelled));
    }

    #[test]
    fn a_refused_prompt_names_the_node_and_the_detail() {
        let body = json!({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
            "node_errors": {"4": {"class_type": "CheckpointLoaderSimple", "dependent_outputs": ["9"], "errors": [
                {"type": "value_not_in_list", "message": "Value not in list", "details": "ckpt_name: 'x' not in []"}]}}});
        assert_eq!(
            prompt_rejection(&body),
            "CheckpointLoaderSimple (node 4): Value not in list (ckpt_name: 'x' not in [])"
        );
        assert_eq!(
            prompt_rejection(&json!({"error": {"message": "no prompt"}, "node_errors": {}})),
            "no prompt"
        );
    }

    #[test]
    fn previews_and_queue_positions() {
        let frame = [0, 0, 0, 1, 0, 0, 0, 2, 0x89, b'P'];
        assert_eq!(preview(&frame), Some(("image/png", &[0x89, b'P'][..])));
        assert_eq!(preview(&[0, 0, 0, 3, 0, 0, 0, 2]), None);
        let queue = json!({"queue_running": [[5, "r", {}, {}, []]],
                           "queue_pending": [[9, "late", {}, {}, []], [7, "mine", {}, {}, []]]});
        assert_eq!(queue_position(&queue, "r"), Some(0));
        assert_eq!(queue_position(&queue, "mine"), Some(1));
        assert_eq!(queue_position(&queue, "late"), Some(2));
        assert_eq!(queue_position(&queue, "gone"), None);
    }
}
