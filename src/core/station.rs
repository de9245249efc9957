//! Stations: validation of the admin input that creates and edits stations and accounts.

use crate::core::error::GatewayError;
use crate::core::names::{validate_name, validate_optional_name};
use crate::core::panels::credential::{Credential, CredentialFields};
use crate::core::panels::generic::default_base_url;
use crate::core::panels::relay_paths::{parse_override, DialectRoute};
use crate::core::panels::PanelError;
use crate::core::platform::Platform;
use serde::Deserialize;

/// The credential fields of a station or account body, read according to the platform.
#[derive(Debug, Default, Deserialize)]
pub struct CredentialInput {
    pub access_token: Option<String>,
    pub user_id: Option<serde_json::Value>,
    /// An imported session cookie (`session=…` or the bare value).
    pub cookie: Option<String>,
    /// Username (Sub2API: email) for password logins.
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
}

impl CredentialInput {
    /// Whether any secret field is filled in (a `user_id` alone changes no credential).
    fn is_empty(&self) -> bool {
        [
            &self.access_token,
            &self.cookie,
            &self.username,
            &self.password,
            &self.api_key,
        ]
        .iter()
        .all(|f| f.as_ref().is_none_or(|v| v.trim().is_empty()))
    }

    /// The credential `platform` needs, or a 400 naming what is missing or malformed.
    fn credential(self, platform: Platform) -> Result<Credential, GatewayError> {
        let fields = CredentialFields {
            user_id: parse_user_id(self.user_id)?,
            access_token: self.access_token,
            cookie: self.cookie,
            username: self.username,
            password: self.password,
            api_key: self.api_key,
        };
        Credential::from_fields(platform, fields).map_err(|e| {
            GatewayError::InvalidRequest(match e {
                PanelError::Credential(m) => m,
                other => other.to_string(),
            })
        })
    }
}

/// `POST /api/provider/` body.
#[derive(Debug, Deserialize)]
pub struct NewStationInput {
    pub name: Option<String>,
    pub platform: Option<String>,
    /// Optional for official vendors (their preset base URL is used).
    pub base_url: Option<String>,
    #[serde(flatten)]
    pub credential: CredentialInput,
    pub weight: Option<i64>,
    pub priority: Option<i64>,
    pub checkin_enabled: Option<bool>,
    /// The dialects it serves, overriding the platform's ([`parse_override`]); null: defaults.
    #[serde(default)]
    pub dialects: Option<serde_json::Value>,
}

/// A validated new station with its first account's credential (still in clear: the caller seals it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewStation {
    pub name: String,
    pub platform: Platform,
    pub base_url: String,
    pub credential: Credential,
    /// The panel user id of token and cookie credentials ("" for other kinds).
    pub panel_user_id: String,
    pub weight: i64,
    pub priority: i64,
    pub checkin_enabled: bool,
    /// `None`: the platform's dialect table.
    pub dialects: Option<Vec<DialectRoute>>,
}

impl NewStationInput {
    pub fn validate(self) -> Result<NewStation, GatewayError> {
        let bad = |m: &str| GatewayError::InvalidRequest(m.to_string());
        let name = validate_name(self.name.as_deref().unwrap_or_default())?;
        let platform_name = self.platform.unwrap_or_default();
        let platform = Platform::parse(&platform_name).ok_or_else(|| {
            bad(&format!(
                "unknown platform `{platform_name}`; supported: {}",
                Platform::NAMES.join(", ")
            ))
        })?;
        let base_url = match self.base_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => normalize_base_url(&url)?,
            None => default_base_url(platform)
                .ok_or_else(|| bad("`base_url` is required"))?
                .to_string(),
        };
        let credential = self.credential.credential(platform)?;
        let weight = check_weight(self.weight.unwrap_or(10))?;
        let priority = check_priority(self.priority.unwrap_or(0))?;
        let dialects = match &self.dialects {
            Some(value) => parse_override(value)?,
            None => None,
        };
        Ok(NewStation {
            name,
            platform,
            base_url,
            panel_user_id: credential.user_id().to_string(),
            credential,
            weight,
            priority,
            checkin_enabled: self.checkin_enabled.unwrap_or(false),
            dialects,
        })
    }
}

/// The panel's numeric user id, as a number or a digit string.
fn parse_user_id(raw: Option<serde_json::Value>) -> Result<Option<String>, GatewayError> {
    match raw {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => Ok(Some(n.to_string())),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(s))
        }
        Some(_) => Err(GatewayError::InvalidRequest(
            "`user_id` must be the panel's numeric user id".into(),
        )),
    }
}

/// `POST/PUT /api/provider/:id/accounts[/:aid]` body: an account's credential and switches.
#[derive(Debug, Default, Deserialize)]
pub struct AccountInput {
    pub name: Option<String>,
    #[serde(flatten)]
    pub credential: CredentialInput,
    pub checkin_enabled: Option<bool>,
    pub enabled: Option<bool>,
}

