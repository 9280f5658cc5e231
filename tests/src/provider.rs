//! An emulator of the inbound provider's REST API (DESIGN.md), for the
//! scenario tests: the provider is on the internet and cannot be reached
//! from here, so this speaks its documented contract from fixture messages,
//! over HTTP or HTTPS (a self-signed certificate, pinned by the client),
//! with switches for the failures a real one shows.
//!
//! - `GET /v1/messages?after=CURSOR&limit=N` answers
//!   `{"messages": [...], "next_cursor": "..."}`; each entry carries the
//!   parsed message as JSON (headers, bodies, attachments) and its
//!   `raw_url`.
//! - `GET /v1/messages/{id}/raw` answers the raw MIME, 410 once expired.
//! - Every request needs `Authorization: Bearer <key>`, else 401.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Deserialize;

use crate::http_server::HttpServer;

pub const API_KEY: &str = "pk_test_dealthread_emulator";

/// The failures to show, each used up as it is served.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next N requests get 429 with `Retry-After: retry_after_secs`.
    pub rate_limited: u32,
    pub retry_after_secs: u64,
    /// The next N requests get 500.
    pub server_errors: u32,
    /// The next N requests are answered only after this long.
    pub slow: u32,
    pub slow_by: Duration,
    /// The next N page answers stop half way (the connection closes before
    /// the promised Content-Length).
    pub truncated_pages: u32,
    /// Likewise for the next N raw downloads.
    pub truncated_raws: u32,
    /// Raw copies that have expired (410 Gone).
    pub expired: HashSet<String>,
    /// Raw copies answered with bytes that are not MIME (a PNG).
    pub not_mime: HashSet<String>,
    /// The next page answer re-sends the page before the cursor asked for.
    pub replay_once: bool,
    /// Every raw download waits this long (to catch a sync mid-page).
    pub raw_delay: Duration,
    /// Entries added to the next page as they are, broken on purpose.
    pub broken_entries: Vec<serde_json::Value>,
}

/// One request as served: the path and query, and the status sent.
#[derive(Debug, Clone)]
pub struct Served {
    pub target: String,
    pub status: u16,
}

struct Message {
    id: String,
    raw: Vec<u8>,
    json: serde_json::Value,
}

#[derive(Default)]
struct Inner {
    messages: Vec<Message>,
    faults: Faults,
    served: Vec<Served>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running emulator; stops when dropped.
pub struct Provider {
    /// The base URL to configure the source with.
    pub url: String,
    /// SHA-256 of the certificate, when serving HTTPS.
    pub fingerprint: Option<String>,
    inner: Shared,
    _server: HttpServer,
}

impl Provider {
    /// Serves plain HTTP on 127.0.0.1.
    pub fn start(messages: &[Vec<u8>]) -> Provider {
        Provider::launch(messages, None)
    }

    /// Serves HTTPS on 127.0.0.1 with a self-signed certificate made in
    /// `dir` (by openssl, as the Dovecot harness does).
    pub fn start_tls(messages: &[Vec<u8>], dir: &Path) -> Provider {
        Provider::launch(messages, Some(dir))
    }

    fn launch(messages: &[Vec<u8>], tls_dir: Option<&Path>) -> Provider {
        let inner: Shared = Arc::default();
        let tls = tls_dir.map(tls_acceptor);
        let fingerprint = tls.as_ref().map(|(_, fingerprint)| fingerprint.clone());
        let app = axum::Router::new()
            .route("/v1/messages", get(page))
            .route("/v1/messages/{id}/raw", get(raw))
            .with_state(inner.clone());
        let server = HttpServer::start(app, tls.map(|(acceptor, _)| acceptor));
        let scheme = if fingerprint.is_some() { "https" } else { "http" };
        let provider = Provider {
            url: format!("{scheme}://127.0.0.1:{}/", server.port),
            fingerprint,
            inner,
            _server: server,
        };
        provider.add(messages);
        provider
    }

    /// Delivers more messages; ids continue from the last.
    pub fn add(&self, messages: &[Vec<u8>]) {
        let mut inner = self.lock();
        for raw in messages {
            let id = format!("msg_{:06}", inner.messages.len() + 1);
            let json = entry_json(&id, raw);
            inner.messages.push(Message { id, raw: raw.clone(), json });
        }
    }

    /// The provider id of the n-th message delivered (from 0).
    pub fn id(n: usize) -> String {
        format!("msg_{:06}", n + 1)
    }

