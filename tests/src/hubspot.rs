//! An emulator of the part of HubSpot's CRM API the adapter uses:
//! bearer-token auth; email engagements (create with deal, contact and
//! company associations, validated; search by property; archive); the v4
//! associations of an engagement (read, add the default type, remove);
//! deals, contacts and companies to pull (list pages with associations,
//! search by last-modified date, batch read of deal→contact
//! associations); HubSpot's rate limit (429 without Retry-After past N
//! requests per window); and fault switches decided per outbox key and
//! attempt: 500s, and a create that commits but whose answer never arrives.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http_server::HttpServer;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
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
    pub contacts: Vec<String>,
    pub companies: Vec<String>,
    pub archived: bool,
}

impl Email {
    fn associated(&mut self, kind: &str) -> Option<&mut Vec<String>> {
        match kind {
            "deals" => Some(&mut self.deals),
            "contacts" => Some(&mut self.contacts),
            "companies" => Some(&mut self.companies),
            _ => None,
        }
    }
}

/// A deal, contact or company record.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// For a deal: its contacts.
    pub contacts: Vec<String>,
    /// Milliseconds, as HubSpot's `hs_lastmodifieddate`.
    pub modified_ms: i64,
}

struct Inner {
    token: String,
    /// deals, contacts, companies.
    records: HashMap<String, Vec<Record>>,
    clock_ms: i64,
    emails: Vec<Email>,
    faults: Faults,
    attempts: HashMap<String, u32>,
    limit: (usize, Duration),
    recent: VecDeque<Instant>,
    rate_limited: usize,
    searches: usize,
    batches: usize,
    lost_answers: usize,
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
            records: HashMap::new(),
            clock_ms: 1_790_000_000_000,
            emails: Vec::new(),
            faults: Faults::default(),
            attempts: HashMap::new(),
            limit,
            recent: VecDeque::new(),
            rate_limited: 0,
            searches: 0,
            batches: 0,
            lost_answers: 0,
        }));
        let app = axum::Router::new()
            .route("/crm/v3/objects/emails", post(create))
            .route("/crm/v3/objects/emails/search", post(search))
            .route("/crm/v3/objects/emails/batch/create", post(create_batch))
            .route("/crm/v3/objects/emails/{id}", delete(archive).patch(update_email))
            .route("/crm/v4/objects/emails/{id}/associations/{kind}", get(associations))
            .route("/crm/v4/objects/emails/{id}/associations/default/{kind}/{to}", put(associate))
            .route("/crm/v4/objects/emails/{id}/associations/{kind}/{to}", delete(dissociate))
            .route("/crm/v3/objects/{kind}", get(list_records))
            .route("/crm/v3/objects/{kind}/search", post(search_records))
            .route("/crm/v4/associations/deals/contacts/batch/read", post(deal_contacts))
            .with_state(inner.clone());
        let server = HttpServer::start(app, None);
        let hubspot =
            HubSpot { url: format!("http://127.0.0.1:{}/", server.port), inner, _server: server };
        for deal in deals {
            hubspot.put_record("deals", deal, serde_json::json!({"dealname": deal}), &[]);
        }
        hubspot
    }

    /// Creates or changes a record (`deals`, `contacts`, `companies`); each
    /// change gets a later modification time.
    pub fn put_record(
        &self,
        kind: &str,
        id: &str,
        properties: serde_json::Value,
        contacts: &[&str],
    ) {
        let mut inner = self.lock();
        inner.clock_ms += 1_000;
        let modified_ms = inner.clock_ms;
        let mut properties = properties.as_object().cloned().unwrap_or_default();
        let stamp = if kind == "contacts" { "lastmodifieddate" } else { "hs_lastmodifieddate" };
        properties.insert(stamp.into(), serde_json::Value::String(modified_ms.to_string()));
        let record = Record {
            id: id.into(),
            properties,
            contacts: contacts.iter().map(|c| c.to_string()).collect(),
            modified_ms,
        };
        let list = inner.records.entry(kind.into()).or_default();
        match list.iter_mut().find(|r| r.id == id) {
            Some(existing) => *existing = record,
            None => list.push(record),
        }
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

    /// Creates committed whose answer was then held past the timeout.
    pub fn lost_answers(&self) -> usize {
        self.lock().lost_answers
    }

    /// `batch/create` requests received.
    pub fn batches(&self) -> usize {
        self.lock().batches
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
    let name = filter["propertyName"].as_str().unwrap_or_default();
    let wanted: Vec<&str> = match filter["operator"].as_str() {
        Some("EQ") => filter["value"].as_str().into_iter().collect(),
        Some("IN") => {
            filter["values"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect()
        }
        _ => return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Unsupported filter."),
    };
    if name.is_empty() || wanted.is_empty() || wanted.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Unsupported filter.");
    }
    let results: Vec<serde_json::Value> = inner
        .emails
        .iter()
        .filter(|e| {
            !e.archived
                && e.properties
                    .get(name)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| wanted.contains(&v))
        })
        .map(|e| serde_json::json!({"id": e.id, "properties": e.properties}))
        .collect();
    Json(serde_json::json!({"total": results.len(), "results": results})).into_response()
}

