//! Gateway keys (`ag-…`): generation, and the checks made on every relayed call.

use crate::core::crypto::{random_token, secret_hint, sha256_hex, CryptoError};
use crate::core::error::GatewayError;
use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;

pub const KEY_PREFIX: &str = "ag-";
const KEY_RANDOM_LEN: usize = 48;

/// A freshly minted key: `full` is shown once, only `hash` and `hint` are stored.
pub struct MintedKey {
    pub full: String,
    pub hash: String,
    pub hint: String,
}

pub fn mint_key() -> Result<MintedKey, CryptoError> {
    let full = random_token(KEY_PREFIX, KEY_RANDOM_LEN)?;
    Ok(MintedKey {
        hash: hash_key(&full),
        hint: secret_hint(&full, 7),
        full,
    })
}

/// How a presented key is looked up (and how it is stored).
pub fn hash_key(presented: &str) -> String {
    sha256_hex(presented.as_bytes())
}

/// What one key has used, as this isolate knows it: the stored counts of its last lookup plus
/// this isolate's calls since — each admitted call at once, its cost once its log entry is final
/// — and, across lookups, this isolate's calls the batched usage log has not stored yet (a fresh
/// lookup would not see them). One per key and isolate, shared by every cached record of the key.
/// `Cell`s suffice: an isolate runs one task at a time, so a check and its count never interleave.
#[derive(Debug, Default)]
pub struct KeyUsage {
    requests: Cell<i64>,
    cost_usd: Cell<f64>,
    unstored_requests: Cell<i64>,
    unstored_cost_usd: Cell<f64>,
}

impl KeyUsage {
    /// Takes the counts a lookup just read; this isolate's unstored calls come on top.
    pub fn refresh(&self, stored_requests: i64, stored_cost_usd: f64) {
        self.requests
            .set(stored_requests + self.unstored_requests.get());
        self.cost_usd
            .set(stored_cost_usd + self.unstored_cost_usd.get());
    }

    /// Counts an admitted call (its log entry comes later).
    pub fn count_request(&self) {
        self.requests.set(self.requests.get() + 1);
        self.unstored_requests.set(self.unstored_requests.get() + 1);
    }

    /// Adds the cost of a call whose log entry is final.
    pub fn count_cost(&self, cost_usd: f64) {
        self.cost_usd.set(self.cost_usd.get() + cost_usd);
        self.unstored_cost_usd
            .set(self.unstored_cost_usd.get() + cost_usd);
    }

    /// The usage log stored these calls: the next lookup reads them from the database.
    pub fn stored(&self, requests: i64, cost_usd: f64) {
        let left = (self.unstored_requests.get() - requests).max(0);
        self.unstored_requests.set(left);
        // Costs ride with their calls: none left unstored means no cost either (no float dust).
        self.unstored_cost_usd.set(if left == 0 {
            0.0
        } else {
            (self.unstored_cost_usd.get() - cost_usd).max(0.0)
        });
    }

    /// Nothing of this isolate is waiting to be stored (the entry may be dropped).
    pub fn is_settled(&self) -> bool {
        self.unstored_requests.get() == 0
    }

    pub fn requests(&self) -> i64 {
        self.requests.get()
    }

    pub fn cost_usd(&self) -> f64 {
        self.cost_usd.get()
    }
}

/// What the relay needs to know about a key, cached in the isolate.
#[derive(Debug, Clone)]
pub struct GatewayKeyRecord {
    pub id: i64,
    pub organization_id: i64,
    pub user_id: Option<i64>,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub allowed_models: Vec<String>,
    pub allowed_ips: Vec<String>,
    /// Optional lifetime limits, checked against `usage`: exact within an isolate; across
    /// isolates another isolate's calls are seen at its next lookup (the key cache's TTL).
    pub request_limit: Option<i64>,
    pub cost_limit_usd: Option<f64>,
    pub usage: Rc<KeyUsage>,
}

