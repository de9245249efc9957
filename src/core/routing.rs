//! The route table and channel choice (docs/architecture.md §2): priority tiers, weighted random
//! (weight + 10, the new-api rule), skipping channels in cooldown or already tried.

use crate::core::learned::{deserialize_gaps, Gap, Serving};
use crate::core::panels::relay_paths::{deserialize_override, DialectRoute, Served};
use crate::core::usage::Pricing;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One channel: an upstream key on a station, serving one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// The route entry id: the unit of cooldown and health.
    pub id: i64,
    pub station_id: i64,
    pub upstream_key_id: i64,
    pub base_url: String,
    /// The model name the station is sent (may differ from what the client asked).
    pub upstream_model: String,
    pub priority: i64,
    pub weight: i64,
    /// The upstream key, still sealed: opened only for the request that uses it.
    pub key_ciphertext: String,
    /// The station's published price for `upstream_model`, for the usage log's cost.
    #[serde(default)]
    pub pricing: Pricing,
    /// The station's platform (`new-api`, `openai`…): which dialects it serves, and where.
    #[serde(default)]
    pub platform: String,
    /// The station's dialect override; `None`: the platform's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialects: Option<Vec<DialectRoute>>,
    /// What its station was found not to serve (ignored under an explicit `dialects` list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

impl Channel {
    /// The dialects this channel serves natively, and where, at `now_ms`.
    pub fn serving(&self, now_ms: i64) -> Serving<'_> {
        Serving::new(
            Served::of(&self.platform, self.dialects.as_deref()),
            &self.gaps,
            now_ms,
        )
    }
}

/// Per organization: client-facing model → its channels. Serialised into KV as one value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteTable {
    /// When it was built (ms): lets caches tell a newer table from an older one.
    pub built_at: i64,
    pub models: BTreeMap<String, Vec<Channel>>,
}

/// A route row as read from D1 (already filtered to enabled station/account/key/entry).
#[derive(Debug, Clone, Deserialize)]
pub struct RouteRow {
    pub id: i64,
    pub model: String,
    pub upstream_model: String,
    pub station_id: i64,
    pub upstream_key_id: i64,
    pub base_url: String,
    pub priority: i64,
    pub weight: i64,
    pub key_ciphertext: String,
    pub platform: String,
    /// The station's dialect override (JSON text in D1).
    #[serde(default, deserialize_with = "deserialize_override")]
    pub dialects: Option<Vec<DialectRoute>>,
    /// Learned gaps of the station (JSON text in D1).
    #[serde(default, deserialize_with = "deserialize_gaps")]
    pub gaps: Vec<Gap>,
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
    pub cache_read_usd_per_mtok: Option<f64>,
    pub usd_per_call: Option<f64>,
}

impl RouteTable {
    pub fn from_rows(rows: Vec<RouteRow>, built_at: i64) -> Self {
        let mut models: BTreeMap<String, Vec<Channel>> = BTreeMap::new();
        for row in rows {
            models.entry(row.model).or_default().push(Channel {
                id: row.id,
                station_id: row.station_id,
                upstream_key_id: row.upstream_key_id,
                base_url: row.base_url,
                upstream_model: row.upstream_model,
                priority: row.priority,
                weight: row.weight,
                key_ciphertext: row.key_ciphertext,
                platform: row.platform,
                dialects: row.dialects,
                gaps: row.gaps,
                pricing: Pricing {
                    input_per_mtok: row.input_usd_per_mtok,
                    output_per_mtok: row.output_usd_per_mtok,
                    cache_read_per_mtok: row.cache_read_usd_per_mtok,
                    per_call: row.usd_per_call,
                },
            });
        }
        Self { built_at, models }
    }

    pub fn channels(&self, model: &str) -> Option<&[Channel]> {
        self.models
            .get(model)
            .map(Vec::as_slice)
            .filter(|c| !c.is_empty())
    }

