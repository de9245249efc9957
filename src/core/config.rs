//! The gateway's tunable settings (`wrangler.toml` `[vars]`): one table of (name, default,
//! min, max), read once per isolate into a typed [`Config`]. A value that is absent or not an
//! integer takes the default; one out of range is clamped into it.

/// One setting: its var name, default and allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

impl Setting {
    /// The setting's value from the var's text (`None`: unset).
    pub fn value(&self, raw: Option<&str>) -> i64 {
        raw.and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(self.default)
            .clamp(self.min, self.max)
    }
}

macro_rules! settings {
    ($($(#[$doc:meta])* $field:ident: $name:literal = $default:literal, $min:expr, $max:expr;)+) => {
        /// Every setting, typed; built once per isolate by [`Config::from_vars`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Config {
            $($(#[$doc])* pub $field: i64,)+
        }

        /// The table: each setting's var name, default and range.
        pub const SETTINGS: &[Setting] = &[
            $(Setting { name: $name, default: $default, min: $min, max: $max },)+
        ];

        impl Config {
            /// Reads every setting through `var` (the var's text by name, `None` when unset).
            pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
                let mut settings = SETTINGS.iter();
                let mut next = || {
                    settings
                        .next()
                        .map_or(0, |s| s.value(var(s.name).as_deref()))
                };
                Config { $($field: next(),)+ }
            }
        }
    };
}

settings! {
    /// Channels tried per relayed request before the gateway gives up.
    relay_max_attempts: "RELAY_MAX_ATTEMPTS" = 3, 1, 10;
    /// First cooldown of a failed channel; repeated failures double it (capped at 24 h).
    cooldown_base_seconds: "COOLDOWN_BASE_SECONDS" = 600, 1, 86_400;
    /// An upstream without response headers by then is abandoned for the next channel.
    first_byte_timeout_seconds: "FIRST_BYTE_TIMEOUT_SECONDS" = 120, 1, 3600;
    /// Silence on a stream before a keep-alive frame.
    keepalive_seconds: "KEEPALIVE_SECONDS" = 15, 1, 90;
    /// Data left untaken by a streaming client this long stops the upstream.
    client_stall_seconds: "CLIENT_STALL_SECONDS" = 30, 1, 600;
    /// Subrequests (outbound fetches + D1 statements) one job run may make. Workers Free allows
    /// 50 fetches and 50 D1 queries per invocation; 40 keeps each under its limit.
    job_subrequest_budget: "JOB_SUBREQUEST_BUDGET" = 40, 0, 1_000_000;
    /// Wait before a usage-log batch is written.
    log_flush_ms: "LOG_FLUSH_MS" = 1000, 0, 10_000;
    /// Organizations one user may own (the instance admin is not limited).
    max_orgs_per_user: "MAX_ORGS_PER_USER" = 3, 0, 10_000;
    /// Registrations per client IP and hour.
    registrations_per_ip_per_hour: "REGISTRATIONS_PER_IP_PER_HOUR" = 10, 1, 1_000_000;
    /// A panel call's whole answer must arrive within this.
    panel_timeout_seconds: "PANEL_TIMEOUT_SECONDS" = 15, 1, 120;
    /// The largest JSON (or other non-multipart) request body relayed, in MB; past it, a 413.
    max_json_body_mb: "MAX_JSON_BODY_MB" = 32, 1, 1024;
    /// The largest multipart upload relayed, in MB; past it, a 413.
    max_multipart_body_mb: "MAX_MULTIPART_BODY_MB" = 100, 1, 1024;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn unset_vars_take_the_table_defaults() {
        let c = config(&[]);
        assert_eq!(
            c,
            Config {
                relay_max_attempts: 3,
                cooldown_base_seconds: 600,
                first_byte_timeout_seconds: 120,
                keepalive_seconds: 15,
                client_stall_seconds: 30,
                job_subrequest_budget: 40,
                log_flush_ms: 1000,
                max_orgs_per_user: 3,
                registrations_per_ip_per_hour: 10,
                panel_timeout_seconds: 15,
                max_json_body_mb: 32,
                max_multipart_body_mb: 100,
            }
        );
        for s in SETTINGS {
            assert!(s.min <= s.default && s.default <= s.max, "{}", s.name);
        }
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 12);
    }

    #[test]
    fn values_are_trimmed_clamped_or_defaulted() {
        let c = config(&[
            ("RELAY_MAX_ATTEMPTS", " 4 "),
            ("FIRST_BYTE_TIMEOUT_SECONDS", "0"),
            ("KEEPALIVE_SECONDS", "1000"),
            ("CLIENT_STALL_SECONDS", "soon"),
            ("JOB_SUBREQUEST_BUDGET", "200"),
            ("LOG_FLUSH_MS", "-5"),
            ("COOLDOWN_BASE_SECONDS", ""),
        ]);
        assert_eq!(c.relay_max_attempts, 4);
        assert_eq!(c.first_byte_timeout_seconds, 1, "clamped up to the minimum");
        assert_eq!(c.keepalive_seconds, 90, "clamped down to the maximum");
        assert_eq!(c.client_stall_seconds, 30, "not a number: the default");
        assert_eq!(c.job_subrequest_budget, 200);
        assert_eq!(c.log_flush_ms, 0);
        assert_eq!(c.cooldown_base_seconds, 600, "empty: the default");
    }
}
