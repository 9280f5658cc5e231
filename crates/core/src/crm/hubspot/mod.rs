//! The `hubspot` adapter: each activity becomes an email engagement
//! (`POST /crm/v3/objects/emails`, direction `INCOMING_EMAIL`) associated
//! with its deal, contact and company; a correction's update moves those
//! associations (v4 associations API) or archives the engagement.
//!
//! HubSpot has no idempotency keys, so the outbox key is stored on the
//! engagement in the custom email property `dealthread_key`, and every
//! delivery first searches for it (`POST /crm/v3/objects/emails/search`): a
//! re-send after a lost answer finds the engagement and records its id
//! instead of creating a second one. Requests go through a token bucket
//! (100 per 10 seconds by default, HubSpot's limit for private apps), and a
//! 429 is still waited out.

pub mod pull;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::outbox::{Adapter, Delivery, Item};
use crate::sources::{SourceError, tls};

pub const KIND: &str = "hubspot";
/// The custom email property that holds the outbox key.
pub const KEY_PROPERTY: &str = "dealthread_key";
/// HubSpot's default association types from an email engagement.
const EMAIL_TO_DEAL: u32 = 210;
const EMAIL_TO_CONTACT: u32 = 198;
const EMAIL_TO_COMPANY: u32 = 186;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubspotConfig {
    pub name: String,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub pin_sha256: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Requests allowed per `window_secs` (client side, before HubSpot's own
    /// limit answers 429).
    #[serde(default = "default_requests")]
    pub requests: u32,
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
    /// Engagements created per `batch/create` request (1 to 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_base_url() -> String {
    "https://api.hubapi.com/".into()
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_requests() -> u32 {
    100
}
fn default_window_secs() -> u64 {
    10
}
fn default_batch_size() -> usize {
    100
}

impl HubspotConfig {
    pub fn new(name: &str) -> HubspotConfig {
        HubspotConfig {
            name: name.into(),
            base_url: default_base_url(),
            pin_sha256: None,
            secret_env: None,
            timeout_secs: default_timeout_secs(),
            requests: default_requests(),
            window_secs: default_window_secs(),
            batch_size: default_batch_size(),
        }
    }

    /// The API's base URL, checked: HTTPS, or plain HTTP to this machine.
    pub fn checked_url(&self) -> Result<Url, SourceError> {
        let mut url = Url::parse(&self.base_url).map_err(|e| {
            SourceError::Config(format!("{}: {:?} is not a URL: {e}", self.name, self.base_url))
        })?;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
        if url.scheme() != "https" && !(url.scheme() == "http" && tls::is_loopback(&host)) {
            return Err(SourceError::Config(format!(
                "{}: {} must be an https:// URL",
                self.name, self.base_url
            )));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }
}

/// A token bucket that keeps any sliding `window` at or under `limit`
/// requests: a burst of a tenth of the limit, then a steady rate for the
/// rest (burst + rate x window = limit).
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(limit: u32, window: Duration) -> Bucket {
        let limit = f64::from(limit.max(2));
        let capacity = (limit / 10.0).floor().max(1.0);
        Bucket {
            capacity,
            per_second: (limit - capacity) / window.as_secs_f64().max(0.001),
            tokens: capacity,
            at: Instant::now(),
        }
    }

    /// How long to wait before the next request may go; takes its token.
    fn take(&mut self) -> Duration {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> Duration {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_second)
            .min(self.capacity);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

pub struct Hubspot {
    config: HubspotConfig,
    base: Url,
    token: String,
    http: reqwest::blocking::Client,
    bucket: Mutex<Bucket>,
}

/// One HubSpot answer, read.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: serde_json::Value,
    text: String,
}

impl Hubspot {
    pub fn new(config: &HubspotConfig, token: &str) -> Result<Hubspot, SourceError> {
        let base = config.checked_url()?;
        if token.trim().is_empty() {
            return Err(SourceError::Config(format!(
                "{}: the private-app token is empty",
                config.name
            )));
        }
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let (http, _) = tls::http_client(&config.name, config.pin_sha256.as_deref(), timeout)?;
        let bucket = Bucket::new(config.requests, Duration::from_secs(config.window_secs.max(1)));
        Ok(Hubspot {
            config: config.clone(),
            base,
            token: token.trim().to_string(),
            http,
            bucket: Mutex::new(bucket),
        })
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<Answer, Delivery> {
        self.request(reqwest::Method::POST, path, Some(body))
    }

    /// One paced request to HubSpot, its answer read whatever the status.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, Delivery> {
        let wait = self.bucket.lock().map(|mut b| b.take()).unwrap_or_default();
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let url =
            self.base.join(path).map_err(|e| Delivery::Dead { reason: format!("{path}: {e}") })?;
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().map_err(|error| Delivery::Retry {
            reason: if error.is_timeout() {
                format!("no answer from HubSpot within {} s", self.config.timeout_secs)
            } else {
                format!("HubSpot could not be reached: {error}")
            },
            after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(900)));
        let text = response.text().map_err(|e| Delivery::Retry {
            reason: format!("HubSpot's answer was cut off: {e}"),
            after: None,
        })?;
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Ok(Answer { status, retry_after, body, text })
    }

    /// The outcome of an unsuccessful answer.
    fn refusal(&self, answer: &Answer, doing: &str) -> Delivery {
        let message = answer
            .body
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| answer.text.chars().take(200).collect());
        let reason = format!("HubSpot answered HTTP {} to {doing}: {message}", answer.status);
        match answer.status {
            401 | 403 => Delivery::Paused {
                reason: format!("{}: HubSpot refused the token ({reason})", self.config.name),
            },
            // HubSpot's 429s carry no Retry-After; its limit is per 10 s.
            429 => Delivery::Retry {
                reason,
                after: Some(answer.retry_after.unwrap_or(Duration::from_secs(10))),
            },
            408 | 409 | 500..=599 => Delivery::Retry { reason, after: answer.retry_after },
            _ => Delivery::Dead { reason },
        }
    }

    /// The engagement already made for this key, if any.
    fn find(&self, key: &str) -> Result<Option<String>, Delivery> {
        let key = stored_key(key);
        Ok(self.find_many(std::slice::from_ref(&key))?.remove(&key))
    }
}

impl Adapter for Hubspot {
    fn deliver(&self, item: &Item) -> Delivery {
        match item.operation.as_str() {
            "update" => self.update(item),
            _ => self.create(item),
        }
    }

    /// HubSpot's batch endpoints take up to 100 records.
    fn batch_size(&self) -> usize {
        self.config.batch_size.clamp(1, 100)
    }

    fn deliver_batch(&self, items: &[Item]) -> Vec<Delivery> {
        if items.iter().all(|i| i.operation == "create") {
            self.create_batch(items)
        } else {
            items.iter().map(|item| self.deliver(item)).collect()
        }
    }
}

/// The outbox key as stored on the engagement: lower-cased, because
/// HubSpot's search compares string values in lower case for `IN`.
fn stored_key(key: &str) -> String {
    key.to_lowercase()
}

/// The associations an activity should have, by HubSpot object type.
fn wanted_associations(data: &serde_json::Value) -> [(&'static str, u32, Option<&str>); 3] {
    [
        ("deals", EMAIL_TO_DEAL, data["deal_id"].as_str()),
        ("contacts", EMAIL_TO_CONTACT, data["contact_id"].as_str()),
        ("companies", EMAIL_TO_COMPANY, data["company_id"].as_str()),
    ]
}

impl Hubspot {
    /// The engagement to create for an item: its properties (the outbox key
    /// among them) and associations; dead when it has nothing to attach to.
    fn engagement(item: &Item) -> Result<serde_json::Value, Delivery> {
        let data = &item.payload;
        let associations: Vec<serde_json::Value> = wanted_associations(data)
            .into_iter()
            .filter_map(|(_, type_id, id)| id.map(|id| (type_id, id)))
            .map(|(type_id, id)| {
                serde_json::json!({
                    "to": {"id": id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                })
            })
            .collect();
        if associations.is_empty() {
            return Err(Delivery::Dead {
                reason: "the activity has no deal, contact or company to associate".into(),
            });
        }
        let timestamp = data["date"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| httpdate::fmt_http_date(std::time::SystemTime::now()));
        let headers = serde_json::json!({
            "from": {"email": data["from"]["address"], "firstName": data["from"]["name"]},
            "to": data["to"],
            "cc": data["cc"],
        });
        // The sharing level decided what the payload holds: the full text
        // when shared, else the latest reply, else nothing.
        let text = if data["text"].is_string() { &data["text"] } else { &data["latest_reply"] };
        let mut properties = serde_json::json!({
            "hs_timestamp": timestamp,
            "hs_email_direction": "INCOMING_EMAIL",
            "hs_email_status": "SENT",
            "hs_email_subject": data["subject"],
            "hs_email_text": text,
            "hs_email_headers": headers.to_string(),
            KEY_PROPERTY: stored_key(&item.idempotency_key),
        });
        if data["html"].is_string() {
            properties["hs_email_html"] = data["html"].clone();
        }
        Ok(serde_json::json!({"properties": properties, "associations": associations}))
    }

    fn create(&self, item: &Item) -> Delivery {
        match self.find(&item.idempotency_key) {
            Ok(Some(id)) => return Delivery::Sent { crm_object_id: Some(id) },
            Ok(None) => {}
            Err(outcome) => return outcome,
        }
        let body = match Self::engagement(item) {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };
        let answer = match self.post("crm/v3/objects/emails", &body) {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if answer.status == 201 || answer.status == 200 {
            Delivery::Sent { crm_object_id: answer.body["id"].as_str().map(str::to_string) }
        } else {
            self.refusal(&answer, "creating the email engagement")
        }
    }

    /// Creates up to 100 engagements in two requests: one search for those
    /// a lost answer already made (`dealthread_key IN [...]`), one
    /// `batch/create` for the rest. HubSpot validates a batch as a whole,
    /// so when it refuses one (a deal it does not know), each is sent
    /// alone and only the bad one is dead-lettered.
    fn create_batch(&self, items: &[Item]) -> Vec<Delivery> {
        let keys: Vec<String> = items.iter().map(|i| stored_key(&i.idempotency_key)).collect();
        let found = match self.find_many(&keys) {
            Ok(found) => found,
            Err(outcome) => return vec![outcome; items.len()],
        };
        let mut outcomes: Vec<Option<Delivery>> = keys
            .iter()
            .map(|k| found.get(k).map(|id| Delivery::Sent { crm_object_id: Some(id.clone()) }))
            .collect();
        let mut inputs = Vec::new();
        let mut waiting = Vec::new();
        for (at, item) in items.iter().enumerate() {
            if outcomes[at].is_some() {
                continue;
            }
            match Self::engagement(item) {
                Ok(input) => {
                    inputs.push(input);
                    waiting.push(at);
                }
                Err(outcome) => outcomes[at] = Some(outcome),
            }
        }
        if !inputs.is_empty() {
            let answer = self
                .post("crm/v3/objects/emails/batch/create", &serde_json::json!({"inputs": inputs}));
            match answer {
                Ok(answer) if matches!(answer.status, 200 | 201 | 207) => {
                    let made: std::collections::HashMap<String, String> = answer.body["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| {
                            Some((
                                r["properties"][KEY_PROPERTY].as_str()?.to_string(),
                                r["id"].as_str()?.to_string(),
                            ))
                        })
                        .collect();
                    for &at in &waiting {
                        outcomes[at] = Some(match made.get(&keys[at]) {
                            Some(id) => Delivery::Sent { crm_object_id: Some(id.clone()) },
                            None => Delivery::Retry {
                                reason: "HubSpot's batch answer did not list this engagement"
                                    .into(),
                                after: None,
                            },
                        });
                    }
                }
                Ok(answer) if answer.status == 400 => {
                    for &at in &waiting {
                        outcomes[at] = Some(self.create(&items[at]));
                    }
                }
                Ok(answer) => {
                    let outcome = self.refusal(&answer, "creating a batch of email engagements");
                    for &at in &waiting {
                        outcomes[at] = Some(outcome.clone());
                    }
                }
                Err(outcome) => {
                    for &at in &waiting {
                        outcomes[at] = Some(outcome.clone());
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Delivery::Retry { reason: "not attempted".into(), after: None }))
            .collect()
    }

    /// The engagements already made for these keys, by key.
    fn find_many(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, Delivery> {
        let search = serde_json::json!({
            "filterGroups": [{"filters": [{"propertyName": KEY_PROPERTY, "operator": "IN", "values": keys}]}],
            "properties": [KEY_PROPERTY],
            "limit": 100,
        });
        let answer = self.post("crm/v3/objects/emails/search", &search)?;
        if answer.status != 200 {
            return Err(self.refusal(&answer, "the search for earlier copies"));
        }
        Ok(answer.body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["properties"][KEY_PROPERTY].as_str()?.to_string(),
                    r["id"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// Brings an engagement in line with the message after a correction or
    /// a new sharing level: its content (PATCH), then its associations
    /// (removing the old, adding the new); or archives it when the rep
    /// marked the message as not CRM-worthy.
    /// Each step checks the current state first, so a re-send converges
    /// instead of adding anything twice.
    fn update(&self, item: &Item) -> Delivery {
        let engagement = match (&item.crm_object_id, &item.create_key) {
            (Some(id), _) => id.clone(),
            (None, Some(key)) => match self.find(key) {
                Ok(Some(id)) => id,
                // HubSpot's search index lags its writes by a few seconds.
                Ok(None) => {
                    return Delivery::Retry {
                        reason: "the engagement to update is not found yet".into(),
                        after: Some(Duration::from_secs(5)),
                    };
                }
                Err(outcome) => return outcome,
            },
            (None, None) => {
                return Delivery::Dead { reason: "there is no engagement to update".into() };
            }
        };
        let data = &item.payload;
        if data["crm_worthy"] == serde_json::Value::Bool(false) {
            let path = format!("crm/v3/objects/emails/{engagement}");
            return match self.request(reqwest::Method::DELETE, &path, None) {
                Ok(answer) if matches!(answer.status, 200 | 204 | 404) => {
                    Delivery::Sent { crm_object_id: Some(engagement) }
                }
                Ok(answer) => self.refusal(&answer, "archiving the email engagement"),
                Err(outcome) => outcome,
            };
        }
        // What is shared may have changed too (a new sharing level): the
        // engagement's content follows the payload.
        let properties = match Self::engagement(item) {
            Ok(body) => body["properties"].clone(),
            Err(outcome) => return outcome,
        };
        let mut content = serde_json::Map::new();
        // HubSpot clears a property given an empty string.
        for name in ["hs_email_subject", "hs_email_text", "hs_email_html"] {
            let value = properties.get(name).filter(|v| !v.is_null()).cloned();
            content.insert(name.into(), value.unwrap_or_else(|| serde_json::json!("")));
        }
        let path = format!("crm/v3/objects/emails/{engagement}");
        let body = serde_json::json!({"properties": content});
        match self.request(reqwest::Method::PATCH, &path, Some(&body)) {
            Ok(answer) if answer.status == 200 => {}
            Ok(answer) => return self.refusal(&answer, "updating the email engagement"),
            Err(outcome) => return outcome,
        }
        for (kind, _, wanted) in wanted_associations(data) {
            if let Err(outcome) = self.align(&engagement, kind, wanted) {
                return outcome;
            }
        }
        Delivery::Sent { crm_object_id: Some(engagement) }
    }

    /// Leaves the engagement associated with `wanted` alone among the
    /// records of `kind` (`deals`, `contacts`, `companies`).
    fn align(&self, engagement: &str, kind: &str, wanted: Option<&str>) -> Result<(), Delivery> {
        let path = format!("crm/v4/objects/emails/{engagement}/associations/{kind}");
        let answer = self.request(reqwest::Method::GET, &path, None)?;
        if answer.status != 200 {
            return Err(self.refusal(&answer, &format!("reading the engagement's {kind}")));
        }
        let current: Vec<String> = answer.body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| match &r["toObjectId"] {
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        for stale in current.iter().filter(|id| Some(id.as_str()) != wanted) {
            let path = format!("crm/v4/objects/emails/{engagement}/associations/{kind}/{stale}");
            let answer = self.request(reqwest::Method::DELETE, &path, None)?;
            if !matches!(answer.status, 200 | 204 | 404) {
                return Err(self.refusal(&answer, &format!("removing {kind} {stale}")));
            }
        }
        if let Some(wanted) = wanted.filter(|w| !current.iter().any(|c| c == w)) {
            let path =
                format!("crm/v4/objects/emails/{engagement}/associations/default/{kind}/{wanted}");
            let answer = self.request(reqwest::Method::PUT, &path, None)?;
            if !matches!(answer.status, 200 | 201) {
                return Err(self.refusal(&answer, &format!("associating {kind} {wanted}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_spends_its_burst_then_spaces_requests_out() {
        let mut bucket = Bucket::new(40, Duration::from_secs(1));
        let start = bucket.at;
        let waits: Vec<Duration> = (0..6).map(|_| bucket.take_at(start)).collect();
        assert!(waits[..4].iter().all(|w| w.is_zero()), "a burst of 4: {waits:?}");
        // Then one every 1/36 s, so no second holds more than 40.
        let step = Duration::from_secs_f64(1.0 / 36.0);
        assert_eq!(waits[4].as_micros(), step.as_micros(), "{waits:?}");
        assert_eq!(waits[5].as_micros(), (step * 2).as_micros(), "{waits:?}");
        // A full second later the burst is back, and no more.
        let later = start + Duration::from_secs(1);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.take_at(later)).collect();
        assert!(waits[..4].iter().all(|w| w.is_zero()) && !waits[4].is_zero(), "{waits:?}");
    }
}