    /// One channel per upstream key, for calls that name no model (file uploads).
    pub fn any_model_channels(&self) -> Vec<Channel> {
        let mut seen = std::collections::BTreeSet::new();
        self.models
            .values()
            .flatten()
            .filter(|c| seen.insert(c.upstream_key_id))
            .cloned()
            .collect()
    }

    /// The client-facing model names, sorted.
    pub fn model_names(&self) -> Vec<&str> {
        self.models
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(m, _)| m.as_str())
            .collect()
    }
}

/// Picks the next channel to try.
///
/// `cooldown_until(id)` returns when a channel's cooldown ends (ms) if it is cooling down now;
/// `roll` is a uniform random number (the caller's, so tests are deterministic).
/// When every untried channel is cooling down, the one whose cooldown ends first is returned
/// rather than failing outright (docs/architecture.md §4). Inside the top priority tier, channels for
/// which `native` holds (they speak the client's dialect, so no conversion) are preferred.
pub fn choose_channel<'a>(
    channels: &'a [Channel],
    tried: &[i64],
    cooldown_until: impl Fn(i64) -> Option<i64>,
    native: impl Fn(&Channel) -> bool,
    roll: u32,
) -> Option<&'a Channel> {
    let untried: Vec<&Channel> = channels.iter().filter(|c| !tried.contains(&c.id)).collect();
    let live: Vec<&Channel> = untried
        .iter()
        .copied()
        .filter(|c| cooldown_until(c.id).is_none())
        .collect();
    if live.is_empty() {
        return untried
            .into_iter()
            .min_by_key(|c| cooldown_until(c.id).unwrap_or(i64::MAX));
    }
    let top = live.iter().map(|c| c.priority).max()?;
    let mut tier: Vec<&Channel> = live.into_iter().filter(|c| c.priority == top).collect();
    if tier.iter().any(|c| native(c)) {
        tier.retain(|c| native(c));
    }
    let total: u64 = tier.iter().map(|c| effective_weight(c)).sum();
    let mut point = u64::from(roll) % total.max(1);
    for channel in &tier {
        let w = effective_weight(channel);
        if point < w {
            return Some(channel);
        }
        point -= w;
    }
    tier.last().copied()
}

