//! The assistant's side of the LLM conversation: the tools it offers (run a template with
//! parameters, tweak the last run, ask the user), the system prompt that lists the templates a
//! server can run, and the decision step that turns one LLM answer into what happens next —
//! queue validated prompts, ask, reply, or send the validation error back (a bounded number of
//! times) before telling the user plainly.

use super::fill::{describe, fill, Filled};
use super::object_info::ObjectInfo;
use super::template::Template;
use serde_json::{json, Map, Value};

/// LLM answers per user turn: the first try and two corrections after validation errors.
pub const MAX_ATTEMPTS: usize = 3;

/// The last run of the conversation, which `tweak_last_run` starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct LastRun {
    pub template_id: String,
    pub params: Map<String, Value>,
}

/// What one LLM answer leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Validated prompts to queue, with the parameters the caller gave (for the next tweak).
    Queue {
        template_id: String,
        params: Map<String, Value>,
        prompts: Vec<Filled>,
    },
    /// A clarifying question for the user.
    Ask(String),
    /// Plain text for the user.
    Reply(String),
    /// The tool call did not validate: answer it with this error and ask the LLM again.
    Retry { call_id: String, error: String },
}

/// The OpenAI-style `tools` list for the templates a server can run.
pub fn tools(templates: &[&Template]) -> Value {
    let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    json!([
        {"type": "function", "function": {
            "name": "run_template",
            "description": "Queue a ComfyUI workflow template with parameter values. Only the parameters listed for the template in the system prompt exist; leave out the ones the user did not ask about to keep their defaults.",
            "parameters": {"type": "object", "required": ["template", "params"], "properties": {
                "template": {"type": "string", "enum": ids},
                "params": {"type": "object", "description": "parameter name → value"}
            }}
        }},
        {"type": "function", "function": {
            "name": "tweak_last_run",
            "description": "Run the last template again with some parameters changed (e.g. the same picture at dusk, 16:9: new prompt, width and height). Unchanged parameters, the seed included, stay as they were.",
            "parameters": {"type": "object", "required": ["changes"], "properties": {
                "changes": {"type": "object", "description": "parameter name → new value"}
            }}
        }},
        {"type": "function", "function": {
            "name": "ask_user",
            "description": "Ask the user one short clarifying question when the request cannot be turned into a run.",
            "parameters": {"type": "object", "required": ["question"], "properties": {
                "question": {"type": "string"}
            }}
        }}
    ])
}

/// The system prompt: the job, then each runnable template with its parameters.
pub fn system_prompt(templates: &[&Template]) -> String {
    let mut text = String::from(
        "You turn requests for images and videos into runs of ComfyUI workflow templates. \
         Always answer with exactly one tool call: run_template, tweak_last_run or ask_user. \
         Write prompts in English, concrete and visual. For a different aspect ratio set width \
         and height (16:9 at 1024 wide is 1024x576; keep multiples of 8, of 16 for video).\n\nTemplates:\n",
    );
    for t in templates {
        text.push_str(&format!("- {} ({}): {}\n", t.id, t.title, t.description));
        for p in &t.params {
            let kind = format!("{:?}", p.kind).to_lowercase();
            let mut line = format!("    {} [{kind}]", p.name);
            if p.required {
                line.push_str(" required");
            }
            if let Some(d) = &p.default {
                line.push_str(&format!(" default {d}"));
            }
            if let (Some(min), Some(max)) = (p.min, p.max) {
                line.push_str(&format!(" {min}..{max}"));
            }
            if let Some(choices) = &p.choices {
                line.push_str(&format!(" one of {}", choices.join("/")));
            }
            text.push_str(&format!("{line}: {}\n", p.description));
        }
    }
    text
}

