//! Workflow templates: an API-format ComfyUI graph plus typed, named parameters that say which
//! node inputs they set. The built-in ones live as JSON next to this file; users upload their
//! own (an API-format workflow and its marked parameters), checked by `Template::check`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kind of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Text,
    Int,
    Float,
    Boolean,
    /// An integer noise seed; drawn at random when not given.
    Seed,
    /// One of a fixed list (`choices`) or of the values the server lists for the target input.
    Choice,
    /// A file in the server's input folder (what `LoadImage` lists; uploads land there).
    Image,
}

/// One node input a parameter sets: `(node id, input name)`.
pub type Target = (String, String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// A text input built from several parameters: `{name}` placeholders in `format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compose {
    pub node: String,
    pub input: String,
    pub format: String,
}

/// What a template's outputs are, so the UI knows how to show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Image,
    Video,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub title: String,
    pub description: String,
    pub output: OutputKind,
    pub params: Vec<ParamSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose: Vec<Compose>,
    /// A choice parameter whose every value is queued as its own prompt (multi-view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<String>,
    /// The API-format graph: node id → `{class_type, inputs}`.
    pub graph: Map<String, Value>,
}

/// The templates shipped with the gateway.
pub fn builtin() -> Vec<Template> {
    [
        include_str!("templates/text-to-image.json"),
        include_str!("templates/image-to-image.json"),
        include_str!("templates/multi-view.json"),
        include_str!("templates/text-to-video.json"),
        include_str!("templates/image-to-video.json"),
    ]
    .iter()
    .filter_map(|text| serde_json::from_str(text).ok())
    .collect()
}

/// The longest id, title or parameter name a user template may use.
const MAX_NAME: usize = 64;

impl Template {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The class of a graph node.
    pub fn class_of(&self, node: &str) -> Option<&str> {
        self.graph.get(node)?.get("class_type")?.as_str()
    }

    /// Whether a node input is set by a parameter or a composed text.
    pub fn is_parameter_input(&self, node: &str, input: &str) -> bool {
        let hit = |n: &str, i: &str| n == node && i == input;
        self.params
            .iter()
            .any(|p| p.targets.iter().any(|(n, i)| hit(n, i)))
            || self.compose.iter().any(|c| hit(&c.node, &c.input))
    }

    /// The structural rules every template keeps (the built-ins in tests, uploads on save):
    /// an API-format graph, unique parameter names, targets that name literal inputs of
    /// existing nodes, compose placeholders that name parameters, a fan-out over a fixed choice.
    pub fn check(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_NAME
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!(
                "template id `{}` must be 1-{MAX_NAME} letters, digits, '-' or '_'",
                self.id
            ));
        }
        if self.graph.is_empty() {
            return Err("the workflow has no nodes".into());
        }
        for (id, node) in &self.graph {
            if node.get("class_type").and_then(Value::as_str).is_none()
                || !node.get("inputs").is_some_and(Value::is_object)
            {
                return Err(format!(
                    "node `{id}` is not API format (`class_type` and `inputs`); export the workflow with \"Save (API Format)\""
                ));
            }
        }
        for (i, param) in self.params.iter().enumerate() {
            if param.name.is_empty() || param.name.len() > MAX_NAME {
                return Err(format!(
                    "parameter {i} needs a name of 1-{MAX_NAME} characters"
                ));
            }
            if self.params[..i].iter().any(|p| p.name == param.name) {
                return Err(format!("parameter `{}` is declared twice", param.name));
            }
            for (node, input) in &param.targets {
                let value = self
                    .graph
                    .get(node)
                    .and_then(|n| n.get("inputs"))
                    .and_then(|inputs| inputs.get(input))
                    .ok_or_else(|| {
                        format!(
                            "parameter `{}` targets `{node}.{input}`, which the workflow does not have",
                            param.name
                        )
                    })?;
                if is_link(value) {
                    return Err(format!(
                        "parameter `{}` targets `{node}.{input}`, which is a connection, not a value",
                        param.name
                    ));
                }
            }
            let used = !param.targets.is_empty()
                || self
                    .compose
                    .iter()
                    .any(|c| c.format.contains(&format!("{{{}}}", param.name)));
            if !used {
                return Err(format!("parameter `{}` sets nothing", param.name));
            }
        }
        for compose in &self.compose {
            if self.class_of(&compose.node).is_none() {
                return Err(format!(
                    "composed text targets missing node `{}`",
                    compose.node
                ));
            }
            for name in placeholders(&compose.format) {
                if self.param(name).is_none() {
                    return Err(format!(
                        "composed text names unknown parameter `{{{name}}}`"
                    ));
                }
            }
        }
        if let Some(name) = &self.fan_out {
            let fixed = self
                .param(name)
                .filter(|p| p.kind == ParamType::Choice)
                .and_then(|p| p.choices.as_ref())
                .is_some_and(|c| !c.is_empty());
            if !fixed {
                return Err(format!(
                    "fan-out parameter `{name}` must be a choice with a fixed list"
                ));
            }
        }
        Ok(())
    }
}

/// A link is `["<node id>", <output index>]`.
pub fn is_link(value: &Value) -> bool {
    matches!(value.as_array().map(Vec::as_slice), Some([Value::String(_), n]) if n.is_u64())
}

/// The `{name}` placeholders of a compose format.
pub fn placeholders(format: &str) -> impl Iterator<Item = &str> {
    format
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_template_parses_and_keeps_the_rules() {
        let all = builtin();
        let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "text-to-image",
                "image-to-image",
                "multi-view",
                "text-to-video",
                "image-to-video"
            ]
        );
        for template in &all {
            template
                .check()
                .unwrap_or_else(|e| panic!("{}: {e}", template.id));
            assert!(!template.description.is_empty());
        }
    }

    fn upload(params: Value) -> Result<(), String> {
        let template: Template = serde_json::from_value(json!({
            "id": "my-flow", "title": "Mine", "description": "", "output": "image",
            "params": params,
            "graph": {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["2", 1]}},
                      "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a"}}}
        }))
        .unwrap();
        template.check()
    }

    #[test]
    fn an_upload_must_mark_literal_inputs_that_exist() {
        upload(json!([{"name": "prompt", "type": "text", "targets": [["1", "text"]]}])).unwrap();
        let missing = upload(json!([{"name": "p", "type": "text", "targets": [["1", "txt"]]}]));
        assert!(missing.unwrap_err().contains("`1.txt`"));
        let link = upload(json!([{"name": "p", "type": "text", "targets": [["1", "clip"]]}]));
        assert!(link.unwrap_err().contains("connection"));
        let twice = upload(json!([
            {"name": "p", "type": "text", "targets": [["1", "text"]]},
            {"name": "p", "type": "choice", "targets": [["2", "ckpt_name"]]}
        ]));
        assert!(twice.unwrap_err().contains("twice"));
        let idle = upload(json!([{"name": "p", "type": "text", "targets": []}]));
        assert!(idle.unwrap_err().contains("sets nothing"));
    }

    #[test]
    fn a_ui_format_workflow_is_refused_with_the_fix() {
        let template: Template = serde_json::from_value(json!({
            "id": "ui", "title": "UI", "description": "", "output": "image", "params": [],
            "graph": {"nodes": [], "links": []}
        }))
        .unwrap();
        assert!(template.check().unwrap_err().contains("Save (API Format)"));
    }
}
