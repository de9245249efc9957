//! Model listings in each dialect's shape, built from the route table's
//! model names, with each dialect's pagination.

use serde_json::{json, Value};

/// The shape a model listing is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListShape {
    OpenAi,
    Anthropic,
    Gemini,
}

/// The caller's credentials tell its SDK (New API's rule): `x-api-key` with `anthropic-version`
/// is Anthropic, `x-goog-api-key` or `?key=` is Gemini, anything else OpenAI; `/v1beta` is Gemini.
pub fn detect_shape(gemini_path: bool, anthropic_headers: bool, google_key: bool) -> ListShape {
    if gemini_path || google_key {
        ListShape::Gemini
    } else if anthropic_headers {
        ListShape::Anthropic
    } else {
        ListShape::OpenAi
    }
}

/// Pagination parameters of all three dialects, read from the query string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub after_id: Option<String>,
    pub before_id: Option<String>,
    pub page_token: Option<String>,
}

impl ListQuery {
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut q = ListQuery::default();
        for (k, v) in pairs {
            match k {
                "limit" | "pageSize" => q.limit = v.parse().ok(),
                "after_id" => q.after_id = Some(v.to_string()),
                "before_id" => q.before_id = Some(v.to_string()),
                "pageToken" => q.page_token = Some(v.to_string()),
                _ => {}
            }
        }
        q
    }
}

/// The model list. `created_ms` stands for every model's creation time (the route table only
/// knows when it was built).
pub fn render_list(shape: ListShape, models: &[&str], query: &ListQuery, created_ms: i64) -> Value {
    match shape {
        ListShape::OpenAi => json!({
            "object": "list",
            "data": models.iter().map(|m| openai_model(m, created_ms)).collect::<Vec<_>>(),
        }),
        ListShape::Anthropic => {
            let limit = query.limit.unwrap_or(20).clamp(1, 1000);
            let start = query
                .after_id
                .as_deref()
                .and_then(|id| models.iter().position(|m| *m == id).map(|i| i + 1))
                .unwrap_or(0);
            let end = query
                .before_id
                .as_deref()
                .and_then(|id| models.iter().position(|m| *m == id))
                .unwrap_or(models.len());
            let window = models.get(start..end.max(start)).unwrap_or(&[]);
            // Paging backwards from before_id takes the models right before it.
            let page: &[&str] = if query.before_id.is_some() && query.after_id.is_none() {
                &window[window.len().saturating_sub(limit)..]
            } else {
                &window[..window.len().min(limit)]
            };
            json!({
                "data": page.iter().map(|m| anthropic_model(m, created_ms)).collect::<Vec<_>>(),
                "has_more": page.len() < window.len(),
                "first_id": page.first(),
                "last_id": page.last(),
            })
        }
        ListShape::Gemini => {
            let size = query.limit.unwrap_or(50).clamp(1, 1000);
            let start = query
                .page_token
                .as_deref()
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0)
                .min(models.len());
            let end = (start + size).min(models.len());
            let mut body = json!({
                "models": models[start..end].iter().map(|m| gemini_model(m)).collect::<Vec<_>>(),
            });
            if end < models.len() {
                body["nextPageToken"] = Value::String(end.to_string());
            }
            body
        }
    }
}

/// One model (the relay has checked that it exists and the caller may use it).
pub fn render_one(shape: ListShape, model: &str, created_ms: i64) -> Value {
    match shape {
        ListShape::OpenAi => openai_model(model, created_ms),
        ListShape::Anthropic => anthropic_model(model, created_ms),
        ListShape::Gemini => gemini_model(model),
    }
}

/// Gemini SDKs send `models/x` or `x`; routing uses the bare name.
pub fn bare_model_name(name: &str) -> &str {
    name.strip_prefix("models/").unwrap_or(name)
}

fn openai_model(id: &str, created_ms: i64) -> Value {
    json!({"id": id, "object": "model", "created": created_ms / 1000, "owned_by": "ai-gateway"})
}