impl GatewayKeyRecord {
    /// A key without owner, limits or allow-lists (the instance-wide `PROXY_TOKEN`).
    pub fn unrestricted(organization_id: i64) -> Self {
        Self {
            id: 0,
            organization_id,
            user_id: None,
            enabled: true,
            expires_at: None,
            allowed_models: vec![],
            allowed_ips: vec![],
            request_limit: None,
            cost_limit_usd: None,
            usage: Rc::default(),
        }
    }

    /// Admits one call: refused if a limit is used up, else counted at once — check and count
    /// in one synchronous step, so concurrent calls of an isolate cannot overshoot the limit.
    pub fn admit(&self) -> Result<(), GatewayError> {
        self.check_limits()?;
        self.usage.count_request();
        Ok(())
    }

    /// Refuses a key that used up its request or cost limit (429, like OpenAI's
    /// `insufficient_quota`: clients do not retry it forever because no Retry-After is sent).
    pub fn check_limits(&self) -> Result<(), GatewayError> {
        if let Some(limit) = self.request_limit.filter(|l| self.usage.requests() >= *l) {
            return Err(GatewayError::RateLimited {
                message: format!("This API key has used its request limit ({limit} requests)"),
                retry_after_s: None,
            });
        }
        if let Some(limit) = self.cost_limit_usd.filter(|l| self.usage.cost_usd() >= *l) {
            return Err(GatewayError::RateLimited {
                message: format!("This API key has used its cost limit (${limit:.2})"),
                retry_after_s: None,
            });
        }
        Ok(())
    }

    /// Refuses a disabled or expired key (401: the key is not usable at all).
    pub fn check_usable(&self, now_ms: i64) -> Result<(), GatewayError> {
        if !self.enabled {
            return Err(GatewayError::Unauthorized(
                "This API key has been disabled".into(),
            ));
        }
        if self.expires_at.is_some_and(|t| t <= now_ms) {
            return Err(GatewayError::Unauthorized(
                "This API key has expired".into(),
            ));
        }
        Ok(())
    }

    /// Refuses a client address outside the key's allow-list (403).
    pub fn check_ip(&self, client_ip: Option<&str>) -> Result<(), GatewayError> {
        if self.allowed_ips.is_empty() {
            return Ok(());
        }
        let ip = client_ip.and_then(|s| s.trim().parse::<IpAddr>().ok());
        match ip {
            Some(ip) if self.allowed_ips.iter().any(|cidr| cidr_contains(cidr, ip)) => Ok(()),
            _ => Err(GatewayError::Forbidden(
                "Your IP address is not allowed to use this API key".into(),
            )),
        }
    }

    /// Refuses a model outside the key's allow-list (403).
    pub fn check_model(&self, model: &str) -> Result<(), GatewayError> {
        if self.allowed_models.is_empty()
            || self.allowed_models.iter().any(|p| wildcard_match(p, model))
        {
            Ok(())
        } else {
            Err(GatewayError::Forbidden(format!(
                "This API key is not allowed to use the model `{model}`"
            )))
        }
    }
}

/// The settings that bound what a key may do. A member may only tighten them on their own keys
/// (and starts from the organization's defaults); admins and owners may also loosen them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyBounds {
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Empty: every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Empty: every client address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub request_limit: Option<i64>,
    #[serde(default)]
    pub cost_limit_usd: Option<f64>,
}

fn enabled_default() -> bool {
    true
}

/// A requested change of [`KeyBounds`]; `None` leaves the field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundsChange {
    pub enabled: Option<bool>,
    pub expires_at: Option<i64>,
    pub models: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub request_limit: Option<i64>,
    pub cost_limit_usd: Option<f64>,
}

impl KeyBounds {
    /// Enabled, with no expiry, allow-list or limit.
    pub fn unbounded() -> Self {
        KeyBounds {
            enabled: true,
            ..KeyBounds::default()
        }
    }

