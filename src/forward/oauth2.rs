//! OAuth2 client credentials (RFC 6749 §4.4) for a sink: an access token fetched from the
//! token endpoint with the sink's own TLS and proxy, kept until shortly before it expires,
//! fetched again when the receiver answers 401 to it. An outage of the token endpoint is a
//! sink outage (the request is retried with the sink's backoff); a refusal by the endpoint
//! (wrong client id or secret) pauses the sink. The secret and the tokens are never logged.

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::retry::Verdict;
use crate::model::error_chain;

/// How long before its expiry a token is replaced.
const EARLY: Duration = Duration::from_secs(60);
/// Lifetime assumed for a token whose answer gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Where and as whom tokens are fetched.
pub struct TokenSource {
    sink: String,
    client: reqwest::Client,
    url: reqwest::Url,
    client_id: String,
    secret: String,
    scope: Option<String>,
    cached: Mutex<Option<Token>>,
}

struct Token {
    header: HeaderValue,
    /// When it is replaced (its expiry, less [`EARLY`]).
    renew_at: Instant,
    /// Fetched for this generation: a 401 to an older token needs no new fetch.
    generation: u64,
}

/// A token to send, and which one it was (for [`TokenSource::rejected`]).
pub struct Bearer {
    /// `Authorization: Bearer ...`, marked sensitive.
    pub header: HeaderValue,
    generation: u64,
}

/// Why there is no token to send.
pub struct NoToken {
    /// What the sink does about it.
    pub verdict: Verdict,
    /// For the sink's last error.
    pub detail: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// Sink `sink`'s source, fetching from `url` as `client_id` with `secret`, over `client`.
    pub fn new(
        sink: &str,
        client: reqwest::Client,
        url: reqwest::Url,
        client_id: String,
        secret: String,
        scope: Option<String>,
    ) -> Self {
        Self {
            sink: sink.to_owned(),
            client,
            url,
            client_id,
            secret,
            scope,
            cached: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a new one when it is due.
    pub async fn bearer(&self) -> Result<Bearer, NoToken> {
        // Held across the fetch, so concurrent requests wait for one fetch, not make many.
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(Bearer {
                header: t.header.clone(),
                generation: t.generation,
            });
        }
        let generation = cached.as_ref().map_or(1, |t| t.generation + 1);
        let token = self.fetch(generation).await?;
        let bearer = Bearer {
            header: token.header.clone(),
            generation,
        };
        *cached = Some(token);
        Ok(bearer)
    }

    /// The receiver refused `bearer` (401): it is not used again.
    pub async fn rejected(&self, bearer: &Bearer) {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached
            .as_mut()
            .filter(|t| t.generation == bearer.generation)
        {
            t.renew_at = Instant::now();
        }
    }

    async fn fetch(&self, generation: u64) -> Result<Token, NoToken> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let started = Instant::now();
        let sent = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(&form)
            .send()
            .await;
        let unavailable = |detail: String| NoToken {
            verdict: Verdict::Retry {
                reason: "token_unavailable",
                retry_after: None,
            },
            detail,
        };
        let count = |result: &'static str| {
            metrics::counter!("dockgate_oauth2_token_fetches_total",
                "sink" => self.sink.clone(), "result" => result)
            .increment(1)
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                count("unavailable");
                return Err(unavailable(format!(
                    "token endpoint {}: {}",
                    self.url,
                    error_chain(&e)
                )));
            }
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(160).collect();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            count("unavailable");
            return Err(unavailable(format!(
                "token endpoint {} answered HTTP {status}: {excerpt}",
                self.url
            )));
        }
        if !status.is_success() {
            // invalid_client, unauthorized_client, invalid_scope: the settings are wrong.
            count("refused");
            return Err(NoToken {
                verdict: Verdict::Pause {
                    reason: "token_refused",
                },
                detail: format!(
                    "token endpoint {} refused client {:?} (HTTP {status}): {excerpt}; check \
                     auth.oauth2_client_id, auth.oauth2_client_secret_file and auth.oauth2_scope",
                    self.url, self.client_id
                ),
            });
        }
        let answer: TokenAnswer = match serde_json::from_str(&body) {
            Ok(a) => a,
            Err(_) => {
                count("unavailable");
                return Err(unavailable(format!(
                    "token endpoint {} answered HTTP {status} without a token: {excerpt}",
                    self.url
                )));
            }
        };
        if answer
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            count("refused");
            return Err(NoToken {
                verdict: Verdict::Pause {
                    reason: "token_refused",
                },
                detail: format!(
                    "token endpoint {} gave a {:?} token; only bearer tokens are sent",
                    self.url,
                    answer.token_type.unwrap_or_default()
                ),
            });
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| {
                unavailable(format!(
                    "token endpoint {} gave a token that is not a valid header value",
                    self.url
                ))
            })?;
        header.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        // A short-lived token is replaced at half its life rather than a minute early.
        let early = EARLY.min(lifetime / 2);
        count("fetched");
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "OAuth2 token fetched.");
        Ok(Token {
            header,
            renew_at: started + lifetime - early,
            generation,
        })
    }
}
