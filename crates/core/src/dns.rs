//! MX records of the team's inbound domains, for `dealthread doctor`: mail
//! only reaches the inbound mailbox (or the provider) if the domain's MX
//! points there, and a missing or wrong MX is the first thing to rule out
//! when "no mail arrives".

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;

/// One MX record: lower preference is tried first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    pub exchange: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MxError {
    #[error("{0}: the domain does not exist (NXDOMAIN)")]
    NoDomain(String),
    #[error("{0}: the domain has no MX records, so mail to it is not delivered to a mail server")]
    NoRecords(String),
    #[error("{0}: the DNS lookup failed: {1}")]
    Failed(String, String),
}

/// Asks `server` (default: the system's resolvers) for the MX records of
/// `domain`, sorted by preference.
pub fn mx_records(domain: &str, server: Option<SocketAddr>) -> Result<Vec<Mx>, MxError> {
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(3);
    options.attempts = 2;
    options.cache_size = 0;
    let resolver = match server {
        Some(server) => {
            let servers =
                NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            Resolver::new(ResolverConfig::from_parts(None, vec![], servers), options)
        }
        None => Resolver::from_system_conf(),
    }
    .map_err(|e| MxError::Failed(domain.to_string(), e.to_string()))?;
    // A trailing dot: the name as given, never with a search suffix.
    let name = format!("{}.", domain.trim_end_matches('.'));
    match resolver.mx_lookup(name.as_str()) {
        Ok(lookup) => {
            let mut records: Vec<Mx> = lookup
                .iter()
                .map(|mx| Mx {
                    preference: mx.preference(),
                    exchange: mx.exchange().to_utf8().trim_end_matches('.').to_string(),
                })
                .collect();
            records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
            if records.is_empty() {
                Err(MxError::NoRecords(domain.to_string()))
            } else {
                Ok(records)
            }
        }
        Err(error) => match error.kind() {
            ResolveErrorKind::NoRecordsFound { response_code: ResponseCode::NXDomain, .. } => {
                Err(MxError::NoDomain(domain.to_string()))
            }
            ResolveErrorKind::NoRecordsFound { .. } => Err(MxError::NoRecords(domain.to_string())),
            _ => Err(MxError::Failed(domain.to_string(), error.to_string())),
        },
    }
}

/// A domain name as typed, normalized (lower case, no trailing dot), or
/// why it is not one.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let domain = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(format!("{input:?} is not a domain name such as in.example.com"));
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_or_refused() {
        assert_eq!(normalize_domain(" In.Example.COM. "), Ok("in.example.com".into()));
        for bad in ["", "localhost", "a..b", "-a.b", "a_b.com", "deals@in.example.com"] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
    }
}