    /// The bounds after `change`.
    pub fn apply(&self, change: &BoundsChange) -> KeyBounds {
        KeyBounds {
            enabled: change.enabled.unwrap_or(self.enabled),
            expires_at: change.expires_at.or(self.expires_at),
            models: change.models.clone().unwrap_or_else(|| self.models.clone()),
            allowed_ips: change
                .allowed_ips
                .clone()
                .unwrap_or_else(|| self.allowed_ips.clone()),
            request_limit: change.request_limit.or(self.request_limit),
            cost_limit_usd: change.cost_limit_usd.or(self.cost_limit_usd),
        }
    }

    /// `Ok` when `change` only tightens these bounds (what a member may do to their own key),
    /// else a 403 naming the first field it would loosen.
    pub fn check_tightening(&self, change: &BoundsChange) -> Result<(), GatewayError> {
        let loosened = if change.enabled == Some(true) && !self.enabled {
            Some("enabled")
        } else if change
            .expires_at
            .is_some_and(|t| self.expires_at.is_some_and(|now| t > now))
        {
            Some("expires_at")
        } else if change
            .models
            .as_ref()
            .is_some_and(|m| !narrows(&self.models, m, model_covered))
        {
            Some("models")
        } else if change.allowed_ips.as_ref().is_some_and(|ips| {
            !narrows(&self.allowed_ips, ips, |have, c| {
                have.iter().any(|outer| cidr_within(c, outer))
            })
        }) {
            Some("allowed_ips")
        } else if change
            .request_limit
            .is_some_and(|l| self.request_limit.is_some_and(|now| l > now))
        {
            Some("request_limit")
        } else if change
            .cost_limit_usd
            .is_some_and(|l| self.cost_limit_usd.is_some_and(|now| l > now))
        {
            Some("cost_limit_usd")
        } else {
            None
        };
        match loosened {
            None => Ok(()),
            Some(field) => Err(GatewayError::Forbidden(format!(
                "a member may only tighten a key: `{field}` would loosen it (admins and owners set it)"
            ))),
        }
    }
}

/// Whether the allow-list `new` allows no more than `have` (empty: everything), each entry
/// of `new` being covered by `have` according to `covered`.
fn narrows(have: &[String], new: &[String], covered: impl Fn(&[String], &String) -> bool) -> bool {
    if have.is_empty() {
        return true;
    }
    !new.is_empty() && new.iter().all(|entry| covered(have, entry))
}

/// Whether an allowed-model entry is covered by the list: listed as is, or (without a `*`) a
/// model one of the list's patterns matches.
fn model_covered(have: &[String], entry: &String) -> bool {
    have.iter()
        .any(|h| h == entry || (!entry.contains('*') && wildcard_match(h, entry)))
}

/// Whether every address of `inner` (an address or CIDR) lies in `outer`.
fn cidr_within(inner: &str, outer: &str) -> bool {
    let (addr, bits) = match inner.trim().split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (inner.trim(), None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let inner_bits = bits.unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
    let outer_bits = outer
        .trim()
        .split_once('/')
        .and_then(|(_, b)| b.parse::<u32>().ok())
        .unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
    inner_bits >= outer_bits && cidr_contains(outer, ip)
}

/// `*` matches any run of characters; everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `ip` lies in `cidr` (`a.b.c.d/n`, `v6::/n`, or a bare address).
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match cidr.trim().split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    match (addr.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(net)), IpAddr::V4(ip)) => prefix_eq(
            u128::from(u32::from(net)),
            u128::from(u32::from(ip)),
            bits.unwrap_or(32),
            32,
        ),
        (Ok(IpAddr::V6(net)), IpAddr::V6(ip)) => {
            prefix_eq(u128::from(net), u128::from(ip), bits.unwrap_or(128), 128)
        }
        _ => false,
    }
}

fn prefix_eq(net: u128, ip: u128, bits: u32, width: u32) -> bool {
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= width || (net >> shift) == (ip >> shift)
}

/// Fields a gateway key is created or edited with (`/api/agg-token`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    pub name: Option<String>,
    pub expires_at: Option<i64>,
    pub models: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub request_limit: Option<i64>,
    pub cost_limit_usd: Option<f64>,
    /// Edit only.
    pub enabled: Option<bool>,
}