/// Reads and validates one engagement to create (properties, and
/// associations to records that exist).
fn engagement(inner: &Inner, body: &serde_json::Value) -> Result<Email, Box<Response>> {
    let bad = |message: &str| Box::new(error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message));
    let Some(properties) = body["properties"].as_object().cloned() else {
        return Err(bad("properties is required."));
    };
    if properties.get("hs_timestamp").is_none_or(|t| t.is_null()) {
        return Err(bad("hs_timestamp is required."));
    }
    let mut email = Email {
        id: String::new(),
        properties,
        deals: Vec::new(),
        contacts: Vec::new(),
        companies: Vec::new(),
        archived: false,
    };
    for association in body["associations"].as_array().cloned().unwrap_or_default() {
        let id = association["to"]["id"].as_str().unwrap_or_default().to_string();
        let kind = match association["types"][0]["associationTypeId"].as_u64() {
            Some(210) => "deals",
            Some(198) => "contacts",
            Some(186) => "companies",
            _ => "unknown",
        };
        if !inner.exists(kind, &id) {
            return Err(bad(&format!("One or more associations are invalid: {kind} {id}")));
        }
        if let Some(list) = email.associated(kind) {
            list.push(id);
        }
    }
    Ok(email)
}

/// The fault roll for a request named by `key` (an outbox key, or a
/// batch's first): its attempt number and a number below 100.
fn roll(inner: &mut Inner, key: &str) -> (u32, u64) {
    let attempt = {
        let n = inner.attempts.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    let digest = Sha256::digest(format!("{key}#{attempt}").as_bytes());
    (attempt, u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 100)
}

fn store_email(inner: &mut Inner, mut email: Email) -> serde_json::Value {
    let id = format!("{}", 80_000_000 + inner.emails.len());
    email.id = id.clone();
    let answer = serde_json::json!({"id": id, "properties": email.properties, "archived": false});
    inner.emails.push(email);
    answer
}

async fn create(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let (answer, stall) = {
        let mut inner = match admit(&shared, &headers) {
            Ok(inner) => inner,
            Err(answer) => return *answer,
        };
        let email = match engagement(&inner, &body) {
            Ok(email) => email,
            Err(answer) => return *answer,
        };
        let key = email
            .properties
            .get("dealthread_key")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let (attempt, roll) = roll(&mut inner, &key);
        let faults = inner.faults.clone();
        if attempt <= 4 && roll < faults.server_error_pct {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error.");
        }
        let made = store_email(&mut inner, email);
        let lost = attempt <= 4 && roll < faults.server_error_pct + faults.lost_answer_pct;
        inner.lost_answers += usize::from(lost);
        let answer = (StatusCode::CREATED, Json(made)).into_response();
        (answer, if lost { Some(faults.stall_by) } else { None })
    };
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    answer
}

/// `batch/create`: every input is validated first and one bad input fails
/// the whole batch (400), as HubSpot does; faults roll per request.
async fn create_batch(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let (answer, stall) = {
        let mut inner = match admit(&shared, &headers) {
            Ok(inner) => inner,
            Err(answer) => return *answer,
        };
        inner.batches += 1;
        let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
        if inputs.is_empty() || inputs.len() > 100 {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "inputs must hold 1 to 100 records.",
            );
        }
        let mut emails = Vec::new();
        for input in &inputs {
            match engagement(&inner, input) {
                Ok(email) => emails.push(email),
                Err(answer) => return *answer,
            }
        }
        // Rolled on the request's number, not its contents: which records
        // share a batch depends on the client's retry timing, and the
        // faults must not.
        let sequence = format!("batch#{}", inner.batches);
        let (attempt, roll) = roll(&mut inner, &sequence);
        let faults = inner.faults.clone();
        if attempt <= 4 && roll < faults.server_error_pct {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error.");
        }
        let results: Vec<serde_json::Value> =
            emails.into_iter().map(|e| store_email(&mut inner, e)).collect();
        let lost = attempt <= 4 && roll < faults.server_error_pct + faults.lost_answer_pct;
        inner.lost_answers += usize::from(lost);
        let answer = (
            StatusCode::CREATED,
            Json(serde_json::json!({"status": "COMPLETE", "results": results})),
        )
            .into_response();
        (answer, if lost { Some(faults.stall_by) } else { None })
    };
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    answer
}

