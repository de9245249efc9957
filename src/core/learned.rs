//! Dialect support learned per station: what a station turned out not to serve (a call in a
//! dialect it was assumed to serve answered "no such route"), and the view of one channel's
//! dialects with those facts applied. Facts are re-checked when they expire; a station's
//! explicit `dialects` list always wins over them.

use crate::core::dialect::Dialect;
use crate::core::panels::relay_paths::{dialects, standard_root, Served};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long a learned fact holds before the native route is tried again (a day).
pub const RECHECK_MS: i64 = 24 * 3600 * 1000;

/// A capability a station may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// The dialect's conversational route (`/v1/messages`, `/v1/responses`, Gemini
    /// `:generateContent`…).
    Dialect(Dialect),
    /// Its token-count route (`/v1/messages/count_tokens`, Gemini `:countTokens`), which older
    /// stations lack while serving the dialect itself.
    TokenCount(Dialect),
}

impl Feature {
    /// The stored name: the dialect's, with `:count_tokens` for token counts.
    pub fn name(self) -> String {
        match self {
            Feature::Dialect(d) => d.as_str().to_string(),
            Feature::TokenCount(d) => format!("{}:count_tokens", d.as_str()),
        }
    }

    pub fn parse(name: &str) -> Option<Feature> {
        match name.strip_suffix(":count_tokens") {
            Some(d) => Dialect::parse(d).map(Feature::TokenCount),
            None => Dialect::parse(name).map(Feature::Dialect),
        }
    }
}

impl Serialize for Feature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Feature::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown feature `{name}`")))
    }
}

/// A learned fact: the station lacks `feature` until `until_ms`, when it is re-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub feature: Feature,
    pub until_ms: i64,
}

/// Reads gaps from a D1 row (a JSON text array, `[]` for none) or from JSON (a list).
/// Entries that do not parse are skipped: a fact only makes calls cheaper.
pub fn deserialize_gaps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Gap>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Rows(Vec<serde_json::Value>),
        Text(String),
    }
    let rows = match Option::<Stored>::deserialize(deserializer)? {
        Some(Stored::Rows(rows)) => rows,
        Some(Stored::Text(text)) => serde_json::from_str(&text).unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(rows
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

/// One channel's dialects at one moment: its station's explicit list or platform defaults,
/// minus the gaps learned and not yet due for a re-check.
#[derive(Debug, Clone, Copy)]
pub struct Serving<'a> {
    served: Served<'a>,
    gaps: &'a [Gap],
    now_ms: i64,
    /// A gap learned during this request, not yet in the route table.
    fresh: Option<Feature>,
}

/// A station's dialects with nothing learned (tests, and calls outside the route table).
impl<'a> From<Served<'a>> for Serving<'a> {
    fn from(served: Served<'a>) -> Self {
        Serving::new(served, &[], 0)
    }
}

impl<'a> Serving<'a> {
    pub fn new(served: Served<'a>, gaps: &'a [Gap], now_ms: i64) -> Self {
        Serving {
            served,
            gaps,
            now_ms,
            fresh: None,
        }
    }

    /// The same view with `feature` known to be missing.
    pub fn without(self, feature: Feature) -> Self {
        Serving {
            fresh: Some(feature),
            ..self
        }
    }

    /// An explicit list was set for the station: nothing is learned or applied.
    pub fn is_explicit(self) -> bool {
        matches!(self.served, Served::Override(_))
    }

    pub fn lacks(self, feature: Feature) -> bool {
        !self.is_explicit()
            && (self.fresh == Some(feature)
                || self
                    .gaps
                    .iter()
                    .any(|g| g.feature == feature && g.until_ms > self.now_ms))
    }

    /// A gap for `feature` whose time has come: the native route is being re-checked.
    pub fn rechecking(self, feature: Feature) -> bool {
        !self.is_explicit()
            && self
                .gaps
                .iter()
                .any(|g| g.feature == feature && g.until_ms <= self.now_ms)
    }

