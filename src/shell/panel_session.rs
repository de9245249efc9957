//! One account's conversation with its panel: logs in when the credential is a password (reusing
//! a saved session until the panel rejects it, then logging in again once), passes the AnyRouter
//! WAF challenge by retrying with the solved cookies, and counts the fetches a job spends.

use super::app::{credential_aad, session_aad};
use super::upstream::{send_panel, PanelResponse};
use crate::core::panels::credential::Credential;
use crate::core::panels::{waf, PanelAdapter, PanelError, PanelRequest};

/// A station's base URL plus the WAF cookies learned on it (shared by its accounts in one run).
#[derive(Clone)]
pub struct PanelClient {
    base_url: String,
    waf_cookies: Vec<(String, String)>,
}

impl PanelClient {
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            waf_cookies: Vec::new(),
        }
    }

    /// Sends with the known WAF cookies; a challenge page is solved and the call retried once.
    /// A second challenge is returned as is: the parsers classify it as `PanelError::Blocked`.
    pub async fn send(&mut self, mut req: PanelRequest) -> Result<PanelResponse, PanelError> {
        for (name, value) in &self.waf_cookies {
            req.add_cookie(name, value);
        }
        let resp = send_panel(&self.base_url, &req).await?;
        if !waf::is_waf_challenge(&resp.body) {
            return Ok(resp);
        }
        let set_cookie: Vec<&str> = resp.set_cookie.iter().map(String::as_str).collect();
        let Some(cookies) = waf::challenge_cookies(&resp.body, &set_cookie) else {
            return Ok(resp);
        };
        for (name, value) in &cookies {
            req.add_cookie(name, value);
        }
        self.waf_cookies = cookies;
        send_panel(&self.base_url, &req).await
    }
}

/// Builds a request from the adapter and the credential to use.
pub type Build<'a> = &'a dyn Fn(&PanelAdapter, &Credential) -> Result<PanelRequest, PanelError>;

/// An account talking to its station during one job run.
pub struct PanelSession {
    pub adapter: PanelAdapter,
    pub client: PanelClient,
    /// The account's stored credential.
    credential: Credential,
    /// The session a login granted (or the saved one); None until needed.
    session: Option<Credential>,
    /// Set when a login happened in this run: the caller saves the new session.
    pub session_changed: bool,
    relogged: bool,
}

impl PanelSession {
    pub fn new(
        adapter: PanelAdapter,
        client: PanelClient,
        credential: Credential,
        saved_session: Option<Credential>,
    ) -> Self {
        // A saved session only stands in for a password: other credentials are used as they are.
        let session = saved_session.filter(|_| matches!(credential, Credential::Password { .. }));
        Self {
            adapter,
            client,
            credential,
            session,
            session_changed: false,
            relogged: false,
        }
    }

    /// The stored credential (a relay key means the account has no key list of its own).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The session to save after the run (only when a login replaced it).
    pub fn new_session(&self) -> Option<&Credential> {
        self.session.as_ref().filter(|_| self.session_changed)
    }

    /// The credential management calls carry: the stored one, or a (fresh) login session.
    async fn active(&mut self) -> Result<Credential, PanelError> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        let Some(login) = self.adapter.login_request(&self.credential) else {
            return Ok(self.credential.clone());
        };
        let resp = self.client.send(login?).await?;
        let set_cookie: Vec<&str> = resp.set_cookie.iter().map(String::as_str).collect();
        let session = self
            .adapter
            .parse_login(resp.status, &resp.body, &set_cookie)?;
        self.session = Some(session.clone());
        self.session_changed = true;
        Ok(session)
    }

    /// One management call; an expired session (auth failure) is replaced by one new login.
    pub async fn call<T>(
        &mut self,
        build: Build<'_>,
        parse: impl Fn(&PanelAdapter, u16, &str) -> Result<T, PanelError>,
    ) -> Result<T, PanelError> {
        let credential = self.active().await?;
        let resp = self.client.send(build(&self.adapter, &credential)?).await?;
        match parse(&self.adapter, resp.status, &resp.body) {
            Err(PanelError::Auth(_)) if self.session.is_some() && !self.relogged => {
                self.relogged = true;
                self.session = None;
                let credential = self.active().await?;
                let resp = self.client.send(build(&self.adapter, &credential)?).await?;
                parse(&self.adapter, resp.status, &resp.body)
            }
            other => other,
        }
    }

    /// A call that needs no login (public status, a relay key's models list).
    pub async fn send_parsed<T>(
        &mut self,
        req: PanelRequest,
        parse: impl Fn(&PanelAdapter, u16, &str) -> Result<T, PanelError>,
    ) -> Result<T, PanelError> {
        let resp = self.client.send(req).await?;
        parse(&self.adapter, resp.status, &resp.body)
    }
}

/// The session of a stored account: its sealed credential (and saved login session) opened.
/// Credentials are sealed JSON; an access token stored bare (before other kinds existed) still
/// reads, with the panel user id from its column.
pub fn account_session(
    sb: &crate::core::crypto::SecretBox,
    account: &super::repo::accounts::AccountRow,
    adapter: PanelAdapter,
    client: PanelClient,
) -> Result<PanelSession, crate::core::error::GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    let plain = sb.open(&account.credential_ciphertext, &credential_aad(org, id))?;
    let credential = match serde_json::from_str::<Credential>(&plain) {
        Ok(credential) => credential,
        Err(_) if account.credential_kind == "access_token" => Credential::AccessToken {
            token: plain,
            user_id: account.panel_user_id.clone().unwrap_or_default(),
        },
        Err(e) => {
            return Err(crate::core::error::GatewayError::Internal(format!(
                "account {} credential unreadable: {e}",
                account.id
            )))
        }
    };
    let saved = account
        .session_ciphertext
        .as_deref()
        .and_then(|c| sb.open(c, &session_aad(org, id)).ok())
        .and_then(|json| serde_json::from_str::<Credential>(&json).ok());
    Ok(PanelSession::new(adapter, client, credential, saved))
}
