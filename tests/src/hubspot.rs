//! An emulator of the part of HubSpot's CRM v3 API the adapter uses:
//! bearer-token auth, email engagements (create with deal associations,
//! validated; search by property), HubSpot's rate limit (429 without
//! Retry-After past N requests per window), and fault switches decided per
//! outbox key and attempt: 500s, and a create that commits but whose
//! answer never arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http_server::HttpServer;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub server_error_pct: u64,
    /// The engagement is created, then the answer is held past the
    /// client's timeout.
    pub lost_answer_pct: u64,
    pub stall_by: Duration,
}

/// An email engagement as stored.
#[derive(Debug, Clone)]
pub struct Email {
    pub id: String,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub deals: Vec<String>,
}

struct Inner {
    token: String,
    deals: HashSet<String>,
    emails: Vec<Email>,
    faults: Faults,
    attempts: HashMap<String, u32>,
    limit: (usize, Duration),
    recent: VecDeque<Instant>,
    rate_limited: usize,
    searches: usize,
}

type Shared = Arc<Mutex<Inner>>;

pub struct HubSpot {
    pub url: String,
    inner: Shared,
    _server: HttpServer,
}

impl HubSpot {
    /// Serves on 127.0.0.1 for `token`, knowing `deals`, allowing `limit`
    /// requests per window.
    pub fn start(token: &str, deals: &[String], limit: (usize, Duration)) -> HubSpot {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.into(),
            deals: deals.iter().cloned().collect(),
            emails: Vec::new(),
            faults: Faults::default(),
            attempts: HashMap::new(),
            limit,
            recent: VecDeque::new(),
            rate_limited: 0,
            searches: 0,
        }));
        let app = axum::Router::new()
            .route("/crm/v3/objects/emails", post(create))
            .route("/crm/v3/objects/emails/search", post(search))
            .with_state(inner.clone());
        let server = HttpServer::start(app, None);
        HubSpot { url: format!("http://127.0.0.1:{}/", server.port), inner, _server: server }
    }

    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    pub fn set_token(&self, token: &str) {
        self.lock().token = token.into();
    }

    pub fn emails(&self) -> Vec<Email> {
        self.lock().emails.clone()
    }

    /// 429s the rate limit answered (a client that paces itself gets none).
    pub fn rate_limited(&self) -> usize {
        self.lock().rate_limited
    }

    pub fn searches(&self) -> usize {
        self.lock().searches
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({"status": "error", "message": message, "category": category})))
        .into_response()
}

/// Auth and the rate limit, as every endpoint applies them: the answer
/// that refuses the request, if one does.
fn refusal(inner: &mut Inner, headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", inner.token);
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found.",
        ));
    }
    let now = Instant::now();
    let (max, window) = inner.limit;
    while inner.recent.front().is_some_and(|t| now.duration_since(*t) > window) {
        inner.recent.pop_front();
    }
    if inner.recent.len() >= max {
        inner.rate_limited += 1;
        return Some(error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITS",
            "You have reached your secondly limit.",
        ));
    }
    inner.recent.push_back(now);
    None
}

async fn search(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(answer) = refusal(&mut inner, &headers) {
        return answer;
    }
    inner.searches += 1;
    let filter = &body["filterGroups"][0]["filters"][0];
    let (Some(name), Some("EQ"), Some(value)) =
        (filter["propertyName"].as_str(), filter["operator"].as_str(), filter["value"].as_str())
    else {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Unsupported filter.");
    };
    let results: Vec<serde_json::Value> = inner
        .emails
        .iter()
        .filter(|e| e.properties.get(name).and_then(|v| v.as_str()) == Some(value))
        .map(|e| serde_json::json!({"id": e.id, "properties": e.properties}))
        .collect();
    Json(serde_json::json!({"total": results.len(), "results": results})).into_response()
}

async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let (answer, stall) = {
        let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(answer) = refusal(&mut inner, &headers) {
            return answer;
        }
        let Some(properties) = body["properties"].as_object().cloned() else {
            return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "properties is required.");
        };
        if properties.get("hs_timestamp").is_none_or(|t| t.is_null()) {
            return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "hs_timestamp is required.");
        }
        let mut deals = Vec::new();
        for association in body["associations"].as_array().cloned().unwrap_or_default() {
            let id = association["to"]["id"].as_str().unwrap_or_default().to_string();
            let typed = association["types"][0]["associationTypeId"].as_u64() == Some(210);
            if !typed || !inner.deals.contains(&id) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("One or more associations are invalid: deal {id}"),
                );
            }
            deals.push(id);
        }
        let key =
            properties.get("dealthread_key").and_then(|k| k.as_str()).unwrap_or("").to_string();
        let attempt = {
            let n = inner.attempts.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let roll = {
            let digest = Sha256::digest(format!("{key}#{attempt}").as_bytes());
            u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 100
        };
        let faults = inner.faults.clone();
        if attempt <= 4 && roll < faults.server_error_pct {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error.");
        }
        let id = format!("{}", 80_000_000 + inner.emails.len());
        inner.emails.push(Email { id: id.clone(), properties: properties.clone(), deals });
        let lost = attempt <= 4 && roll < faults.server_error_pct + faults.lost_answer_pct;
        let answer = (
            StatusCode::CREATED,
            Json(serde_json::json!({"id": id, "properties": properties, "archived": false})),
        )
            .into_response();
        (answer, if lost { Some(faults.stall_by) } else { None })
    };
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    answer
}
