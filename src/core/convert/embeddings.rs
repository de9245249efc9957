//! Embeddings between OpenAI `/v1/embeddings` and Gemini `:batchEmbedContents`, and
//! `encoding_format: base64` (little-endian f32), which the OpenAI SDKs request by default.

use serde_json::{json, Value};

use super::errors::{unsupported, ConvertError};
use super::json::{opt_str, str_at};

/// What the response side of an embeddings call needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedContext {
    pub client_model: String,
    /// The client wants base64 strings instead of float arrays.
    pub base64: bool,
    /// Gemini client used `:embedContent` (one result) rather than `:batchEmbedContents`.
    pub single: bool,
    /// Characters of input, for the local token estimate (Gemini reports no usage).
    pub input_chars: u64,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Floats as the base64 of their little-endian f32 bytes (what the OpenAI SDKs decode).
pub fn encode_floats(values: &[Value]) -> String {
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|v| (v.as_f64().unwrap_or(0.0) as f32).to_le_bytes())
        .collect();
    base64_encode(&bytes)
}

/// Float values as float32 numbers again. Embeddings are float32 on both APIs, but serde_json's
/// default float parser may land one f64 ulp away from the decimal it read; rounding through
/// f32 restores the exact value the upstream meant, so clients see the same floats either way.
fn float32_values(values: &[Value]) -> Value {
    values
        .iter()
        .map(|v| json!(f64::from(v.as_f64().unwrap_or(0.0) as f32)))
        .collect()
}

fn parse(body: &[u8]) -> Result<Value, ConvertError> {
    serde_json::from_slice(body)
        .map_err(|e| ConvertError::Malformed(format!("body is not valid JSON: {e}")))
}