    /// The prefix `dialect` is served under, if it is served natively.
    pub fn prefix(self, dialect: Dialect) -> Option<&'a str> {
        if self.lacks(Feature::Dialect(dialect)) {
            return None;
        }
        self.served.prefix(dialect)
    }

    /// Whether the station answers token counts in `dialect` itself.
    pub fn counts_tokens(self, dialect: Dialect) -> bool {
        self.prefix(dialect).is_some() && !self.lacks(Feature::TokenCount(dialect))
    }

    /// The primary dialect: the first served one that is not missing.
    pub fn primary(self) -> Option<Dialect> {
        let order: Vec<Dialect> = match self.served {
            Served::Platform(platform) => dialects(platform).iter().map(|(d, _)| *d).collect(),
            Served::Override(rows) => rows.iter().map(|r| r.dialect).collect(),
        };
        order.into_iter().find(|d| self.prefix(*d).is_some())
    }

    /// The primary dialect before anything learned: what everything else converts to, so it is
    /// never learned away.
    pub fn base_primary(self) -> Option<Dialect> {
        self.served.primary()
    }

    /// Rewrites a standard path (as clients call it) to the path this channel serves it at.
    pub fn upstream_path(self, dialect: Dialect, standard_path: &str) -> Option<String> {
        let rest = standard_path.strip_prefix(standard_root(dialect))?;
        Some(format!("{}{rest}", self.prefix(dialect)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::endpoint::{learnable, plan_call, resolve, CallPlan, RelayEndpoint, Route};
    use crate::core::panels::relay_paths::DialectRoute;

    fn endpoint(method: &str, path: &str) -> RelayEndpoint {
        match resolve(method, path) {
            Some(Route::Relay(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    const DAY: i64 = RECHECK_MS;

    #[test]
    fn feature_names_round_trip() {
        for f in [
            Feature::Dialect(Dialect::AnthropicMessages),
            Feature::TokenCount(Dialect::Gemini),
        ] {
            assert_eq!(Feature::parse(&f.name()), Some(f));
        }
        assert_eq!(
            Feature::TokenCount(Dialect::AnthropicMessages).name(),
            "anthropic-messages:count_tokens"
        );
        assert_eq!(Feature::parse("nope"), None);
        let gaps: Vec<Gap> = serde_json::from_value(serde_json::json!([
            {"feature": "gemini", "until_ms": 5}
        ]))
        .unwrap();
        assert_eq!(gaps[0].feature, Feature::Dialect(Dialect::Gemini));
    }

    #[test]
    fn gaps_remove_dialects_until_they_are_due() {
        let gaps = [Gap {
            feature: Feature::Dialect(Dialect::AnthropicMessages),
            until_ms: DAY,
        }];
        let served = Served::of("new-api", None);
        let now = Serving::new(served, &gaps, 10);
        assert_eq!(now.prefix(Dialect::AnthropicMessages), None);
        assert_eq!(now.prefix(Dialect::OpenAiChat), Some("/v1"));
        assert!(!now.rechecking(Feature::Dialect(Dialect::AnthropicMessages)));
        let later = Serving::new(served, &gaps, DAY + 1);
        assert_eq!(later.prefix(Dialect::AnthropicMessages), Some("/v1"));
        assert!(later.rechecking(Feature::Dialect(Dialect::AnthropicMessages)));
    }

    #[test]
    fn the_primary_skips_missing_dialects() {
        let gaps = [Gap {
            feature: Feature::Dialect(Dialect::AnthropicMessages),
            until_ms: DAY,
        }];
        // AnyRouter's first row is Anthropic; without it, chat is primary.
        let s = Serving::new(Served::of("anyrouter", None), &gaps, 0);
        assert_eq!(s.primary(), Some(Dialect::OpenAiChat));
        let messages = endpoint("POST", "/v1/messages");
        assert_eq!(
            plan_call(&messages, s, "/v1/messages"),
            CallPlan::Convert {
                target: Dialect::OpenAiChat
            }
        );
    }

    #[test]
    fn an_explicit_list_wins_over_learned_gaps() {
        let rows = [DialectRoute {
            dialect: Dialect::AnthropicMessages,
            prefix: "/v1".into(),
        }];
        let gaps = [Gap {
            feature: Feature::Dialect(Dialect::AnthropicMessages),
            until_ms: DAY,
        }];
        let s = Serving::new(Served::of("new-api", Some(&rows)), &gaps, 0);
        assert_eq!(s.prefix(Dialect::AnthropicMessages), Some("/v1"));
        let messages = endpoint("POST", "/v1/messages");
        assert_eq!(learnable(s, &messages, "/v1/messages"), None);
    }

    #[test]
    fn only_native_calls_with_a_way_around_are_learnable() {
        let s = Serving::new(Served::of("new-api", None), &[], 0);
        let messages = endpoint("POST", "/v1/messages");
        assert_eq!(
            learnable(s, &messages, "/v1/messages"),
            Some(Feature::Dialect(Dialect::AnthropicMessages))
        );
        let gemini = endpoint("POST", "/v1beta/models/g:streamGenerateContent");
        assert_eq!(
            learnable(s, &gemini, "/v1beta/models/g:streamGenerateContent"),
            Some(Feature::Dialect(Dialect::Gemini))
        );
        let count = endpoint("POST", "/v1/messages/count_tokens");
        assert_eq!(
            learnable(s, &count, "/v1/messages/count_tokens"),
            Some(Feature::TokenCount(Dialect::AnthropicMessages))
        );
        assert_eq!(
            plan_call(
                &count,
                s.without(Feature::TokenCount(Dialect::AnthropicMessages)),
                "/v1/messages/count_tokens"
            ),
            CallPlan::LocalCount(Dialect::AnthropicMessages)
        );
        let embed = endpoint("POST", "/v1beta/models/e:batchEmbedContents");
        assert_eq!(
            learnable(s, &embed, "/v1beta/models/e:batchEmbedContents"),
            Some(Feature::Dialect(Dialect::Gemini))
        );
        // The primary dialect has nothing to fall back to; embeddings and images teach nothing.
        let chat = endpoint("POST", "/v1/chat/completions");
        assert_eq!(learnable(s, &chat, "/v1/chat/completions"), None);
        let openai_embed = endpoint("POST", "/v1/embeddings");
        assert_eq!(learnable(s, &openai_embed, "/v1/embeddings"), None);
        let images = endpoint("POST", "/v1/images/generations");
        assert_eq!(learnable(s, &images, "/v1/images/generations"), None);
        // Already converted: nothing more to learn.
        let gaps = [Gap {
            feature: Feature::Dialect(Dialect::AnthropicMessages),
            until_ms: 10,
        }];
        let s = Serving::new(Served::of("new-api", None), &gaps, 0);
        assert_eq!(learnable(s, &messages, "/v1/messages"), None);
    }

    #[test]
    fn stored_gaps_read_from_d1_text_and_skip_unknown_entries() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(deserialize_with = "deserialize_gaps")]
            gaps: Vec<Gap>,
        }
        let row: Row = serde_json::from_str(
            r#"{"gaps":"[{\"feature\":\"openai-responses\",\"until_ms\":9},{\"feature\":\"x\",\"until_ms\":1}]"}"#,
        )
        .unwrap();
        assert_eq!(row.gaps.len(), 1);
        let row: Row = serde_json::from_str(r#"{"gaps":null}"#).unwrap();
        assert!(row.gaps.is_empty());
    }
}
