//! `POST /api/maintenance/reencrypt` (instance admin): seals every stored credential, login
//! session and upstream key again under the current `ENCRYPTION_KEY`, bound to its row — values
//! of the legacy format or of `ENCRYPTION_KEY_PREVIOUS` included. A bounded batch per call (the
//! answer says how many are left); repeat until `remaining` is 0, then drop the previous key.

use super::app::{credential_aad, session_aad, upstream_key_aad, App};
use super::auth::Principal;
use super::db::{self, num};
use super::http::ok;
use super::routes;
use crate::core::crypto::{Aad, SecretBox};
use crate::core::error::GatewayError;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use worker::Response;

/// Values re-sealed per sealed column and call (each costs one D1 statement).
const BATCH: i64 = 100;

#[derive(Deserialize)]
struct SealedRow {
    id: i64,
    organization_id: i64,
    /// The row the ciphertext is bound to (the account, or the key's station).
    owner: i64,
    sealed: String,
}

/// One sealed column: where it lives and what it is bound to.
struct Column {
    table: &'static str,
    column: &'static str,
    owner: &'static str,
    aad: fn(i64, i64) -> Aad<'static>,
}

const COLUMNS: [Column; 3] = [
    Column {
        table: "accounts",
        column: "credential_ciphertext",
        owner: "id",
        aad: credential_aad,
    },
    Column {
        table: "accounts",
        column: "session_ciphertext",
        owner: "id",
        aad: session_aad,
    },
    Column {
        table: "upstream_keys",
        column: "key_ciphertext",
        owner: "station_id",
        aad: upstream_key_aad,
    },
];

pub async fn handle(app: &App, principal: &Principal) -> Result<Response, GatewayError> {
    if !principal.is_instance_admin() {
        return Err(GatewayError::Forbidden(
            "only the instance admin re-encrypts stored secrets".into(),
        ));
    }
    let d1 = app.db()?;
    let sb = app.secret_box()?;
    let (mut resealed, mut remaining, mut unreadable) = (0_i64, 0_i64, Vec::new());
    let mut orgs = BTreeSet::new();
    for c in &COLUMNS {
        // Current-key values start with `v2:<current id>:`; everything else is due.
        let rows: Vec<SealedRow> = db::all(
            &d1,
            &format!(
                "SELECT id, organization_id, {owner} AS owner, {col} AS sealed FROM {table} \
                 WHERE {col} IS NOT NULL AND {col} <> '' ORDER BY id",
                owner = c.owner,
                col = c.column,
                table = c.table
            ),
            &[],
        )
        .await?;
        let due: Vec<&SealedRow> = rows.iter().filter(|r| sb.needs_reseal(&r.sealed)).collect();
        remaining += (due.len() as i64 - BATCH).max(0);
        for row in due.into_iter().take(BATCH as usize) {
            let aad = (c.aad)(row.organization_id, row.owner);
            match reseal(&sb, &row.sealed, &aad) {
                Ok(fresh) => {
                    db::run(
                        &d1,
                        &format!(
                            "UPDATE {} SET {} = ?1 WHERE organization_id = ?2 AND id = ?3",
                            c.table, c.column
                        ),
                        &[fresh.into(), num(row.organization_id), num(row.id)],
                    )
                    .await?;
                    resealed += 1;
                    if c.table == "upstream_keys" {
                        orgs.insert(row.organization_id);
                    }
                }
                Err(e) => unreadable.push(format!("{}.{} {}: {e}", c.table, c.column, row.id)),
            }
        }
    }
    // Route tables carry the keys' ciphertexts: publish them again with the new ones.
    for org in orgs {
        routes::publish(&app.env, org).await?;
    }
    ok(json!({"resealed": resealed, "remaining": remaining, "unreadable": unreadable}))
}

fn reseal(sb: &SecretBox, sealed: &str, aad: &Aad) -> Result<String, GatewayError> {
    Ok(sb.seal(&sb.open(sealed, aad)?, aad)?)
}