fn anthropic_model(id: &str, created_ms: i64) -> Value {
    json!({"type": "model", "id": id, "display_name": id, "created_at": rfc3339(created_ms)})
}

fn gemini_model(id: &str) -> Value {
    let mut methods = vec!["generateContent", "streamGenerateContent", "countTokens"];
    if id.contains("embed") {
        methods = vec!["embedContent", "batchEmbedContents"];
    }
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "001",
        "displayName": id,
        "description": format!("{id}, served through the gateway"),
        "supportedGenerationMethods": methods,
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time in ms (civil-from-days, proleptic Gregorian).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD` (UTC) of a Unix time in ms.
pub fn utc_day(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: [&str; 5] = ["a", "b", "c", "d", "e"];

    #[test]
    fn shape_follows_the_callers_credentials() {
        assert_eq!(detect_shape(false, false, false), ListShape::OpenAi);
        assert_eq!(detect_shape(false, true, false), ListShape::Anthropic);
        assert_eq!(detect_shape(false, false, true), ListShape::Gemini);
        assert_eq!(detect_shape(true, true, false), ListShape::Gemini);
    }

    #[test]
    fn openai_list_and_one() {
        let v = render_list(
            ListShape::OpenAi,
            &MODELS[..2],
            &ListQuery::default(),
            1_700_000_000_123,
        );
        assert_eq!(
            v,
            json!({"object":"list","data":[
                {"id":"a","object":"model","created":1_700_000_000,"owned_by":"ai-gateway"},
                {"id":"b","object":"model","created":1_700_000_000,"owned_by":"ai-gateway"}]})
        );
    }

    #[test]
    fn anthropic_pagination() {
        let q = |limit, after: Option<&str>, before: Option<&str>| ListQuery {
            limit,
            after_id: after.map(Into::into),
            before_id: before.map(Into::into),
            page_token: None,
        };
        let v = render_list(ListShape::Anthropic, &MODELS, &q(Some(2), None, None), 0);
        assert_eq!(
            (
                v["first_id"].as_str(),
                v["last_id"].as_str(),
                v["has_more"].as_bool()
            ),
            (Some("a"), Some("b"), Some(true))
        );
        assert_eq!(v["data"][0]["created_at"], "1970-01-01T00:00:00Z");
        let v = render_list(
            ListShape::Anthropic,
            &MODELS,
            &q(Some(2), Some("d"), None),
            0,
        );
        assert_eq!(
            (v["first_id"].as_str(), v["has_more"].as_bool()),
            (Some("e"), Some(false))
        );
        let v = render_list(
            ListShape::Anthropic,
            &MODELS,
            &q(Some(2), None, Some("d")),
            0,
        );
        assert_eq!(
            (
                v["first_id"].as_str(),
                v["last_id"].as_str(),
                v["has_more"].as_bool()
            ),
            (Some("b"), Some("c"), Some(true))
        );
    }

    #[test]
    fn gemini_pages_with_tokens_and_prefixed_names() {
        let q = ListQuery {
            limit: Some(2),
            ..ListQuery::default()
        };
        let v = render_list(ListShape::Gemini, &MODELS, &q, 0);
        assert_eq!(v["models"][0]["name"], "models/a");
        assert_eq!(
            v["models"][0]["supportedGenerationMethods"][0],
            "generateContent"
        );
        assert_eq!(v["nextPageToken"], "2");
        let last = ListQuery {
            limit: Some(2),
            page_token: Some("4".into()),
            ..ListQuery::default()
        };
        let v = render_list(ListShape::Gemini, &MODELS, &last, 0);
        assert_eq!(v["models"].as_array().map(Vec::len), Some(1));
        assert!(
            v.get("nextPageToken").is_none(),
            "no token on the last page"
        );
        assert_eq!(
            bare_model_name("models/gemini-2.5-flash"),
            "gemini-2.5-flash"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(1_759_104_000_000), "2025-09-29T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000 + 3_723_000), "2000-02-29T01:02:03Z");
        assert_eq!(utc_day(1_795_478_400_000 - 1), "2026-11-23");
    }
}
