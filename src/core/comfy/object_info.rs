//! ComfyUI's node catalogue (`GET /object_info`) read into typed input specs: what each node
//! class takes, the allowed values of its choice inputs (model files, samplers, input images)
//! and the bounds of its numbers. Templates are checked and fills validated against it.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What one input of a node class accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    Int {
        min: Option<f64>,
        max: Option<f64>,
        step: Option<f64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    String,
    Boolean,
    /// One of the listed values (model files, sampler names, input images, …).
    Choice(Vec<String>),
    /// A connection from another node's output of this type (`MODEL`, `LATENT`, …).
    Link(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub kind: InputKind,
    pub required: bool,
}

/// One node class: its inputs by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSpec {
    pub inputs: BTreeMap<String, InputSpec>,
}

/// The catalogue of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInfo {
    pub nodes: BTreeMap<String, NodeSpec>,
}

/// What the admin sees of a server's catalogue: node classes and the model files per loader input.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogSummary {
    pub node_classes: Vec<String>,
    pub models: BTreeMap<String, Vec<String>>,
}

impl ObjectInfo {
    /// Reads the `/object_info` body; classes or inputs of an unknown shape are skipped.
    pub fn parse(body: &Value) -> Result<Self, String> {
        let classes = body
            .as_object()
            .ok_or("/object_info did not answer with a JSON object")?;
        let mut nodes = BTreeMap::new();
        for (class, spec) in classes {
            let mut node = NodeSpec::default();
            for (section, required) in [("required", true), ("optional", false)] {
                let Some(inputs) = spec.pointer(&format!("/input/{section}")) else {
                    continue;
                };
                let Some(inputs) = inputs.as_object() else {
                    continue;
                };
                for (name, raw) in inputs {
                    if let Some(kind) = input_kind(raw) {
                        node.inputs
                            .insert(name.clone(), InputSpec { kind, required });
                    }
                }
            }
            nodes.insert(class.clone(), node);
        }
        Ok(Self { nodes })
    }

    pub fn input(&self, class: &str, input: &str) -> Option<&InputSpec> {
        self.nodes.get(class)?.inputs.get(input)
    }

    /// The allowed values of a choice input, if it is one.
    pub fn choices(&self, class: &str, input: &str) -> Option<&[String]> {
        match &self.input(class, input)?.kind {
            InputKind::Choice(values) => Some(values),
            _ => None,
        }
    }

    /// Node classes, and model files per loader input (`ckpt_name`, `unet_name`, …).
    pub fn summary(&self) -> CatalogSummary {
        let mut models: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for node in self.nodes.values() {
            for (name, spec) in &node.inputs {
                if !is_model_input(name) {
                    continue;
                }
                if let InputKind::Choice(values) = &spec.kind {
                    let files = models.entry(name.clone()).or_default();
                    files.extend(values.iter().cloned());
                    files.sort();
                    files.dedup();
                }
            }
        }
        CatalogSummary {
            node_classes: self.nodes.keys().cloned().collect(),
            models,
        }
    }
}

/// Loader inputs that name a model file (`ckpt_name`, `vae_name`, …), not `sampler_name`.
fn is_model_input(name: &str) -> bool {
    name.ends_with("_name") && name != "sampler_name"
}

/// `["INT", {min, max, step}]`, `[["a","b"], {}]`, `["COMBO", {"options": [...]}]`, `["MODEL"]`.
fn input_kind(raw: &Value) -> Option<InputKind> {
    let head = raw.get(0)?;
    let opts = raw.get(1);
    let num = |key: &str| opts.and_then(|o| o.get(key)).and_then(Value::as_f64);
    if let Some(values) = head.as_array() {
        return Some(InputKind::Choice(strings(values)));
    }
    Some(match head.as_str()? {
        "INT" => InputKind::Int {
            min: num("min"),
            max: num("max"),
            step: num("step"),
        },
        "FLOAT" => InputKind::Float {
            min: num("min"),
            max: num("max"),
        },
        "STRING" => InputKind::String,
        "BOOLEAN" => InputKind::Boolean,
        "COMBO" => InputKind::Choice(
            opts.and_then(|o| o.get("options"))
                .and_then(Value::as_array)
                .map(|v| strings(v))
                .unwrap_or_default(),
        ),
        other => InputKind::Link(other.to_string()),
    })
}

fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) fn fixture() -> ObjectInfo {
    let body: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/comfyui/object_info.json"
    ))
    .unwrap();
    ObjectInfo::parse(&body).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_recorded_catalogue() {
        let info = fixture();
        assert_eq!(
            info.input("KSampler", "seed").unwrap().kind,
            InputKind::Int {
                min: Some(0.0),
                max: Some(18446744073709551615.0),
                step: None
            }
        );
        assert!(info
            .choices("KSampler", "sampler_name")
            .unwrap()
            .contains(&"dpmpp_2m".to_string()));
        assert_eq!(
            info.input("KSampler", "model").unwrap().kind,
            InputKind::Link("MODEL".into())
        );
        let device = info.input("CLIPLoader", "device").unwrap();
        assert!(!device.required);
        let summary = info.summary();
        assert!(summary
            .node_classes
            .contains(&"SaveAnimatedWEBP".to_string()));
        assert_eq!(
            summary.models["vae_name"],
            vec![
                "ae.safetensors",
                "wan2.2_vae.safetensors",
                "wan_2.1_vae.safetensors"
            ]
        );
        assert!(!summary.models.contains_key("sampler_name"));
    }

    #[test]
    fn reads_the_newer_combo_shape_and_rejects_a_non_object() {
        let info = ObjectInfo::parse(&json!({
            "VAELoader": {"input": {"required": {"vae_name": ["COMBO", {"options": ["a.safetensors"]}]}}}
        }))
        .unwrap();
        assert_eq!(
            info.choices("VAELoader", "vae_name").unwrap(),
            ["a.safetensors".to_string()]
        );
        assert!(ObjectInfo::parse(&json!([1, 2])).is_err());
    }
}