    /// Changes the failures to show.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    /// Every request served so far.
    pub fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The JSON a provider makes of a message: header fields, bodies and
/// attachments as it parsed them (mail-parser stands in for its parser).
pub fn entry_json(id: &str, raw: &[u8]) -> serde_json::Value {
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(raw);
    let mut headers = serde_json::Map::new();
    let mut attachments = Vec::new();
    let (mut text, mut html) = (None, None);
    if let Some(message) = &parsed {
        for field in message.headers() {
            let start = field.offset_start() as usize;
            let end = field.offset_end() as usize;
            let value = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default());
            let value = value.split(['\r', '\n']).map(str::trim).collect::<Vec<_>>().join(" ");
            let values = headers
                .entry(field.name().to_string())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(values) = values {
                values.push(value.trim().to_string().into());
            }
        }
        if !message.text_bodies().next().is_none_or(|p| p.is_text_html()) {
            text = message.body_text(0).map(|t| t.into_owned());
        }
        html = message
            .html_bodies()
            .find(|p| p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(str::to_string);
        for part in message.attachments() {
            attachments.push(serde_json::json!({
                "filename": part.attachment_name(),
                "content_type": part.content_type().map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_string(),
                }),
                "content_id": part.content_id(),
                "size": part.contents().len(),
                "content_base64": base64::engine::general_purpose::STANDARD.encode(part.contents()),
            }));
        }
    }
    serde_json::json!({
        "id": id,
        "received_at": "2026-11-20T09:00:00Z",
        "envelope": {"mail_from": null, "rcpt_to": ["inbound@in.dealthread.test"]},
        "headers": headers,
        "bodies": {"text": text, "html": html},
        "attachments": attachments,
        "raw_url": format!("/v1/messages/{id}/raw"),
    })
}

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Checks the key and the switches every request goes through; `Err` is
/// the answer to send instead.
async fn admit(inner: &Shared, headers: &HeaderMap, target: String) -> Result<(), Response> {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    let (answer, delay) = {
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        let faults = &mut inner.faults;
        let delay = if faults.slow > 0 {
            faults.slow -= 1;
            Some(faults.slow_by)
        } else {
            None
        };
        let answer = if !authorized {
            Some((StatusCode::UNAUTHORIZED, None))
        } else if faults.rate_limited > 0 {
            faults.rate_limited -= 1;
            Some((StatusCode::TOO_MANY_REQUESTS, Some(faults.retry_after_secs)))
        } else if faults.server_errors > 0 {
            faults.server_errors -= 1;
            Some((StatusCode::INTERNAL_SERVER_ERROR, None))
        } else {
            None
        };
        let status = answer.map_or(200, |(s, _)| s.as_u16());
        inner.served.push(Served { target, status });
        (answer, delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match answer {
        None => Ok(()),
        Some((StatusCode::UNAUTHORIZED, _)) => Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            r#"{"error":"invalid_api_key","message":"The API key is not valid."}"#,
        )
            .into_response()),
        Some((status, Some(after))) => {
            Err((status, [(header::RETRY_AFTER, after.to_string())], r#"{"error":"rate_limited"}"#)
                .into_response())
        }
        Some((status, None)) => {
            Err((status, r#"{"error":"internal","message":"Try again later."}"#).into_response())
        }
    }
}

async fn page(
    State(inner): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let target = format!(
        "/v1/messages?after={}&limit={}",
        query.after.as_deref().unwrap_or(""),
        query.limit.unwrap_or(0)
    );
    if let Err(answer) = admit(&inner, &headers, target).await {
        return answer;
    }
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut after: usize = match query.after.as_deref().map(|c| c.strip_prefix('c').map(str::parse))
    {
        None => 0,
        Some(Some(Ok(n))) => n,
        _ => {
            return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_cursor"}"#).into_response();
        }
    };
    if std::mem::take(&mut inner.faults.replay_once) {
        after = after.saturating_sub(limit);
    }
    let after = after.min(inner.messages.len());
    let end = (after + limit).min(inner.messages.len());
    let mut entries: Vec<serde_json::Value> =
        inner.messages[after..end].iter().map(|m| m.json.clone()).collect();
    entries.append(&mut inner.faults.broken_entries);
    let body = serde_json::json!({"messages": entries, "next_cursor": format!("c{end}")});
    let body = serde_json::to_vec(&body).unwrap_or_default();
    if inner.faults.truncated_pages > 0 {
        inner.faults.truncated_pages -= 1;
        return cut_off(body, "application/json");
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn raw(
    State(inner): State<Shared>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = admit(&inner, &headers, format!("/v1/messages/{id}/raw")).await {
        return answer;
    }
    let delay = inner.lock().unwrap_or_else(|p| p.into_inner()).faults.raw_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    let Some(bytes) = inner.messages.iter().find(|m| m.id == id).map(|m| m.raw.clone()) else {
        return (StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#).into_response();
    };
    if inner.faults.expired.contains(&id) {
        return (StatusCode::GONE, r#"{"error":"raw_expired"}"#).into_response();
    }
    if inner.faults.not_mime.contains(&id) {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
        return ([(header::CONTENT_TYPE, "message/rfc822")], png).into_response();
    }
    if inner.faults.truncated_raws > 0 {
        inner.faults.truncated_raws -= 1;
        return cut_off(bytes, "message/rfc822");
    }
    ([(header::CONTENT_TYPE, "message/rfc822")], bytes).into_response()
}

/// An answer that promises the whole body and sends half before the
/// connection drops, as a proxy or a reset does.
fn cut_off(body: Vec<u8>, content_type: &'static str) -> Response {
    let full = body.len();
    let half = Bytes::from(body[..full / 2].to_vec());
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut off on purpose")),
    ];
    let stream = futures_util::stream::iter(chunks);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, full)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn tls_acceptor(dir: &Path) -> (tokio_rustls::TlsAcceptor, String) {
    let (cert, key) = (dir.join("provider.crt"), dir.join("provider.key"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (installed by the test command) makes the test certificate");
    assert!(status.success(), "openssl could not make a certificate");
    let der = |path: &Path, args: &[&str]| -> Vec<u8> {
        let output = std::process::Command::new("openssl")
            .args(args)
            .arg("-in")
            .arg(path)
            .args(["-outform", "DER"])
            .output()
            .expect("openssl converts to DER");
        assert!(output.status.success(), "openssl {args:?} -outform DER");
        output.stdout
    };
    let cert_der = der(&cert, &["x509"]);
    let key_der = der(&key, &["pkcs8", "-topk8", "-nocrypt"]);
    use sha2::Digest;
    let fingerprint = hex::encode(sha2::Sha256::digest(&cert_der));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
        )
        .expect("the test certificate and key");
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), fingerprint)
}