impl KeyInput {
    /// The bounds this input would set.
    pub fn change(&self) -> BoundsChange {
        BoundsChange {
            enabled: self.enabled,
            expires_at: self.expires_at,
            models: self.models.clone(),
            allowed_ips: self.allowed_ips.clone(),
            request_limit: self.request_limit,
            cost_limit_usd: self.cost_limit_usd,
        }
    }

    /// A 400 naming the first bad field: an expiry not in the future, an empty model pattern,
    /// an entry that is not an IP address or CIDR, a negative limit.
    pub fn validate(&self, now_ms: i64) -> Result<(), GatewayError> {
        let bad = |m: String| Err(GatewayError::InvalidRequest(m));
        if self.expires_at.is_some_and(|t| t <= now_ms) {
            return bad("`expires_at` must be in the future (Unix ms)".into());
        }
        if let Some(m) = self.models.iter().flatten().find(|m| m.trim().is_empty()) {
            return bad(format!("`models` contains an empty entry {m:?}"));
        }
        if let Some(ip) = self.allowed_ips.iter().flatten().find(|c| !valid_cidr(c)) {
            return bad(format!(
                "`allowed_ips` entry `{ip}` is not an IP address or CIDR"
            ));
        }
        if self.request_limit.is_some_and(|l| l < 0) || self.cost_limit_usd.is_some_and(|l| l < 0.0)
        {
            return bad("limits must not be negative".into());
        }
        Ok(())
    }
}