/// OpenAI embeddings request → Gemini `:batchEmbedContents` body (path from [`gemini_path`]).
pub fn openai_to_gemini_request(
    body: &[u8],
    upstream_model: &str,
) -> Result<(Vec<u8>, EmbedContext), ConvertError> {
    let v = parse(body)?;
    let inputs: Vec<String> = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::Array(_) => {
            return Err(unsupported(
                "token-array embedding inputs cannot be sent to Gemini channels",
            ))
        }
        _ => return Err(ConvertError::Malformed("`input` is required".into())),
    };
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let mut r = json!({"model": format!("models/{upstream_model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = v["dimensions"].as_u64() {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    let ctx = EmbedContext {
        client_model: str_at(&v, "model").to_string(),
        // The SDKs put `base64` in the body themselves; without the field the API answers floats.
        base64: opt_str(&v, "encoding_format").as_deref() == Some("base64"),
        single: false,
        input_chars: inputs.iter().map(|s| s.chars().count() as u64).sum(),
    };
    Ok((json!({"requests": requests}).to_string().into_bytes(), ctx))
}

/// The Gemini batch embedding path for a model.
pub fn gemini_path(model: &str) -> String {
    format!("/v1beta/models/{model}:batchEmbedContents")
}

/// Gemini `{embeddings:[{values}]}` (or `{embedding:{values}}`) → OpenAI list body.
pub fn gemini_to_openai_response(ctx: &EmbedContext, body: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let v = parse(body)?;
    let embeddings: Vec<&Value> = match v["embeddings"].as_array() {
        Some(list) => list.iter().collect(),
        None => vec![&v["embedding"]],
    };
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let values = e["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let embedding = if ctx.base64 {
                json!(encode_floats(values))
            } else {
                float32_values(values)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = ctx.input_chars.div_ceil(4);
    Ok(
        json!({"object": "list", "data": data, "model": ctx.client_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        .to_string()
        .into_bytes(),
    )
}

/// Gemini `:embedContent` / `:batchEmbedContents` body → OpenAI embeddings request (floats).
pub fn gemini_to_openai_request(
    body: &[u8],
    upstream_model: &str,
    single: bool,
) -> Result<(Vec<u8>, EmbedContext), ConvertError> {
    let v = parse(body)?;
    let requests: Vec<&Value> = if single {
        vec![&v]
    } else {
        v["requests"]
            .as_array()
            .map(|r| r.iter().collect())
            .unwrap_or_default()
    };
    let inputs: Vec<String> = requests
        .iter()
        .map(|r| {
            r["content"]["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        })
        .collect();
    let mut out = json!({"model": upstream_model, "input": inputs, "encoding_format": "float"});
    let dims = requests.first().and_then(|r| {
        r.get("outputDimensionality")
            .or_else(|| r.get("output_dimensionality"))
    });
    if let Some(d) = dims.and_then(Value::as_u64) {
        out["dimensions"] = json!(d);
    }
    let ctx = EmbedContext {
        client_model: upstream_model.to_string(),
        base64: false,
        single,
        input_chars: inputs.iter().map(|s| s.chars().count() as u64).sum(),
    };
    Ok((out.to_string().into_bytes(), ctx))
}

/// OpenAI embeddings response (floats) → Gemini `{embedding}` or `{embeddings}`.
pub fn openai_to_gemini_response(ctx: &EmbedContext, body: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let v = parse(body)?;
    let list: Vec<Value> = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let values = d["embedding"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            json!({ "values": float32_values(values) })
        })
        .collect();
    let out = if ctx.single {
        json!({"embedding": list.first().cloned().unwrap_or(json!({"values": []}))})
    } else {
        json!({"embeddings": list})
    };
    Ok(out.to_string().into_bytes())
}

/// Makes an OpenAI-family embeddings answer match the client's `encoding_format`: relays that
/// ignore it return floats to a client that asked for base64 (openai-python #1490).
pub fn fix_openai_encoding(client_wants_base64: bool, body: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let mut changed = false;
    for item in v["data"].as_array_mut().into_iter().flatten() {
        if client_wants_base64 {
            if let Some(values) = item["embedding"].as_array() {
                item["embedding"] = json!(encode_floats(values));
                changed = true;
            }
        }
    }
    if changed {
        v.to_string().into_bytes()
    } else {
        body.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), expected);
        }
    }

    #[test]
    fn floats_are_little_endian_f32() {
        // 1.0f32 = 00 00 80 3f; -2.0f32 = 00 00 00 c0
        assert_eq!(
            encode_floats(&[json!(1.0), json!(-2.0)]),
            base64_encode(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0])
        );
        assert_eq!(encode_floats(&[json!(1.0)]), "AACAPw==");
    }

    #[test]
    fn openai_sdk_request_to_gemini_gets_base64_back() {
        let fixture =
            include_str!("../../../tests/fixtures/convert/embeddings_openai_to_gemini.json");
        let f: Value = serde_json::from_str(fixture).unwrap();
        let (body, ctx) =
            openai_to_gemini_request(f["request"].to_string().as_bytes(), "text-embedding-004")
                .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            f["upstream_request"]
        );
        assert_eq!(
            gemini_path("text-embedding-004"),
            "/v1beta/models/text-embedding-004:batchEmbedContents"
        );
        let out =
            gemini_to_openai_response(&ctx, f["upstream_response"].to_string().as_bytes()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            f["response"]
        );
    }

    #[test]
    fn float_clients_get_floats_and_gemini_clients_round_trip() {
        let (body, ctx) = openai_to_gemini_request(
            br#"{"model":"e","input":"ab","encoding_format":"float"}"#,
            "g",
        )
        .unwrap();
        assert!(!ctx.base64);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["requests"][0]["content"]["parts"][0]
                ["text"],
            "ab"
        );
        let out = gemini_to_openai_response(&ctx, br#"{"embedding":{"values":[0.5]}}"#).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"][0]["embedding"], json!([0.5]));
        assert_eq!(v["usage"]["prompt_tokens"], 1);

        let (body, ctx) = gemini_to_openai_request(
            br#"{"content":{"parts":[{"text":"hi"}]},"outputDimensionality":8}"#,
            "te3",
            true,
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"model":"te3","input":["hi"],"encoding_format":"float","dimensions":8})
        );
        let out = openai_to_gemini_response(&ctx, br#"{"data":[{"embedding":[0.25,1]}]}"#).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"embedding":{"values":[0.25,1.0]}})
        );
    }

    #[test]
    fn floats_keep_their_float32_value_through_the_json_parser() {
        // Math.fround(0.42545467…) as JavaScript prints it; serde_json's fast parser reads it one
        // f64 ulp off (…756), which a client comparing floats would see. The bytes are checked,
        // since parsing them again would hit the same rounding.
        let exact = "[0.42545467615127563,-0.021695440635085106]";
        let (_, ctx) = openai_to_gemini_request(br#"{"model":"e","input":"x"}"#, "g").unwrap();
        let upstream = format!(r#"{{"embeddings":[{{"values":{exact}}}]}}"#);
        let out = gemini_to_openai_response(&ctx, upstream.as_bytes()).unwrap();
        assert!(String::from_utf8(out).unwrap().contains(exact));
        let (_, ctx) =
            gemini_to_openai_request(br#"{"content":{"parts":[{"text":"x"}]}}"#, "o", true)
                .unwrap();
        let upstream = format!(r#"{{"data":[{{"embedding":{exact}}}]}}"#);
        let out = openai_to_gemini_response(&ctx, upstream.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(r#"{{"embedding":{{"values":{exact}}}}}"#)
        );
    }

    #[test]
    fn relay_floats_become_base64_when_asked() {
        let body = br#"{"data":[{"embedding":[1.0],"index":0}]}"#;
        let v: Value = serde_json::from_slice(&fix_openai_encoding(true, body)).unwrap();
        assert_eq!(v["data"][0]["embedding"], "AACAPw==");
        assert_eq!(fix_openai_encoding(false, body), body.to_vec());
    }
}
