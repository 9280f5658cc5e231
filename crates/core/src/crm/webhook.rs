//! The `webhook` adapter: one signed JSON POST per activity to a URL the
//! team sets, for any CRM or integration platform (DESIGN.md).
//!
//! Each request carries `Idempotency-Key` (the outbox key: the same on
//! every retry) and `X-Dealthread-Signature: t=<unix seconds>,v1=<hex>`,
//! the HMAC-SHA256 of `<t>.<body>` under the signing secret. During a
//! rotation the secret holds two keys (separated by white space) and the
//! header carries one `v1` per key, so a receiver that knows either accepts
//! the request.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::outbox::{Adapter, Delivery, Item};
use crate::sources::{SourceError, tls};

pub const KIND: &str = "webhook";

/// A webhook connection's configuration. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub name: String,
    /// HTTPS, or plain HTTP to this machine only.
    pub url: String,
    #[serde(default)]
    pub pin_sha256: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    30
}

impl WebhookConfig {
    pub fn new(name: &str, url: &str) -> WebhookConfig {
        WebhookConfig {
            name: name.into(),
            url: url.into(),
            pin_sha256: None,
            secret_env: None,
            timeout_secs: default_timeout_secs(),
        }
    }

    /// The URL, checked: HTTPS, or plain HTTP to this machine only.
    pub fn checked_url(&self) -> Result<Url, SourceError> {
        let url = Url::parse(&self.url).map_err(|e| {
            SourceError::Config(format!("{}: {:?} is not a URL: {e}", self.name, self.url))
        })?;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
        match url.scheme() {
            "https" => Ok(url),
            "http" if tls::is_loopback(&host) => Ok(url),
            _ => Err(SourceError::Config(format!(
                "{}: {} must be an https:// URL (plain HTTP only to this machine)",
                self.name, self.url
            ))),
        }
    }
}

/// The signature header for `body` sent at `timestamp` under each key.
pub fn signature(keys: &[Vec<u8>], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for key in keys {
        // HMAC takes keys of any length; this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { continue };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// The keys of a signing secret: one, or two during a rotation.
pub fn keys(secret: &str) -> Vec<Vec<u8>> {
    secret.split_whitespace().take(2).map(|k| k.as_bytes().to_vec()).collect()
}

pub struct Webhook {
    config: WebhookConfig,
    url: Url,
    keys: Vec<Vec<u8>>,
    http: reqwest::blocking::Client,
}

impl Webhook {
    pub fn new(config: &WebhookConfig, secret: &str) -> Result<Webhook, SourceError> {
        let url = config.checked_url()?;
        let keys = keys(secret);
        if keys.is_empty() {
            return Err(SourceError::Config(format!(
                "{}: the signing secret is empty",
                config.name
            )));
        }
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let (http, _) = tls::http_client(&config.name, config.pin_sha256.as_deref(), timeout)?;
        Ok(Webhook { config: config.clone(), url, keys, http })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Result<Webhook, SourceError> {
        let (http, _) =
            tls::http_client(&self.config.name, self.config.pin_sha256.as_deref(), timeout)?;
        self.http = http;
        Ok(self)
    }
}

impl Adapter for Webhook {
    fn deliver(&self, item: &Item) -> Delivery {
        let body = serde_json::json!({
            "id": item.idempotency_key,
            "type": format!("activity.{}", item.operation),
            "data": item.payload,
        });
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(e) => {
                return Delivery::Dead {
                    reason: format!("the activity could not be written as JSON: {e}"),
                };
            }
        };
        let timestamp = crate::ingest::unix_now();
        let sent = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &item.idempotency_key)
            .header("X-Dealthread-Signature", signature(&self.keys, timestamp, &body))
            .body(body)
            .send();
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let reason = if error.is_timeout() {
                    format!("no answer within {} s", self.config.timeout_secs)
                } else {
                    let mut text = error.to_string();
                    let mut cause = std::error::Error::source(&error);
                    while let Some(inner) = cause {
                        text.push_str(": ");
                        text.push_str(&inner.to_string());
                        cause = inner.source();
                    }
                    text
                };
                return Delivery::Retry { reason, after: None };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(900)));
        let text = response.text().unwrap_or_default();
        if (200..300).contains(&status) {
            let crm_object_id = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_string)));
            return Delivery::Sent { crm_object_id };
        }
        let excerpt: String =
            text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
        let reason = if excerpt.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {excerpt}")
        };
        match status {
            401 | 403 => Delivery::Paused {
                reason: format!(
                    "{}: the receiver refused the signature ({reason}); check the signing secret",
                    self.config.name
                ),
            },
            408 | 409 | 429 | 500..=599 => Delivery::Retry { reason, after: retry_after },
            _ => Delivery::Dead { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_under_each_key() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_one
        let header = signature(&keys("whsec_one whsec_two"), 1_700_000_000, br#"{"a":1}"#);
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(parts.len(), 3, "one v1 per key: {header}");
        assert!(parts[1..].iter().all(|p| p.starts_with("v1=") && p.len() == 67), "{header}");
        assert_ne!(parts[1], parts[2]);
        assert_eq!(
            parts[1], "v1=3c2a43f6f69d57ddfe8e506b006b338393c7a8c400e77c5f191ba17e15763c74",
            "matches openssl's HMAC"
        );
        let again = signature(&keys("whsec_one"), 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(again, format!("{},{}", parts[0], parts[1]));
    }
}
