//! An OAuth2 token endpoint stand-in (client credentials, RFC 6749 §4.4) on `127.0.0.1:0`:
//! it checks the client's basic auth, issues numbered bearer tokens that expire after a set
//! lifetime, can revoke the current one, go down (503) or hang, and records every fetch.
//! [`TokenServer::accepts`] is what a receiver stand-in asks of a request's headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::standin::{json_answer, parse_head, read_request, HeaderPredicate};

/// How the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// Tokens for the right client; 401 `invalid_client` for any other.
    Up,
    /// 503 for everyone.
    Down,
}

/// One token request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The client id of its basic auth.
    pub client_id: String,
    /// The form it posted.
    pub form: String,
    /// The status answered.
    pub status: u16,
}

struct State {
    mode: TokenMode,
    client_id: String,
    secret: String,
    lifetime: Duration,
    issued: u64,
    /// Token -> when it expires.
    valid: HashMap<String, Instant>,
    fetches: Vec<Fetch>,
}

/// A running token endpoint; stops when dropped.
pub struct TokenServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    /// An endpoint for `client_id` with `secret` whose tokens live `lifetime`.
    pub async fn start(client_id: &str, secret: &str, lifetime: Duration) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the token server");
        let addr = listener.local_addr().expect("token server address");
        let state = Arc::new(Mutex::new(State {
            mode: TokenMode::Up,
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            lifetime,
            issued: 0,
            valid: HashMap::new(),
            fetches: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        TokenServer { addr, state, task }
    }

    /// The token URL.
    pub fn url(&self) -> String {
        format!("http://{}/oauth2/token", self.addr)
    }

    /// Answers from now on in `mode`.
    pub fn set_mode(&self, mode: TokenMode) {
        self.lock().mode = mode;
    }

    /// Revokes every token issued so far: a receiver refuses them from now on.
    pub fn revoke_all(&self) {
        self.lock().valid.clear();
    }

    /// Token requests so far.
    pub fn fetches(&self) -> Vec<Fetch> {
        self.lock().fetches.clone()
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.lock().issued
    }

    /// Lets in a request whose `Authorization` is a bearer token this endpoint issued, not
    /// revoked and not expired.
    pub fn accepts(&self) -> HeaderPredicate {
        let state = self.state.clone();
        Arc::new(move |headers| {
            let Some(token) = headers
                .get("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
            else {
                return false;
            };
            let s = state.lock().expect("token state");
            s.valid
                .get(token)
                .is_some_and(|expires| Instant::now() < *expires)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("token state")
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut stream, &mut buf).await {
        let (_, headers) = parse_head(&head);
        let form = String::from_utf8_lossy(&body).into_owned();
        let (client_id, secret) = headers
            .get("authorization")
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|pair| {
                pair.split_once(':')
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
            })
            .unwrap_or_default();
        let answer = {
            let mut s = state.lock().expect("token state");
            let (status, text) = if s.mode == TokenMode::Down {
                (503, r#"{"error":"temporarily_unavailable"}"#.to_owned())
            } else if client_id != s.client_id || secret != s.secret {
                (401, r#"{"error":"invalid_client"}"#.to_owned())
            } else if !form.contains("grant_type=client_credentials") {
                (400, r#"{"error":"unsupported_grant_type"}"#.to_owned())
            } else {
                s.issued += 1;
                let token = format!("tok-{}", s.issued);
                let expires = Instant::now() + s.lifetime;
                s.valid.insert(token.clone(), expires);
                let body = format!(
                    r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{}}}"#,
                    s.lifetime.as_secs()
                );
                (200, body)
            };
            s.fetches.push(Fetch {
                client_id: client_id.clone(),
                form: form.clone(),
                status,
            });
            json_answer(status, &text, "")
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
