//! D1 access: bound parameters only, rows read into `Deserialize` structs, and a count of the
//! statements an isolate prepared. The repositories (`shell::repo`) hold the SQL.

use crate::core::error::GatewayError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// D1 binds JS numbers; i64 ids and millisecond times fit a double exactly.
pub fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub fn opt_num(n: Option<i64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

pub fn opt_str(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from)
}

pub fn opt_f64(n: Option<f64>) -> JsValue {
    n.map_or(JsValue::NULL, JsValue::from_f64)
}

thread_local! {
    /// D1 statements prepared by this isolate, so a job can measure what it spent.
    static D1_STATEMENTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// D1 statements so far in this isolate (jobs take the difference over their run).
pub fn d1_statements() -> u32 {
    D1_STATEMENTS.with(std::cell::Cell::get)
}

pub fn stmt(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<D1PreparedStatement, GatewayError> {
    D1_STATEMENTS.with(|c| c.set(c.get().saturating_add(1)));
    Ok(db.prepare(sql).bind(args)?)
}

pub async fn first<T: for<'de> Deserialize<'de>>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Option<T>, GatewayError> {
    Ok(stmt(db, sql, args)?.first::<T>(None).await?)
}

pub async fn all<T: for<'de> Deserialize<'de>>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Vec<T>, GatewayError> {
    Ok(stmt(db, sql, args)?.all().await?.results::<T>()?)
}

pub async fn run(db: &D1Database, sql: &str, args: &[JsValue]) -> Result<(), GatewayError> {
    stmt(db, sql, args)?.run().await?;
    Ok(())
}

pub async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<(), GatewayError> {
    if !statements.is_empty() {
        db.batch(statements).await?;
    }
    Ok(())
}

/// Prepares `(sql, args)` pairs and runs them as one atomic batch.
pub async fn batch_sql(
    db: &D1Database,
    statements: &[(&str, &[JsValue])],
) -> Result<(), GatewayError> {
    let prepared = statements
        .iter()
        .map(|(sql, args)| stmt(db, sql, args))
        .collect::<Result<Vec<_>, _>>()?;
    batch(db, prepared).await
}

/// A row of just an id (`RETURNING id`, id lists).
#[derive(Debug, Deserialize)]
pub struct IdRow {
    pub id: i64,
}
