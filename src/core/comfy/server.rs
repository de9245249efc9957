//! A ComfyUI server as an admin registers it: a name, the base URL (ComfyUI itself, a tunnel
//! in front of it, or Comfy Cloud's `https://cloud.comfy.org`), and an optional secret header
//! (ComfyUI has no auth of its own; Comfy Cloud takes `X-API-Key`).

use crate::core::error::GatewayError;
use crate::core::station::normalize_base_url;
use serde::Deserialize;

/// What `POST /api/assistant/servers` takes.
#[derive(Debug, Deserialize)]
pub struct ServerInput {
    pub name: Option<String>,
    pub base_url: String,
    pub auth_header: Option<String>,
    pub auth_value: Option<String>,
}

/// A validated server; `auth` is `(header name, secret value)`.
#[derive(Debug, PartialEq)]
pub struct NewServer {
    pub name: String,
    pub base_url: String,
    pub auth: Option<(String, String)>,
}

impl ServerInput {
    pub fn validate(self) -> Result<NewServer, GatewayError> {
        let base_url = normalize_base_url(&self.base_url)?;
        let name = match self.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.chars().take(100).collect(),
            _ => base_url.clone(),
        };
        let header = self
            .auth_header
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        let value = self.auth_value.filter(|v| !v.is_empty());
        let auth = match (header, value) {
            (None, None) => None,
            (Some(h), Some(v)) if is_header_name(&h) && !v.contains(['\r', '\n']) => Some((h, v)),
            (Some(h), Some(_)) if !is_header_name(&h) => {
                return Err(GatewayError::InvalidRequest(format!(
                    "`auth_header` `{h}` is not a valid header name"
                )))
            }
            _ => {
                return Err(GatewayError::InvalidRequest(
                    "`auth_header` and `auth_value` go together (a single-line value)".into(),
                ))
            }
        };
        Ok(NewServer {
            name,
            base_url,
            auth,
        })
    }
}

/// RFC 9110 token characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(base_url: &str, header: Option<&str>, value: Option<&str>) -> ServerInput {
        ServerInput {
            name: None,
            base_url: base_url.into(),
            auth_header: header.map(String::from),
            auth_value: value.map(String::from),
        }
    }

    #[test]
    fn a_server_needs_an_http_url_and_a_whole_auth_pair() {
        let cloud = input("https://cloud.comfy.org/", Some("X-API-Key"), Some("k-1"))
            .validate()
            .unwrap();
        assert_eq!(cloud.base_url, "https://cloud.comfy.org");
        assert_eq!(cloud.name, "https://cloud.comfy.org");
        assert_eq!(cloud.auth, Some(("X-API-Key".into(), "k-1".into())));
        assert_eq!(
            input("http://127.0.0.1:8188", None, None)
                .validate()
                .unwrap()
                .auth,
            None
        );
        assert!(input("ftp://x", None, None).validate().is_err());
        assert!(input("http://x", Some("X-Key"), None).validate().is_err());
        assert!(input("http://x", Some("Bad Header"), Some("v"))
            .validate()
            .is_err());
        assert!(input("http://x", Some("X-Key"), Some("a\r\nb"))
            .validate()
            .is_err());
    }
}