impl Inner {
    fn exists(&self, kind: &str, id: &str) -> bool {
        self.records.get(kind).is_some_and(|list| list.iter().any(|r| r.id == id))
    }

    fn email(&mut self, id: &str) -> Option<&mut Email> {
        self.emails.iter_mut().find(|e| e.id == id && !e.archived)
    }
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", &format!("{what} does not exist."))
}

/// Locks, then applies auth and the rate limit.
fn admit<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
) -> Result<MutexGuard<'a, Inner>, Box<Response>> {
    let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
    match refusal(&mut inner, headers) {
        Some(answer) => Err(Box::new(answer)),
        None => Ok(inner),
    }
}

async fn archive(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    match inner.email(&id) {
        Some(email) => {
            email.archived = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(&format!("email {id}")),
    }
}

/// `PATCH` an engagement's properties (an empty string clears one).
async fn update_email(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let mut inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let Some(changes) = body["properties"].as_object().cloned() else {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "properties is required.");
    };
    let Some(email) = inner.email(&id) else {
        return not_found(&format!("email {id}"));
    };
    for (name, value) in changes {
        if value.is_null() || value == "" {
            email.properties.remove(&name);
        } else {
            email.properties.insert(name, value);
        }
    }
    Json(serde_json::json!({"id": email.id, "properties": email.properties})).into_response()
}

async fn associations(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    let mut inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let Some(list) = inner.email(&id).and_then(|e| e.associated(&kind)).cloned() else {
        return not_found(&format!("email {id}"));
    };
    let results: Vec<serde_json::Value> = list
        .iter()
        .map(|to| {
            let number: u64 = to.parse().unwrap_or_default();
            let to_id = if number > 0 { serde_json::json!(number) } else { serde_json::json!(to) };
            serde_json::json!({"toObjectId": to_id, "associationTypes": [{"category": "HUBSPOT_DEFINED", "label": null}]})
        })
        .collect();
    Json(serde_json::json!({"results": results})).into_response()
}