/// A validated account change; `credential` is None when the input carries no credential field.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountChange {
    pub name: Option<String>,
    pub credential: Option<Credential>,
    pub checkin_enabled: Option<bool>,
    pub enabled: Option<bool>,
}

impl AccountInput {
    /// Checks the input against the station's platform; `require_credential` for new accounts.
    pub fn validate(
        self,
        platform: Platform,
        require_credential: bool,
    ) -> Result<AccountChange, GatewayError> {
        let name = self
            .name
            .as_deref()
            .map(validate_optional_name)
            .transpose()?;
        let credential = if require_credential || !self.credential.is_empty() {
            Some(self.credential.credential(platform)?)
        } else {
            None
        };
        Ok(AccountChange {
            name,
            credential,
            checkin_enabled: self.checkin_enabled,
            enabled: self.enabled,
        })
    }
}

/// A station's weight: 0–1000.
fn check_weight(weight: i64) -> Result<i64, GatewayError> {
    if !(0..=1000).contains(&weight) {
        return Err(GatewayError::InvalidRequest(
            "`weight` must be between 0 and 1000".into(),
        ));
    }
    Ok(weight)
}

/// A station's priority: -1000–1000.
fn check_priority(priority: i64) -> Result<i64, GatewayError> {
    if !(-1000..=1000).contains(&priority) {
        return Err(GatewayError::InvalidRequest(
            "`priority` must be between -1000 and 1000".into(),
        ));
    }
    Ok(priority)
}

/// The settings of a station an admin edits.
#[derive(Debug, Clone, PartialEq)]
pub struct StationSettings {
    pub name: String,
    pub base_url: String,
    pub weight: i64,
    pub priority: i64,
    pub enabled: bool,
    pub checkin_enabled: bool,
    /// `None`: the platform's dialect table.
    pub dialects: Option<Vec<DialectRoute>>,
}

/// `PUT /api/provider/[:id]` body: the fields to change; absent ones stay as they are.
#[derive(Debug, Default, Deserialize)]
pub struct StationUpdate {
    /// The station, when the path does not name it.
    pub id: Option<i64>,
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub weight: Option<i64>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    pub checkin_enabled: Option<bool>,
    /// Absent: unchanged; `null`: back to the platform's defaults; a list: the override.
    #[serde(default, deserialize_with = "present")]
    pub dialects: Option<serde_json::Value>,
}

/// Keeps a field's presence: `Some(Value::Null)` for an explicit `null`, `None` when absent.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

impl StationUpdate {
    /// The station's settings after this change, under the rules a new station follows.
    pub fn apply(self, current: StationSettings) -> Result<StationSettings, GatewayError> {
        let name = match self.name {
            Some(name) => validate_name(&name)?,
            None => validate_name(&current.name)?,
        };
        let base_url = match self.base_url {
            Some(url) => normalize_base_url(&url)?,
            None => current.base_url,
        };
        let weight = check_weight(self.weight.unwrap_or(current.weight))?;
        let priority = check_priority(self.priority.unwrap_or(current.priority))?;
        let dialects = match &self.dialects {
            Some(value) => parse_override(value)?,
            None => current.dialects,
        };
        Ok(StationSettings {
            name,
            base_url,
            weight,
            priority,
            enabled: self.enabled.unwrap_or(current.enabled),
            checkin_enabled: self.checkin_enabled.unwrap_or(current.checkin_enabled),
            dialects,
        })
    }
}