/// new-api's rule: weight + 10, so zero-weight channels still get some traffic.
fn effective_weight(channel: &Channel) -> u64 {
    u64::try_from(channel.weight.max(0)).unwrap_or(0) + 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(id: i64, priority: i64, weight: i64) -> Channel {
        Channel {
            id,
            station_id: 1,
            upstream_key_id: id,
            base_url: "http://s".into(),
            upstream_model: "m".into(),
            priority,
            weight,
            key_ciphertext: String::new(),
            pricing: Pricing::default(),
            platform: "new-api".into(),
            dialects: None,
            gaps: Vec::new(),
        }
    }

    #[test]
    fn highest_priority_tier_wins() {
        let chans = [ch(1, 0, 100), ch(2, 5, 0), ch(3, 5, 0)];
        for roll in 0..50 {
            let picked = choose_channel(&chans, &[], |_| None, |_| true, roll).unwrap();
            assert!(picked.id == 2 || picked.id == 3);
        }
    }

    #[test]
    fn weights_plus_ten_split_traffic_proportionally() {
        // weights 0 and 30 → effective 10 and 40: 1 in 5 rolls picks the first.
        let chans = [ch(1, 0, 0), ch(2, 0, 30)];
        let firsts = (0..50u32)
            .filter(|&r| {
                choose_channel(&chans, &[], |_| None, |_| true, r)
                    .unwrap()
                    .id
                    == 1
            })
            .count();
        assert_eq!(firsts, 10);
    }

    #[test]
    fn skips_tried_and_cooling_channels_falling_to_lower_tiers() {
        let chans = [ch(1, 9, 10), ch(2, 9, 10), ch(3, 1, 10)];
        let cooling = |id| (id == 2).then_some(5_000);
        for roll in 0..20 {
            assert_eq!(
                choose_channel(&chans, &[1], cooling, |_| true, roll)
                    .unwrap()
                    .id,
                3
            );
        }
    }

    #[test]
    fn all_cooling_picks_earliest_end_and_all_tried_gives_none() {
        let chans = [ch(1, 9, 10), ch(2, 0, 10), ch(3, 0, 10)];
        let until = |id| {
            Some(match id {
                1 => 900,
                2 => 100,
                _ => 500,
            })
        };
        assert_eq!(
            choose_channel(&chans, &[], until, |_| true, 7).unwrap().id,
            2
        );
        assert_eq!(
            choose_channel(&chans, &[2], until, |_| true, 7).unwrap().id,
            3
        );
        assert!(choose_channel(&chans, &[1, 2, 3], |_| None, |_| true, 7).is_none());
    }

    #[test]
    fn negative_weight_counts_as_zero() {
        let chans = [ch(1, 0, -50)];
        assert_eq!(
            choose_channel(&chans, &[], |_| None, |_| true, u32::MAX)
                .unwrap()
                .id,
            1
        );
    }

    #[test]
    fn table_groups_rows_by_model() {
        let row = |id, model: &str, key| RouteRow {
            id,
            model: model.into(),
            upstream_model: model.into(),
            station_id: 1,
            upstream_key_id: key,
            base_url: "http://s".into(),
            priority: 0,
            weight: 10,
            key_ciphertext: "v1:00".into(),
            platform: "new-api".into(),
            dialects: None,
            gaps: Vec::new(),
            input_usd_per_mtok: Some(1.0),
            output_usd_per_mtok: None,
            cache_read_usd_per_mtok: None,
            usd_per_call: None,
        };
        let mut overridden = row(3, "a", 2);
        overridden.dialects = Some(vec![DialectRoute {
            dialect: crate::core::dialect::Dialect::OpenAiResponses,
            prefix: "/custom/v1".into(),
        }]);
        let table = RouteTable::from_rows(vec![row(1, "a", 1), row(2, "b", 2), overridden], 42);
        assert_eq!(
            table.channels("a").unwrap()[1].serving(0).primary(),
            Some(crate::core::dialect::Dialect::OpenAiResponses)
        );
        assert_eq!(table.channels("a").unwrap().len(), 2);
        assert_eq!(table.channels("b").unwrap()[0].id, 2);
        assert_eq!(
            table.channels("b").unwrap()[0].pricing.input_per_mtok,
            Some(1.0)
        );
        assert!(table.channels("c").is_none());
        assert_eq!(table.model_names(), vec!["a", "b"]);
        let keys: Vec<i64> = table
            .any_model_channels()
            .iter()
            .map(|c| c.upstream_key_id)
            .collect();
        assert_eq!(keys, vec![1, 2], "one channel per upstream key");
        // The KV copy keeps the override (and omits it where there is none).
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(
            json.matches(r#""dialects":[{"dialect":"openai-responses","prefix":"/custom/v1"}]"#)
                .count(),
            1
        );
        assert_eq!(json.matches("dialects").count(), 1);
        assert_eq!(serde_json::from_str::<RouteTable>(&json).unwrap(), table);
    }

    #[test]
    fn native_channels_win_inside_a_tier_but_not_across_tiers() {
        let mut a = ch(1, 0, 10);
        a.platform = "one-api".into();
        let b = ch(2, 0, 10);
        let pair = [a.clone(), b.clone()];
        for roll in 0..40 {
            let picked = choose_channel(&pair, &[], |_| None, |c| c.platform == "new-api", roll);
            assert_eq!(picked.map(|c| c.id), Some(2));
        }
        let higher = ch(3, 5, 10);
        let mut only_converting = higher.clone();
        only_converting.platform = "one-api".into();
        let mixed = [only_converting, b.clone()];
        let picked = choose_channel(&mixed, &[], |_| None, |c| c.platform == "new-api", 0);
        assert_eq!(picked.map(|c| c.id), Some(3), "priority beats nativeness");
    }
}
