//! TLS for every source: rustls (ring) with verification always on. A
//! server with a public certificate is checked against the WebPKI roots; a
//! self-signed one is trusted only through an explicit pin, the SHA-256
//! fingerprint of its certificate, set per source. Either way the
//! certificate's fingerprint is recorded, so an error can say what was seen.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::SourceError;

/// The fingerprint of the certificate the server presented, once seen.
pub type Seen = Arc<Mutex<Option<String>>>;

/// A client config for source `name`: pinned when `pin` is set, WebPKI
/// otherwise. `alpn` lists the protocols to offer (none for IMAP).
pub fn client_config(
    name: &str,
    pin: Option<&str>,
    alpn: &[&[u8]],
) -> Result<(ClientConfig, Seen), SourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen: Seen = Arc::new(Mutex::new(None));
    let verifier: Arc<dyn ServerCertVerifier> = match pin {
        Some(pin) => Arc::new(Pinned {
            pin: parse_pin(pin).ok_or_else(|| {
                SourceError::Config(format!(
                    "{name}: the pin must be a SHA-256 fingerprint (64 hex digits)"
                ))
            })?,
            provider: provider.clone(),
            seen: seen.clone(),
        }),
        None => {
            let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| SourceError::Tls(format!("{name}: {e}")))?;
            Arc::new(Recording { inner, seen: seen.clone() })
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Tls(format!("{name}: {e}")))?
        .dangerous() // a verifier of our own: the pin, or WebPKI that records the fingerprint
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((config, seen))
}

/// A failed handshake in words the user can act on: what was pinned, what
/// the server showed, and what to pin after checking it.
pub fn failure(name: &str, pin: Option<&str>, detail: &str, seen: &Seen) -> SourceError {
    let seen = seen.lock().ok().and_then(|s| s.clone());
    match (pin, seen) {
        (Some(pin), Some(seen)) if detail.contains("pin") => SourceError::Tls(format!(
            "{name}: the server's certificate (SHA-256 {seen}) does not match the pinned fingerprint {}; \
             if the server's certificate was renewed, check the new fingerprint and update the pin",
            colons(&parse_pin(pin).map(hex::encode).unwrap_or_default())
        )),
        (None, Some(seen)) => SourceError::Tls(format!(
            "{name}: the server's certificate is not trusted ({detail}); for a self-signed server, \
             pin its fingerprint after checking it: --pin {seen}"
        )),
        _ => SourceError::Tls(format!("{name}: TLS handshake failed: {detail}")),
    }
}

/// A blocking HTTPS client for source or CRM `name`: rustls with the pin
/// or WebPKI, `timeout` per request, no redirects (a redirect could carry
/// the credentials elsewhere).
pub fn http_client(
    name: &str,
    pin: Option<&str>,
    timeout: std::time::Duration,
) -> Result<(reqwest::blocking::Client, Seen), SourceError> {
    let (config, seen) = client_config(name, pin, &[b"http/1.1"])?;
    let http = reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(15)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Dealthread/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceError::Config(format!("{name}: {e}")))?;
    Ok((http, seen))
}

/// The recorded fingerprint, if the handshake got that far.
pub fn seen_fingerprint(seen: &Seen) -> Option<String> {
    seen.lock().ok().and_then(|s| s.clone())
}

pub fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// 32 bytes from 64 hex digits, colons and case ignored.
pub fn parse_pin(pin: &str) -> Option<[u8; 32]> {
    let digits: String = pin.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    hex::decode(digits).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())
}

pub fn colons(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

fn fingerprint(certificate: &CertificateDer<'_>) -> String {
    colons(&hex::encode(Sha256::digest(certificate.as_ref())))
}

/// Trusts exactly the pinned certificate; the handshake's signatures are
/// still checked against it.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fingerprint(end_entity));
        }
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if digest == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("certificate does not match the pin".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// WebPKI verification that also records the certificate's fingerprint,
/// so an untrusted server's error can show what to pin.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fingerprint(end_entity));
        }
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_with_or_without_colons() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_pin(&hex), Some([0xab; 32]));
        assert_eq!(parse_pin(&colons(&hex)), Some([0xab; 32]));
        assert_eq!(parse_pin("abcd"), None);
        assert_eq!(parse_pin(&"zz".repeat(32)), None);
    }
}