async fn associate(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((id, kind, to)): Path<(String, String, String)>,
) -> Response {
    let mut inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    if !inner.exists(&kind, &to) {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("{kind} {to} does not exist."),
        );
    }
    let Some(list) = inner.email(&id).and_then(|e| e.associated(&kind)) else {
        return not_found(&format!("email {id}"));
    };
    if !list.contains(&to) {
        list.push(to.clone());
    }
    Json(serde_json::json!({"status": "COMPLETE", "results": [{"from": {"id": id}, "to": {"id": to}}]})).into_response()
}

async fn dissociate(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((id, kind, to)): Path<(String, String, String)>,
) -> Response {
    let mut inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let Some(list) = inner.email(&id).and_then(|e| e.associated(&kind)) else {
        return not_found(&format!("email {id}"));
    };
    list.retain(|t| *t != to);
    StatusCode::NO_CONTENT.into_response()
}

/// A record as the list and search endpoints answer it.
fn record_json(record: &Record, kind: &str, with_contacts: bool) -> serde_json::Value {
    let mut value = serde_json::json!({
        "id": record.id,
        "properties": record.properties,
        "archived": false,
    });
    if with_contacts && kind == "deals" {
        let results: Vec<serde_json::Value> = record
            .contacts
            .iter()
            .map(|c| serde_json::json!({"id": c, "type": "deal_to_contact"}))
            .collect();
        value["associations"] = serde_json::json!({"contacts": {"results": results}});
    }
    value
}

/// One page from `offset`: the results and the next `after`, if any.
fn page(records: Vec<serde_json::Value>, offset: usize, limit: usize) -> serde_json::Value {
    let limit = limit.clamp(1, 100);
    let next = offset + limit;
    let results: Vec<serde_json::Value> =
        records.iter().skip(offset).take(limit).cloned().collect();
    let mut body = serde_json::json!({"results": results});
    if next < records.len() {
        body["paging"] = serde_json::json!({"next": {"after": next.to_string()}});
    }
    body["total"] = serde_json::json!(records.len());
    body
}

async fn list_records(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let with_contacts =
        query.get("associations").is_some_and(|a| a.split(',').any(|k| k == "contacts"));
    let records: Vec<serde_json::Value> = inner
        .records
        .get(&kind)
        .into_iter()
        .flatten()
        .map(|r| record_json(r, &kind, with_contacts))
        .collect();
    let offset = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let limit = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    Json(page(records, offset, limit)).into_response()
}

/// Search by last-modified date (`GTE`), oldest change first, as an
/// incremental pull asks it.
async fn search_records(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let filter = &body["filterGroups"][0]["filters"][0];
    let since: Option<i64> = match (filter["operator"].as_str(), filter["value"].as_str()) {
        (Some("GTE"), Some(value)) => value.parse().ok(),
        _ => None,
    };
    let Some(since) = since else {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Unsupported filter.");
    };
    let mut found: Vec<&Record> =
        inner.records.get(&kind).into_iter().flatten().filter(|r| r.modified_ms >= since).collect();
    found.sort_by_key(|r| r.modified_ms);
    let records = found.into_iter().map(|r| record_json(r, &kind, false)).collect();
    let offset = body["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(10) as usize;
    Json(page(records, offset, limit)).into_response()
}

async fn deal_contacts(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let inner = match admit(&shared, &headers) {
        Ok(inner) => inner,
        Err(answer) => return *answer,
    };
    let results: Vec<serde_json::Value> = body["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|input| input["id"].as_str())
        .filter_map(|id| inner.records.get("deals")?.iter().find(|r| r.id == id))
        .map(|deal| {
            let to: Vec<serde_json::Value> = deal
                .contacts
                .iter()
                .map(|c| serde_json::json!({"toObjectId": c.parse::<u64>().map_or(serde_json::json!(c), |n| serde_json::json!(n)), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}))
                .collect();
            serde_json::json!({"from": {"id": deal.id}, "to": to})
        })
        .collect();
    Json(serde_json::json!({"status": "COMPLETE", "results": results})).into_response()
}