/// Accepts `http(s)://host[:port][/path]`, drops trailing slashes; rejects query, fragment, credentials.
pub fn normalize_base_url(raw: &str) -> Result<String, GatewayError> {
    let bad = || {
        GatewayError::InvalidRequest(format!(
            "`base_url` must be an http(s) URL without query or credentials, got `{raw}`"
        ))
    };
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or_default();
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        && !host.starts_with(':');
    if !valid_host || url.contains(['?', '#', ' ', '@']) {
        return Err(bad());
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: serde_json::Value) -> Result<NewStation, GatewayError> {
        serde_json::from_value::<NewStationInput>(v)
            .unwrap()
            .validate()
    }

    #[test]
    fn accepts_a_complete_new_api_station() {
        let s = input(
            json!({"name":" Relay A ","platform":"new-api","base_url":"http://127.0.0.1:9000/",
            "access_token":"tok","user_id":42,"weight":5,"priority":2,"checkin_enabled":true}),
        )
        .unwrap();
        assert_eq!(s.name, "Relay A");
        assert_eq!(s.base_url, "http://127.0.0.1:9000");
        assert_eq!(s.panel_user_id, "42");
        assert_eq!((s.weight, s.priority, s.checkin_enabled), (5, 2, true));
        let s = input(json!({"name":"b","platform":"new-api","base_url":"https://x.example/sub","access_token":"t","user_id":"7"})).unwrap();
        assert_eq!(
            (s.base_url.as_str(), s.weight, s.priority),
            ("https://x.example/sub", 10, 0)
        );
    }

    #[test]
    fn credentials_and_base_urls_follow_the_platform() {
        let s = input(
            json!({"name":"ar","platform":"anyrouter","base_url":"https://anyrouter.top",
            "cookie":"abc","user_id":"12345"}),
        )
        .unwrap();
        assert_eq!(
            s.credential,
            Credential::Cookie {
                cookie: "session=abc".into(),
                user_id: "12345".into()
            }
        );
        assert_eq!(s.panel_user_id, "12345");
        assert_eq!(
            serde_json::to_string(&s.credential).unwrap(),
            r#"{"kind":"cookie","cookie":"session=abc","user_id":"12345"}"#,
            "the JSON the shell seals"
        );
        let s = input(json!({"name":"ds","platform":"deepseek","api_key":"sk-d"})).unwrap();
        assert_eq!(s.base_url, "https://api.deepseek.com");
        assert_eq!(s.credential, Credential::ApiKey { key: "sk-d".into() });
        let err =
            input(json!({"name":"g","platform":"openai-compatible","api_key":"k"})).unwrap_err();
        assert!(err.message().contains("base_url"), "{}", err.message());
        let err =
            input(json!({"name":"s","platform":"sub2api","base_url":"http://s","cookie":"x"}))
                .unwrap_err();
        assert!(
            err.message()
                .contains("missing credential for platform `sub2api`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn accounts_take_the_credential_their_platform_needs() {
        let account = |v: serde_json::Value| serde_json::from_value::<AccountInput>(v).unwrap();
        let change = account(json!({"name":"a2","username":"u@x","password":"p"}))
            .validate(Platform::Sub2Api, true)
            .unwrap();
        assert_eq!(
            change.credential,
            Some(Credential::Password {
                username: "u@x".into(),
                password: "p".into()
            })
        );
        let err = account(json!({"name":"a"}))
            .validate(Platform::NewApi, true)
            .unwrap_err();
        assert!(
            err.message().contains("missing credential"),
            "{}",
            err.message()
        );
        let keep = account(json!({"checkin_enabled":true}))
            .validate(Platform::NewApi, false)
            .unwrap();
        assert_eq!((keep.credential, keep.checkin_enabled), (None, Some(true)));
        let err = account(json!({"cookie":"s","user_id":"x"}))
            .validate(Platform::AnyRouter, false)
            .unwrap_err();
        assert!(err.message().contains("user_id"));
    }

    #[test]
    fn platform_names_round_trip_through_serde() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
        }
        assert_eq!(Platform::parse("one-hub"), None);
    }

    #[test]
    fn rejects_bad_input_with_a_clear_message() {
        let cases = [
            (
                json!({"platform":"new-api","base_url":"http://a","access_token":"t","user_id":1}),
                "name",
            ),
            (
                json!({"name":"a","platform":"foo","base_url":"http://a","access_token":"t","user_id":1}),
                "unknown platform `foo`",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"ftp://a","access_token":"t","user_id":1}),
                "base_url",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"http://a?x=1","access_token":"t","user_id":1}),
                "base_url",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"http://u:p@a","access_token":"t","user_id":1}),
                "base_url",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"http://a","user_id":1}),
                "access_token",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"http://a","access_token":"t","user_id":"x1"}),
                "user_id",
            ),
            (
                json!({"name":"a","platform":"new-api","base_url":"http://a","access_token":"t","user_id":1,"weight":-1}),
                "weight",
            ),
        ];
        for (body, needle) in cases {
            let err = input(body.clone()).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains(needle), "{body}: {}", err.message());
        }
    }

    #[test]
    fn updates_keep_absent_fields_and_follow_the_new_station_rules() {
        let current = StationSettings {
            name: "Relay".into(),
            base_url: "http://a".into(),
            weight: 10,
            priority: 0,
            enabled: true,
            checkin_enabled: false,
            dialects: None,
        };
        let update = |v: serde_json::Value| serde_json::from_value::<StationUpdate>(v).unwrap();
        assert_eq!(update(json!({})).apply(current.clone()).unwrap(), current);
        let changed = update(
            json!({"name":" B ","base_url":"https://b/","weight":0,"priority":-1000,
            "enabled":false,"checkin_enabled":true}),
        )
        .apply(current.clone())
        .unwrap();
        assert_eq!(
            (
                changed.name.as_str(),
                changed.base_url.as_str(),
                changed.weight,
                changed.priority
            ),
            ("B", "https://b", 0, -1000)
        );
        assert_eq!((changed.enabled, changed.checkin_enabled), (false, true));
        let cases = [
            (json!({"name": "  "}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"base_url": "ftp://x"}), "base_url"),
            (json!({"weight": 1001}), "weight"),
            (json!({"priority": 1001}), "priority"),
        ];
        for (body, needle) in cases {
            let err = update(body.clone()).apply(current.clone()).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains(needle), "{body}: {}", err.message());
        }
        let present = update(json!({"dialects": null}));
        assert_eq!(present.dialects, Some(serde_json::Value::Null));
        assert_eq!(update(json!({})).dialects, None);
    }
}
