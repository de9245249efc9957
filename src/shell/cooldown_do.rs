//! The cooldown registry Durable Object: one instance per organization, the single writer of
//! its channels' failure counts and cooldown ends (kept in the object's SQLite storage).

use crate::core::cooldown::ChannelCooldown;
use crate::core::durable::{CooldownReport, DoCall};
use serde::Deserialize;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue, State,
};

#[durable_object]
pub struct CooldownRegistry {
    state: State,
}

#[derive(Deserialize)]
struct Row {
    channel_id: i64,
    failures: i64,
    until_ms: i64,
    last_error: String,
}

impl CooldownRegistry {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn load(&self, channel_id: i64) -> Result<ChannelCooldown> {
        let rows: Vec<Row> = self
            .sql()
            .exec("SELECT channel_id, failures, until_ms, last_error FROM cooldowns WHERE channel_id = ?", vec![SqlStorageValue::Integer(channel_id)])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .map(to_state)
            .unwrap_or(ChannelCooldown {
                channel_id,
                ..Default::default()
            }))
    }

    fn store(&self, c: &ChannelCooldown) -> Result<()> {
        if c.failures == 0 {
            self.sql().exec(
                "DELETE FROM cooldowns WHERE channel_id = ?",
                vec![SqlStorageValue::Integer(c.channel_id)],
            )?;
        } else {
            self.sql().exec(
                "INSERT OR REPLACE INTO cooldowns (channel_id, failures, until_ms, last_error) VALUES (?, ?, ?, ?)",
                vec![
                    SqlStorageValue::Integer(c.channel_id),
                    SqlStorageValue::Integer(i64::from(c.failures)),
                    SqlStorageValue::Integer(c.until_ms),
                    SqlStorageValue::String(c.last_error.clone()),
                ],
            )?;
        }
        Ok(())
    }

    fn all(&self) -> Result<Vec<ChannelCooldown>> {
        let rows: Vec<Row> = self.sql().exec("SELECT channel_id, failures, until_ms, last_error FROM cooldowns ORDER BY channel_id", None)?.to_array()?;
        Ok(rows.into_iter().map(to_state).collect())
    }
}

fn to_state(r: Row) -> ChannelCooldown {
    ChannelCooldown {
        channel_id: r.channel_id,
        failures: u32::try_from(r.failures).unwrap_or(u32::MAX),
        until_ms: r.until_ms,
        last_error: r.last_error,
    }
}

impl DurableObject for CooldownRegistry {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS cooldowns (channel_id INTEGER PRIMARY KEY, failures INTEGER NOT NULL, until_ms INTEGER NOT NULL, last_error TEXT NOT NULL)",
            None,
        );
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let now = super::app::now_ms();
        let url = req.url()?;
        match DoCall::parse(req.method().as_ref(), url.path(), url.query()) {
            Some(DoCall::CooldownPing) => Response::ok("pong"),
            // Every channel with failures since its last success (cooling or not).
            Some(DoCall::CooldownSnapshot) => Response::from_json(&self.all()?),
            Some(DoCall::CooldownReport) => {
                let report: CooldownReport = req.json().await?;
                for outcome in &report.outcomes {
                    let mut c = self.load(outcome.channel_id)?;
                    if outcome.success && c.failures == 0 {
                        continue;
                    }
                    c.apply(outcome, now, report.base_ms);
                    self.store(&c)?;
                }
                Response::ok("ok")
            }
            Some(DoCall::CooldownClear { channel }) => {
                match channel {
                    Some(id) => self.store(&ChannelCooldown {
                        channel_id: id,
                        ..Default::default()
                    })?,
                    None => {
                        self.sql().exec("DELETE FROM cooldowns", None)?;
                    }
                }
                Response::ok("ok")
            }
            _ => Response::error("not found", 404),
        }
    }
}
