//! Filling a template's parameters and validating the result against a server's
//! `/object_info` before anything is queued: unknown or missing parameters, wrong types,
//! values outside the bounds, names the server does not list (samplers, model files, images),
//! and every graph input against its node class. Also whether a template can run on a server.

use super::object_info::{InputKind, ObjectInfo};
use super::template::{is_link, placeholders, ParamSpec, ParamType, Template};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// One reason a fill cannot be queued.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    pub message: String,
}

impl fmt::Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(name) => write!(f, "parameter `{name}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// All errors in one sentence list, for the LLM's retry and the user's message.
pub fn describe(errors: &[FillError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One prompt ready for `POST /prompt`: the values used and the graph they made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filled {
    /// The fan-out value (`front`, `back`, …) when the template queues several prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub values: BTreeMap<String, Value>,
    pub graph: Map<String, Value>,
}

/// Fills `template` from `args`; `seed` is drawn by the caller and used for seed parameters
/// not given, shared by every prompt of a fan-out. Either every prompt validates or nothing.
pub fn fill(
    template: &Template,
    args: &Map<String, Value>,
    info: &ObjectInfo,
    seed: u64,
) -> Result<Vec<Filled>, Vec<FillError>> {
    let mut errors: Vec<FillError> = args
        .keys()
        .filter(|name| template.param(name).is_none())
        .map(|name| FillError {
            param: Some(name.clone()),
            message: format!(
                "this template has no such parameter (it has: {})",
                template
                    .params
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    let mut values = BTreeMap::new();
    for param in &template.params {
        match resolve(template, param, args.get(&param.name), info, seed) {
            Ok(Some(value)) => {
                values.insert(param.name.clone(), value);
            }
            Ok(None) => {}
            Err(message) => errors.push(FillError {
                param: Some(param.name.clone()),
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let fan: Vec<Option<String>> = match &template.fan_out {
        Some(name) if !args.contains_key(name) => template
            .param(name)
            .and_then(|p| p.choices.clone())
            .unwrap_or_default()
            .into_iter()
            .map(Some)
            .collect(),
        Some(name) => vec![values.get(name).and_then(Value::as_str).map(String::from)],
        None => vec![None],
    };
    let mut out = Vec::new();
    for label in fan {
        let mut values = values.clone();
        if let (Some(name), Some(label)) = (&template.fan_out, &label) {
            values.insert(name.clone(), Value::String(label.clone()));
        }
        let graph = apply(template, &values);
        let graph_errors = validate_graph(&graph, info);
        if !graph_errors.is_empty() {
            return Err(graph_errors);
        }
        out.push(Filled {
            label,
            values,
            graph,
        });
    }
    Ok(out)
}

/// The value a parameter takes: given, default, or drawn; checked against its type, bounds
/// and the server's list.
fn resolve(
    template: &Template,
    param: &ParamSpec,
    given: Option<&Value>,
    info: &ObjectInfo,
    seed: u64,
) -> Result<Option<Value>, String> {
    let options = options(template, param, info);
    let value = match (given, &param.default) {
        (Some(value), _) => value.clone(),
        (None, _) if param.kind == ParamType::Seed => Value::from(seed % SEED_LIMIT),
        // A default file the server lacks gives way to the first one it has.
        (None, Some(Value::String(s))) if options.as_ref().is_some_and(|o| !o.contains(s)) => {
            match options.as_ref().and_then(|o| o.first()) {
                Some(first) => Value::String(first.clone()),
                None => return Err(format!("the server lists no value for it (default `{s}`)")),
            }
        }
        (None, Some(default)) => default.clone(),
        (None, None) if param.required => {
            return Err(format!("is required: {}", param.description))
        }
        (None, None) => return Ok(None),
    };
    check_value(param, &value, options.as_deref())?;
    Ok(Some(value))
}

/// Seeds stay below 2^53 so every JSON reader keeps them exact.
const SEED_LIMIT: u64 = 1 << 53;

/// The allowed values of a choice or image parameter: its fixed list, or the server's list for
/// its first target.
fn options(template: &Template, param: &ParamSpec, info: &ObjectInfo) -> Option<Vec<String>> {
    if !matches!(param.kind, ParamType::Choice | ParamType::Image) {
        return None;
    }
    if let Some(fixed) = &param.choices {
        return Some(fixed.clone());
    }
    let (node, input) = param.targets.first()?;
    let class = template.class_of(node)?;
    Some(info.choices(class, input)?.to_vec())
}

fn check_value(param: &ParamSpec, value: &Value, options: Option<&[String]>) -> Result<(), String> {
    let number = |v: &Value| v.as_f64().ok_or_else(|| format!("{v} is not a number"));
    let bounds = |n: f64| -> Result<(), String> {
        if let Some(min) = param.min.filter(|m| n < *m) {
            return Err(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = param.max.filter(|m| n > *m) {
            return Err(format!("{n} is above the maximum {max}"));
        }
        Ok(())
    };
    match param.kind {
        ParamType::Text => match value.as_str() {
            Some(s) if param.required && s.trim().is_empty() => Err("must not be empty".into()),
            Some(_) => Ok(()),
            None => Err(format!("{value} is not text")),
        },
        ParamType::Int | ParamType::Seed => {
            if !(value.is_i64() || value.is_u64()) {
                return Err(format!("{value} is not a whole number"));
            }
            bounds(number(value)?)
        }
        ParamType::Float => bounds(number(value)?),
        ParamType::Boolean => value
            .is_boolean()
            .then_some(())
            .ok_or_else(|| format!("{value} is not true or false")),
        ParamType::Choice | ParamType::Image => {
            let Some(s) = value.as_str() else {
                return Err(format!("{value} is not text"));
            };
            let options = options.unwrap_or_default();
            if options.iter().any(|o| o == s) {
                return Ok(());
            }
            let what = if param.kind == ParamType::Image {
                "is not in the server's input folder (upload it first)"
            } else {
                "is not offered by the server"
            };
            Err(format!("`{s}` {what}; allowed: {}", sample(options)))
        }
    }
}

/// At most a dozen allowed values, so an error stays readable.
fn sample(options: &[String]) -> String {
    let shown: Vec<&str> = options.iter().take(12).map(String::as_str).collect();
    let more = options.len().saturating_sub(shown.len());
    match more {
        0 => shown.join(", "),
        n => format!("{} and {n} more", shown.join(", ")),
    }
}

/// The graph with every parameter target and composed text set.
fn apply(template: &Template, values: &BTreeMap<String, Value>) -> Map<String, Value> {
    let mut graph = template.graph.clone();
    let mut set = |node: &str, input: &str, value: Value| {
        if let Some(inputs) = graph
            .get_mut(node)
            .and_then(|n| n.get_mut("inputs"))
            .and_then(Value::as_object_mut)
        {
            inputs.insert(input.to_string(), value);
        }
    };
    for param in &template.params {
        if let Some(value) = values.get(&param.name) {
            for (node, input) in &param.targets {
                set(node, input, value.clone());
            }
        }
    }
    for compose in &template.compose {
        let mut text = compose.format.clone();
        for name in placeholders(&compose.format) {
            let value = match values.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            text = text.replace(&format!("{{{name}}}"), &value);
        }
        set(&compose.node, &compose.input, Value::String(text));
    }
    graph
}

/// Every node's class exists and every input is what the class takes: links to existing
/// nodes, numbers in bounds and on the step, names the server lists.
pub fn validate_graph(graph: &Map<String, Value>, info: &ObjectInfo) -> Vec<FillError> {
    let mut errors = Vec::new();
    let mut fail = |message: String| {
        errors.push(FillError {
            param: None,
            message,
        })
    };
    for (id, node) in graph {
        let class = node.get("class_type").and_then(Value::as_str).unwrap_or("");
        let Some(spec) = info.nodes.get(class) else {
            fail(format!(
                "node {id}: class `{class}` is not installed on the server"
            ));
            continue;
        };
        let empty = Map::new();
        let inputs = node
            .get("inputs")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, input) in &spec.inputs {
            if input.required && !inputs.contains_key(name) {
                fail(format!(
                    "node {id} ({class}): required input `{name}` is missing"
                ));
            }
        }
        for (name, value) in inputs {
            let Some(input) = spec.inputs.get(name) else {
                continue; // ComfyUI ignores inputs a class does not declare.
            };
            if is_link(value) {
                let source = value.get(0).and_then(Value::as_str).unwrap_or("");
                if !graph.contains_key(source) {
                    fail(format!(
                        "node {id} ({class}): `{name}` links to missing node {source}"
                    ));
                }
                continue;
            }
            if let Some(problem) = literal_problem(&input.kind, value) {
                fail(format!("node {id} ({class}): `{name}` {problem}"));
            }
        }
    }
    errors
}

fn literal_problem(kind: &InputKind, value: &Value) -> Option<String> {
    let out_of = |n: f64, min: &Option<f64>, max: &Option<f64>| {
        if let Some(min) = min.filter(|m| n < *m) {
            return Some(format!("= {n} is below the minimum {min}"));
        }
        max.filter(|m| n > *m)
            .map(|max| format!("= {n} is above the maximum {max}"))
    };
    match kind {
        InputKind::Int { min, max, step } => {
            let Some(n) = value.as_f64().filter(|_| value.is_i64() || value.is_u64()) else {
                return Some(format!("= {value} is not a whole number"));
            };
            out_of(n, min, max).or_else(|| {
                let step = step.filter(|s| *s > 1.0)?;
                let base = min.unwrap_or(0.0);
                ((n - base) % step != 0.0)
                    .then(|| format!("= {n} is not on the step of {step} from {base}"))
            })
        }
        InputKind::Float { min, max } => match value.as_f64() {
            Some(n) => out_of(n, min, max),
            None => Some(format!("= {value} is not a number")),
        },
        InputKind::String => (!value.is_string()).then(|| format!("= {value} is not text")),
        InputKind::Boolean => (!value.is_boolean()).then(|| format!("= {value} is not a boolean")),
        InputKind::Choice(options) => {
            let s = value
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| value.to_string());
            (!options.contains(&s)).then(|| {
                format!(
                    "= `{s}` is not offered by the server; allowed: {}",
                    sample(options)
                )
            })
        }
        InputKind::Link(kind) => Some(format!("needs a {kind} connection, not {value}")),
    }
}

/// Whether a template can run on a server, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    pub available: bool,
    pub reasons: Vec<String>,
}

/// A template runs when every node class is installed, every fixed name it uses (model files,
/// text encoders) is listed, and every choice parameter has at least one value to pick.
/// Image parameters do not count: an upload fills the input folder.
pub fn availability(template: &Template, info: &ObjectInfo) -> Availability {
    let mut reasons = Vec::new();
    for (id, node) in &template.graph {
        let class = node.get("class_type").and_then(Value::as_str).unwrap_or("");
        if !info.nodes.contains_key(class) {
            reasons.push(format!("node class `{class}` is not installed"));
            continue;
        }
        let Some(inputs) = node.get("inputs").and_then(Value::as_object) else {
            continue;
        };
        for (input, value) in inputs {
            if template.is_parameter_input(id, input) {
                continue;
            }
            if let (Some(options), Some(name)) = (info.choices(class, input), value.as_str()) {
                if !options.iter().any(|o| o == name) {
                    reasons.push(format!("`{name}` ({class}.{input}) is not installed"));
                }
            }
        }
    }
    for param in &template.params {
        if param.kind != ParamType::Choice || param.choices.is_some() {
            continue;
        }
        if options(template, param, info).is_some_and(|o| o.is_empty()) {
            reasons.push(format!(
                "no file for parameter `{}` is installed",
                param.name
            ));
        }
    }
    reasons.dedup();
    Availability {
        available: reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::super::object_info::fixture;
    use super::super::template::builtin;
    use super::*;
    use serde_json::json;

    fn template(id: &str) -> Template {
        builtin().into_iter().find(|t| t.id == id).unwrap()
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn text_to_image_fills_the_named_inputs_and_nothing_else() {
        let t = template("text-to-image");
        let filled = fill(
            &t,
            &args(json!({"prompt": "a red fox in snow", "width": 1344, "height": 768, "sampler": "dpmpp_2m"})),
            &fixture(),
            42,
        )
        .unwrap();
        assert_eq!(filled.len(), 1);
        let mut expected = t.graph.clone();
        let mut set = |node: &str, input: &str, v: Value| {
            expected[node]["inputs"][input] = v;
        };
        set("6", "text", json!("a red fox in snow"));
        set("7", "text", json!("blurry, low quality, watermark"));
        set("5", "width", json!(1344));
        set("5", "height", json!(768));
        set("3", "seed", json!(42));
        set("3", "sampler_name", json!("dpmpp_2m"));
        assert_eq!(filled[0].graph, expected);
        assert_eq!(filled[0].values["seed"], json!(42));
        assert_eq!(
            filled[0].values["checkpoint"],
            json!("sd_xl_base_1.0.safetensors")
        );
    }

    #[test]
    fn every_builtin_fills_with_its_defaults_on_the_recorded_server() {
        let info = fixture();
        for t in builtin() {
            assert!(availability(&t, &info).available, "{}", t.id);
            let mut given = json!({"prompt": "a lighthouse at dusk"});
            if t.param("image").is_some() {
                given["image"] = json!("portrait.png");
            }
            let filled = fill(&t, &args(given), &info, 7)
                .unwrap_or_else(|e| panic!("{}: {}", t.id, describe(&e)));
            assert!(!filled.is_empty());
        }
    }

    #[test]
    fn multi_view_queues_four_prompts_with_one_seed_and_one_view_each() {
        let t = template("multi-view");
        let filled = fill(&t, &args(json!({"prompt": "a knight"})), &fixture(), 99).unwrap();
        let labels: Vec<_> = filled.iter().map(|f| f.label.clone().unwrap()).collect();
        assert_eq!(labels, ["front", "back", "left", "right"]);
        for f in &filled {
            assert_eq!(f.graph["3"]["inputs"]["seed"], json!(99));
            let text = f.graph["6"]["inputs"]["text"].as_str().unwrap();
            assert!(text.starts_with(&format!("a knight, {} view,", f.label.as_deref().unwrap())));
        }
        let one = fill(
            &t,
            &args(json!({"prompt": "a knight", "view": "back", "seed": 5})),
            &fixture(),
            1,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].graph["3"]["inputs"]["seed"], json!(5));
    }

    #[test]
    fn invalid_fills_name_every_problem() {
        let t = template("text-to-image");
        let errors = fill(
            &t,
            &args(json!({"width": 4096, "sampler": "warp_drive", "steps": 2.5, "style": "noir"})),
            &fixture(),
            1,
        )
        .unwrap_err();
        let text = describe(&errors);
        assert!(
            text.contains("parameter `style`: this template has no such parameter"),
            "{text}"
        );
        assert!(text.contains("parameter `prompt`: is required"), "{text}");
        assert!(
            text.contains("parameter `width`: 4096 is above the maximum 2048"),
            "{text}"
        );
        assert!(
            text.contains("`warp_drive` is not offered by the server; allowed: euler,"),
            "{text}"
        );
        assert!(
            text.contains("parameter `steps`: 2.5 is not a whole number"),
            "{text}"
        );
    }

    #[test]
    fn the_graph_is_checked_against_the_server_catalogue() {
        let t = template("text-to-image");
        // 1000 is inside the template's bounds but off EmptyLatentImage's step of 8.
        let errors = fill(
            &t,
            &args(json!({"prompt": "x", "width": 1001})),
            &fixture(),
            1,
        )
        .unwrap_err();
        assert_eq!(
            describe(&errors),
            "node 5 (EmptyLatentImage): `width` = 1001 is not on the step of 8 from 16"
        );
        let mut graph = t.graph.clone();
        graph["3"]["inputs"]
            .as_object_mut()
            .unwrap()
            .remove("latent_image");
        graph["8"]["inputs"]["vae"] = json!(["12", 2]);
        graph["9"]["class_type"] = json!("SaveVideoMagic");
        let text = describe(&validate_graph(&graph, &fixture()));
        assert!(
            text.contains("node 3 (KSampler): required input `latent_image` is missing"),
            "{text}"
        );
        assert!(
            text.contains("node 8 (VAEDecode): `vae` links to missing node 12"),
            "{text}"
        );
        assert!(
            text.contains("node 9: class `SaveVideoMagic` is not installed"),
            "{text}"
        );
    }

    #[test]
    fn images_must_be_in_the_input_folder() {
        let t = template("image-to-image");
        let errors = fill(
            &t,
            &args(json!({"prompt": "x", "image": "cat.png"})),
            &fixture(),
            1,
        )
        .unwrap_err();
        assert!(describe(&errors).contains("`cat.png` is not in the server's input folder"));
    }

    fn without(info: &ObjectInfo, class: &str, input: &str, file: &str) -> ObjectInfo {
        let mut info = info.clone();
        let spec = info
            .nodes
            .get_mut(class)
            .unwrap()
            .inputs
            .get_mut(input)
            .unwrap();
        if let InputKind::Choice(values) = &mut spec.kind {
            values.retain(|v| v != file);
        }
        info
    }

    #[test]
    fn a_missing_model_file_or_node_makes_a_template_unavailable_with_the_reason() {
        let info = without(
            &fixture(),
            "UNETLoader",
            "unet_name",
            "wan2.2_ti2v_5B_fp16.safetensors",
        );
        assert_eq!(
            availability(&template("image-to-video"), &info),
            Availability {
                available: false,
                reasons: vec![
                    "`wan2.2_ti2v_5B_fp16.safetensors` (UNETLoader.unet_name) is not installed"
                        .into()
                ]
            }
        );
        assert!(availability(&template("text-to-video"), &info).available);
        let mut info = fixture();
        info.nodes.remove("Wan22ImageToVideoLatent");
        assert_eq!(
            availability(&template("image-to-video"), &info).reasons,
            ["node class `Wan22ImageToVideoLatent` is not installed"]
        );
    }

    #[test]
    fn a_missing_default_checkpoint_gives_way_to_an_installed_one_and_none_means_unavailable() {
        let t = template("text-to-image");
        let info = without(
            &fixture(),
            "CheckpointLoaderSimple",
            "ckpt_name",
            "sd_xl_base_1.0.safetensors",
        );
        assert!(availability(&t, &info).available);
        let filled = fill(&t, &args(json!({"prompt": "x"})), &info, 1).unwrap();
        assert_eq!(
            filled[0].graph["4"]["inputs"]["ckpt_name"],
            json!("v1-5-pruned-emaonly.safetensors")
        );
        let mut bare = info.clone();
        for file in [
            "flux1-dev-fp8.safetensors",
            "v1-5-pruned-emaonly.safetensors",
        ] {
            bare = without(&bare, "CheckpointLoaderSimple", "ckpt_name", file);
        }
        assert_eq!(
            availability(&t, &bare).reasons,
            ["no file for parameter `checkpoint` is installed"]
        );
    }
}
