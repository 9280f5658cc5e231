//! A webhook receiver standing in for the team's CRM endpoint: it verifies
//! Dealthread's signature as the README tells receivers to, keeps one
//! activity per `Idempotency-Key`, and fails on purpose (500s, 429 storms,
//! an answer lost after the activity was committed, a refused signature,
//! a request it rejects as invalid).
//!
//! Faults are decided per key and attempt from a hash, never from timing, so
//! a scenario goes the same way on every run; no key fails more than four
//! times in a row, so every activity arrives within the outbox's ten tries.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::http_server::HttpServer;

/// How far a signature's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Fault rates in percent of requests, and the switches.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// 500 before anything is committed.
    pub server_error_pct: u64,
    /// 429 with `Retry-After: retry_after_secs`.
    pub rate_limited_pct: u64,
    pub retry_after_secs: u64,
    /// The activity is committed, then the answer is withheld for
    /// `stall_by` (longer than the client waits): the dangerous case.
    pub lost_answer_pct: u64,
    pub stall_by: Duration,
    /// The next N requests get 429 whatever their key.
    pub storm: u32,
    /// Keys answered 422 (the request is invalid): dead-lettered.
    pub reject: HashSet<String>,
    /// The next N requests are answered 422 whatever their key.
    pub reject_next: u32,
    /// Every request waits this long first (to catch a pusher mid-request).
    pub delay: Duration,
}

/// What the receiver kept.
#[derive(Debug, Clone)]
pub struct Activity {
    pub body: serde_json::Value,
    /// How many requests carried this key (1 = no re-send).
    pub deliveries: u32,
}

#[derive(Default)]
struct Inner {
    secret: String,
    faults: Faults,
    activities: HashMap<String, Activity>,
    attempts: HashMap<String, u32>,
    statuses: Vec<u16>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct Receiver {
    pub url: String,
    inner: Shared,
    _server: HttpServer,
}

impl Receiver {
    /// Listens on 127.0.0.1, accepting signatures made with `secret`.
    pub fn start(secret: &str) -> Receiver {
        let inner: Shared =
            Arc::new(Mutex::new(Inner { secret: secret.into(), ..Inner::default() }));
        let app =
            axum::Router::new().route("/hooks/dealthread", post(receive)).with_state(inner.clone());
        let server = HttpServer::start(app, None);
        Receiver {
            url: format!("http://127.0.0.1:{}/hooks/dealthread", server.port),
            inner,
            _server: server,
        }
    }

    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    /// Accept signatures made with this secret from now on.
    pub fn set_secret(&self, secret: &str) {
        self.lock().secret = secret.into();
    }

    /// The activities kept, by idempotency key.
    pub fn activities(&self) -> HashMap<String, Activity> {
        self.lock().activities.clone()
    }

    /// The status of every request answered, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.lock().statuses.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks `X-Dealthread-Signature: t=T,v1=HEX[,v1=HEX]` against `secret`
/// the way the README tells receivers to: the timestamp within the
/// tolerance, and any v1 equal (in constant time) to HMAC-SHA256 of
/// `T.body`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    signatures.iter().any(|signature| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    })
}

/// A number in 0..100 for a key's n-th attempt.
fn roll(key: &str, attempt: u32) -> u64 {
    let digest = Sha256::digest(format!("{key}#{attempt}").as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 100
}

enum Fault {
    None,
    ServerError,
    RateLimited(u64),
    LostAnswer(Duration),
    Reject,
}

async fn receive(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = inner.lock().unwrap_or_else(|p| p.into_inner()).faults.delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let signature =
        headers.get("x-dealthread-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let fault = {
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(key) = key.clone() else {
            inner.statuses.push(400);
            return (StatusCode::BAD_REQUEST, r#"{"error":"Idempotency-Key is required"}"#)
                .into_response();
        };
        if !verify(&inner.secret, signature, &body, now) {
            inner.statuses.push(401);
            return (StatusCode::UNAUTHORIZED, r#"{"error":"bad signature"}"#).into_response();
        }
        let attempt = {
            let n = inner.attempts.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let faults = &mut inner.faults;
        let roll = roll(&key, attempt);
        let fault = if faults.reject.contains(&key) {
            Fault::Reject
        } else if faults.reject_next > 0 {
            faults.reject_next -= 1;
            Fault::Reject
        } else if faults.storm > 0 {
            faults.storm -= 1;
            Fault::RateLimited(faults.retry_after_secs)
        } else if attempt > 4 {
            Fault::None
        } else if roll < faults.server_error_pct {
            Fault::ServerError
        } else if roll < faults.server_error_pct + faults.rate_limited_pct {
            Fault::RateLimited(faults.retry_after_secs)
        } else if roll < faults.server_error_pct + faults.rate_limited_pct + faults.lost_answer_pct
        {
            Fault::LostAnswer(faults.stall_by)
        } else {
            Fault::None
        };
        let status = match &fault {
            Fault::None | Fault::LostAnswer(_) => {
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                inner
                    .activities
                    .entry(key.clone())
                    .and_modify(|a| a.deliveries += 1)
                    .or_insert(Activity { body: parsed, deliveries: 1 });
                200
            }
            Fault::ServerError => 500,
            Fault::RateLimited(_) => 429,
            Fault::Reject => 422,
        };
        inner.statuses.push(status);
        fault
    };
    let id =
        format!("act_{}", hex::encode(&Sha256::digest(key.unwrap_or_default().as_bytes())[..6]));
    match fault {
        Fault::None => (StatusCode::OK, format!(r#"{{"id":"{id}"}}"#)).into_response(),
        Fault::LostAnswer(stall) => {
            tokio::time::sleep(stall).await;
            (StatusCode::OK, format!(r#"{{"id":"{id}"}}"#)).into_response()
        }
        Fault::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":"internal"}"#).into_response()
        }
        Fault::RateLimited(after) => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, after.to_string())], "slow down")
                .into_response()
        }
        Fault::Reject => (
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":"invalid","message":"deal_id is not a known deal"}"#,
        )
            .into_response(),
    }
}