/// Whether `cidr` is an IP address or a network (`a.b.c.d/n`, `v6::/n`) with a prefix that
/// fits its address family.
pub fn valid_cidr(cidr: &str) -> bool {
    let (addr, bits) = cidr
        .trim()
        .split_once('/')
        .map_or((cidr.trim(), None), |(a, b)| (a, Some(b)));
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let width = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= width)) && cidr_contains(cidr, ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> GatewayKeyRecord {
        GatewayKeyRecord {
            id: 1,
            ..GatewayKeyRecord::unrestricted(1)
        }
    }

    #[test]
    fn limits_refuse_at_the_boundary_not_before() {
        let mut r = record();
        assert!(r.check_limits().is_ok(), "no limits");
        r.request_limit = Some(3);
        r.usage.refresh(2, 0.0);
        assert!(r.check_limits().is_ok());
        r.usage.refresh(3, 0.0);
        let e = r.check_limits().unwrap_err();
        assert_eq!((e.status(), e.retry_after_s()), (429, None));
        assert!(e.message().contains("request limit (3"));
        r.request_limit = None;
        r.cost_limit_usd = Some(1.5);
        r.usage.refresh(3, 1.49);
        assert!(r.check_limits().is_ok());
        r.usage.refresh(3, 1.5);
        assert!(r.check_limits().unwrap_err().message().contains("$1.50"));
    }

    #[test]
    fn admissions_count_at_once_and_stop_exactly_at_the_request_limit() {
        let mut r = record();
        r.request_limit = Some(5);
        r.usage.refresh(2, 0.0);
        // Another record of the same key (e.g. held by a call in flight) shares the count.
        let twin = r.clone();
        let admitted = (0..10).filter(|_| twin.admit().is_ok()).count();
        assert_eq!(admitted, 3);
        assert_eq!(r.usage.requests(), 5, "refusals are not counted");
        assert_eq!(r.admit().unwrap_err().status(), 429);
    }

    #[test]
    fn costs_count_when_final_and_the_call_after_the_overshoot_is_refused() {
        let mut r = record();
        r.cost_limit_usd = Some(1.0);
        r.admit().unwrap();
        // The cost of a call is unknown until it ran: a call still running is not held back…
        r.admit().unwrap();
        r.usage.count_cost(0.7);
        r.usage.count_cost(0.7);
        // …but once the spend is over the limit the next call is refused.
        assert!(r
            .admit()
            .unwrap_err()
            .message()
            .contains("cost limit ($1.00)"));
    }

    #[test]
    fn unstored_calls_survive_a_lookup_and_leave_once_stored() {
        let u = KeyUsage::default();
        u.refresh(10, 1.0);
        u.count_request();
        u.count_request();
        u.count_cost(0.25);
        // A lookup before the usage log stored them: the database still says 10.
        u.refresh(10, 1.0);
        assert_eq!((u.requests(), u.cost_usd()), (12, 1.25));
        assert!(!u.is_settled());
        u.stored(2, 0.25);
        assert!(u.is_settled());
        // Until the next lookup the count stands; the lookup then reads the stored calls.
        assert_eq!(u.requests(), 12);
        u.refresh(12, 1.25);
        assert_eq!((u.requests(), u.cost_usd()), (12, 1.25));
        // Calls of other isolates arrive with the lookup.
        u.refresh(15, 2.0);
        assert_eq!((u.requests(), u.cost_usd()), (15, 2.0));
    }

    #[test]
    fn minted_keys_hash_to_their_stored_hash() {
        let k = mint_key().unwrap();
        assert!(k.full.starts_with("ag-") && k.full.len() == 51);
        assert_eq!(hash_key(&k.full), k.hash);
        assert!(!k.hint.contains(&k.full[7..47]));
    }

    #[test]
    fn disabled_and_expired_keys_are_unauthorized() {
        let mut r = record();
        assert!(r.check_usable(10).is_ok());
        r.expires_at = Some(10);
        assert_eq!(r.check_usable(10).unwrap_err().status(), 401);
        r.expires_at = None;
        r.enabled = false;
        assert_eq!(r.check_usable(10).unwrap_err().status(), 401);
    }

    #[test]
    fn model_allow_list_supports_wildcards() {
        let mut r = record();
        r.allowed_models = vec!["gpt-4o*".into(), "claude-*-4-5".into(), "exact".into()];
        for ok in ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "exact"] {
            assert!(r.check_model(ok).is_ok(), "{ok}");
        }
        for no in ["gpt-4", "claude-sonnet-4-6", "exactly", "xgpt-4o"] {
            assert_eq!(r.check_model(no).unwrap_err().status(), 403, "{no}");
        }
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }

    #[test]
    fn members_may_tighten_but_never_loosen_or_re_enable() {
        let bounds = KeyBounds {
            enabled: true,
            expires_at: Some(1_000),
            models: vec!["gpt-4o*".into()],
            allowed_ips: vec!["10.0.0.0/8".into()],
            request_limit: Some(100),
            cost_limit_usd: Some(5.0),
        };
        let tighter = [
            BoundsChange {
                enabled: Some(false),
                ..Default::default()
            },
            BoundsChange {
                expires_at: Some(900),
                ..Default::default()
            },
            BoundsChange {
                models: Some(vec!["gpt-4o*".into()]),
                ..Default::default()
            },
            BoundsChange {
                models: Some(vec!["gpt-4o-mini".into()]),
                ..Default::default()
            },
            BoundsChange {
                allowed_ips: Some(vec!["10.1.0.0/16".into(), "10.2.3.4".into()]),
                ..Default::default()
            },
            BoundsChange {
                request_limit: Some(10),
                cost_limit_usd: Some(1.0),
                ..Default::default()
            },
            BoundsChange::default(),
        ];
        for change in &tighter {
            assert!(bounds.check_tightening(change).is_ok(), "{change:?}");
        }
        let looser = [
            (
                "expires_at",
                BoundsChange {
                    expires_at: Some(2_000),
                    ..Default::default()
                },
            ),
            (
                "models",
                BoundsChange {
                    models: Some(vec![]),
                    ..Default::default()
                },
            ),
            (
                "models",
                BoundsChange {
                    models: Some(vec!["claude-*".into()]),
                    ..Default::default()
                },
            ),
            (
                "models",
                BoundsChange {
                    models: Some(vec!["gpt-*".into()]),
                    ..Default::default()
                },
            ),
            (
                "allowed_ips",
                BoundsChange {
                    allowed_ips: Some(vec!["0.0.0.0/0".into()]),
                    ..Default::default()
                },
            ),
            (
                "allowed_ips",
                BoundsChange {
                    allowed_ips: Some(vec![]),
                    ..Default::default()
                },
            ),
            (
                "request_limit",
                BoundsChange {
                    request_limit: Some(101),
                    ..Default::default()
                },
            ),
            (
                "cost_limit_usd",
                BoundsChange {
                    cost_limit_usd: Some(5.5),
                    ..Default::default()
                },
            ),
        ];
        for (field, change) in &looser {
            let err = bounds.check_tightening(change).unwrap_err();
            assert_eq!(err.status(), 403);
            assert!(err.message().contains(field), "{field}: {}", err.message());
        }
        let disabled = KeyBounds {
            enabled: false,
            ..bounds.clone()
        };
        let enable = BoundsChange {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(disabled
            .check_tightening(&enable)
            .unwrap_err()
            .message()
            .contains("enabled"));
        // An unbounded key may get any bound; the result of a change is what `apply` says.
        let open = KeyBounds {
            enabled: true,
            ..Default::default()
        };
        assert!(open.check_tightening(&looser[1].1).is_ok());
        assert_eq!(open.apply(&tighter[5]).request_limit, Some(10));
    }

    #[test]
    fn ip_allow_list_matches_cidrs() {
        let mut r = record();
        r.allowed_ips = vec![
            "10.0.0.0/8".into(),
            "192.168.1.7".into(),
            "2001:db8::/32".into(),
        ];
        for ok in ["10.1.2.3", "192.168.1.7", "2001:db8::1"] {
            assert!(r.check_ip(Some(ok)).is_ok(), "{ok}");
        }
        for no in ["11.0.0.1", "192.168.1.8", "2001:db9::1", "garbage"] {
            assert_eq!(r.check_ip(Some(no)).unwrap_err().status(), 403, "{no}");
        }
        assert!(r.check_ip(None).is_err());
        assert!(cidr_contains("0.0.0.0/0", "8.8.8.8".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/33", "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn key_input_names_the_first_bad_field() {
        let input = |v: serde_json::Value| serde_json::from_value::<KeyInput>(v).unwrap();
        let now = 1_000;
        assert!(input(serde_json::json!({"name":"k","expires_at":2_000,"models":["gpt-*"],
            "allowed_ips":["10.0.0.0/8","::1","2001:db8::/32"],"request_limit":0,"cost_limit_usd":0.5}))
        .validate(now)
        .is_ok());
        let cases = [
            (serde_json::json!({"expires_at": 1_000}), "expires_at"),
            (serde_json::json!({"models": ["a", " "]}), "models"),
            (
                serde_json::json!({"allowed_ips": ["10.0.0.0/33"]}),
                "10.0.0.0/33",
            ),
            (
                serde_json::json!({"allowed_ips": ["example.com"]}),
                "example.com",
            ),
            (serde_json::json!({"request_limit": -1}), "negative"),
            (serde_json::json!({"cost_limit_usd": -0.1}), "negative"),
        ];
        for (body, needle) in cases {
            let err = input(body.clone()).validate(now).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains(needle), "{body}: {}", err.message());
        }
        assert!(serde_json::from_value::<KeyInput>(serde_json::json!({"user_id": 3})).is_err());
    }

    #[test]
    fn cidrs_are_checked_against_their_address_family() {
        for ok in [
            "1.2.3.4",
            "1.2.3.0/24",
            "0.0.0.0/0",
            "::1",
            "fe80::/10",
            " 10.0.0.1/32 ",
        ] {
            assert!(valid_cidr(ok), "{ok}");
        }
        for bad in [
            "1.2.3.4/33",
            "::1/129",
            "1.2.3/24",
            "1.2.3.4/x",
            "",
            "host/8",
        ] {
            assert!(!valid_cidr(bad), "{bad}");
        }
    }
}