/// Decides what an OpenAI-style chat completion answer (`choices[0].message`) leads to.
/// `templates` are those the server can run; `seed` is drawn by the caller.
pub fn decide(
    message: &Value,
    templates: &[&Template],
    last: Option<&LastRun>,
    info: &ObjectInfo,
    seed: u64,
) -> Step {
    let Some(call) = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .and_then(|calls| calls.first())
    else {
        let text = message.get("content").and_then(Value::as_str).unwrap_or("");
        return Step::Reply(text.trim().to_string());
    };
    let call_id = call
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("call")
        .to_string();
    let retry = |error: String| Step::Retry {
        call_id: call_id.clone(),
        error,
    };
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let raw = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    let Ok(Value::Object(args)) = serde_json::from_str::<Value>(raw) else {
        return retry(format!("the arguments of {name} are not a JSON object"));
    };
    let object = |key: &str| {
        args.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (template_id, params) = match name {
        "ask_user" => {
            let question = args
                .get("question")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim();
            if question.is_empty() {
                return retry("ask_user needs a non-empty `question`".into());
            }
            return Step::Ask(question.to_string());
        }
        "run_template" => (
            args.get("template")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            object("params"),
        ),
        "tweak_last_run" => {
            let Some(last) = last else {
                return retry("there is no earlier run to tweak: use run_template".into());
            };
            let mut params = last.params.clone();
            params.extend(object("changes"));
            (last.template_id.clone(), params)
        }
        other => return retry(format!("unknown tool `{other}`")),
    };
    let Some(template) = templates.iter().find(|t| t.id == template_id) else {
        let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
        return retry(format!(
            "template `{template_id}` cannot run on this server; available: {}",
            ids.join(", ")
        ));
    };
    match fill(template, &params, info, seed) {
        Ok(prompts) => {
            // The seed used is kept so a tweak reproduces the picture with only the change.
            let mut params = params;
            if let Some(seed_param) = template
                .params
                .iter()
                .find(|p| p.kind == super::template::ParamType::Seed)
            {
                if let Some(used) = prompts.first().and_then(|p| p.values.get(&seed_param.name)) {
                    params.insert(seed_param.name.clone(), used.clone());
                }
            }
            Step::Queue {
                template_id,
                params,
                prompts,
            }
        }
        Err(errors) => retry(describe(&errors)),
    }
}

/// What the user reads when every attempt failed validation.
pub fn give_up_message(last_error: &str) -> String {
    format!(
        "I could not turn this into a workflow the server accepts after {MAX_ATTEMPTS} tries. \
         The last problem was: {last_error}. Try naming the size, model or template you want."
    )
}

#[cfg(test)]
mod tests {
    use super::super::object_info::fixture;
    use super::super::template::builtin;
    use super::*;

    fn call(name: &str, args: Value) -> Value {
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": name, "arguments": args.to_string()}}]})
    }

    #[test]
    fn a_run_call_is_filled_validated_and_keeps_its_seed_for_the_tweak() {
        let all = builtin();
        let templates: Vec<&Template> = all.iter().collect();
        let info = fixture();
        let step = decide(
            &call(
                "run_template",
                json!({"template": "text-to-image", "params": {"prompt": "a harbour at noon"}}),
            ),
            &templates,
            None,
            &info,
            1234,
        );
        let Step::Queue {
            template_id,
            params,
            prompts,
        } = step
        else {
            panic!("{step:?}")
        };
        assert_eq!(template_id, "text-to-image");
        assert_eq!(params["seed"], json!(1234));
        assert_eq!(
            prompts[0].graph["6"]["inputs"]["text"],
            json!("a harbour at noon")
        );
        let last = LastRun {
            template_id,
            params,
        };
        let tweak = decide(
            &call(
                "tweak_last_run",
                json!({"changes": {"prompt": "a harbour at dusk", "width": 1024, "height": 576}}),
            ),
            &templates,
            Some(&last),
            &info,
            999,
        );
        let Step::Queue { prompts, .. } = tweak else {
            panic!("{tweak:?}")
        };
        let graph = &prompts[0].graph;
        assert_eq!(graph["3"]["inputs"]["seed"], json!(1234));
        assert_eq!(graph["5"]["inputs"]["width"], json!(1024));
        assert_eq!(graph["5"]["inputs"]["height"], json!(576));
        assert_eq!(graph["6"]["inputs"]["text"], json!("a harbour at dusk"));
    }

    #[test]
    fn invalid_calls_go_back_with_the_error_and_plain_answers_reach_the_user() {
        let all = builtin();
        let templates: Vec<&Template> = all.iter().filter(|t| t.id != "image-to-video").collect();
        let info = fixture();
        let retry = |message: Value| match decide(&message, &templates, None, &info, 1) {
            Step::Retry { error, .. } => error,
            other => panic!("{other:?}"),
        };
        assert!(retry(call(
            "run_template",
            json!({"template": "text-to-image", "params": {"prompt": "x", "sampler": "magic"}})
        ))
        .contains("`magic` is not offered by the server"));
        assert!(retry(call(
            "run_template",
            json!({"template": "image-to-video", "params": {}})
        ))
        .contains("cannot run on this server; available: text-to-image,"));
        assert!(retry(call("tweak_last_run", json!({"changes": {}}))).contains("no earlier run"));
        assert!(retry(json!({"tool_calls": [{"id": "x", "function": {"name": "run_template", "arguments": "{oops"}}]}))
            .contains("not a JSON object"));
        assert_eq!(
            decide(
                &call("ask_user", json!({"question": "Which aspect ratio?"})),
                &templates,
                None,
                &info,
                1
            ),
            Step::Ask("Which aspect ratio?".into())
        );
        assert_eq!(
            decide(&json!({"content": " Hello! "}), &templates, None, &info, 1),
            Step::Reply("Hello!".into())
        );
        assert!(give_up_message("width too big").contains("after 3 tries"));
    }

    #[test]
    fn the_tools_and_prompt_list_only_the_runnable_templates() {
        let all = builtin();
        let templates: Vec<&Template> = all.iter().take(2).collect();
        let tools = tools(&templates);
        assert_eq!(
            tools[0]["function"]["parameters"]["properties"]["template"]["enum"],
            json!(["text-to-image", "image-to-image"])
        );
        let prompt = system_prompt(&templates);
        assert!(prompt.contains("- image-to-image (Image to image)"));
        assert!(prompt.contains("    width [int] default 1024 256..2048"));
        assert!(!prompt.contains("multi-view"));
    }
}
