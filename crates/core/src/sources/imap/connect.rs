//! Reaching an IMAP server: TCP with timeouts on every read and write, TLS
//! (implicit or STARTTLS) through rustls with verification always on, and
//! login. A self-signed server is trusted only through an explicit pin: the
//! SHA-256 fingerprint of its certificate, set per account.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use super::{Auth, ImapSource, Security};
use crate::sources::SourceError;
use crate::sources::tls::{self, is_loopback};

pub use crate::sources::tls::parse_pin;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The byte stream under the IMAP client, with the source's timeout for
/// every read and write.
pub struct Stream {
    kind: Kind,
    timeout: Duration,
}

enum Kind {
    Tls(Box<rustls::StreamOwned<ClientConnection, TcpStream>>),
    /// Only to a server on this machine (`--tls none`).
    Plain(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.kind {
            Kind::Tls(s) => s.read(buf),
            Kind::Plain(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.kind {
            Kind::Tls(s) => s.write(buf),
            Kind::Plain(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.kind {
            Kind::Tls(s) => s.flush(),
            Kind::Plain(s) => s.flush(),
        }
    }
}

impl imap::extensions::idle::SetReadTimeout for Stream {
    /// IDLE waits with its own, longer timeout and then asks for none; here
    /// "none" means the source's usual timeout, so no read can hang.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::error::Result<()> {
        let tcp = match &self.kind {
            Kind::Tls(s) => &s.sock,
            Kind::Plain(s) => s,
        };
        tcp.set_read_timeout(Some(timeout.unwrap_or(self.timeout))).map_err(imap::Error::Io)
    }
}

pub type Session = imap::Session<Stream>;

/// What the TLS handshake showed, for `dealthread doctor`.
#[derive(Debug, Clone, Default)]
pub struct TlsDetails {
    pub protocol: Option<String>,
    pub cipher_suite: Option<String>,
    /// SHA-256 of the server's certificate, hex with colons.
    pub fingerprint: Option<String>,
}

/// An open, logged-in connection and what was learned on the way.
pub struct Connected {
    pub session: Session,
    pub tls: TlsDetails,
    pub capabilities: Vec<String>,
}

/// Connects and logs in. `secret` is the password or OAuth2 access token.
pub fn connect(source: &ImapSource, secret: &str) -> Result<Connected, SourceError> {
    let tcp = open_tcp(source)?;
    let (kind, tls) = match source.security {
        Security::Implicit => {
            let (stream, tls) = start_tls(source, tcp)?;
            (Kind::Tls(Box::new(stream)), tls)
        }
        Security::StartTls => {
            let tcp = starttls_exchange(source, tcp)?;
            let (stream, tls) = start_tls(source, tcp)?;
            (Kind::Tls(Box::new(stream)), tls)
        }
        Security::None => {
            if !is_loopback(&source.host) {
                return Err(SourceError::Config(format!(
                    "{}: plain IMAP without TLS is only allowed to this machine, not {}",
                    source.name, source.host
                )));
            }
            (Kind::Plain(tcp), TlsDetails::default())
        }
    };
    let mut client = imap::Client::new(Stream { kind, timeout: source.timeout() });
    if source.security != Security::StartTls {
        let greeting =
            client.read_greeting().map_err(|e| imap_error(source, "reading the greeting", e))?;
        check_greeting(source, &greeting)?;
    }
    let capabilities = clean_capabilities(
        client
            .capabilities()
            .map_err(|e| imap_error(source, "asking for capabilities", e))?
            .iter()
            .map(|c| format!("{c:?}"))
            .collect(),
    );
    let offers = |mechanism: &str| {
        capabilities.iter().any(|c| c.eq_ignore_ascii_case(&format!("AUTH={mechanism}")))
    };
    let session = match source.auth {
        // AUTHENTICATE PLAIN where offered: it carries any character in the
        // password, which LOGIN's quoting does not always.
        Auth::Password if offers("PLAIN") => client
            .authenticate("PLAIN", &Plain { user: source.user.clone(), password: secret.into() }),
        Auth::Password => client.login(&source.user, secret),
        Auth::XOAuth2 => client
            .authenticate("XOAUTH2", &XOAuth2 { user: source.user.clone(), token: secret.into() }),
    }
    .map_err(|(error, _)| match error {
        imap::Error::No(no) => SourceError::Auth(format!(
            "{}: the server refused the login for {} ({}); check the user name and password",
            source.name,
            source.user,
            no.information.trim()
        )),
        other => imap_error(source, "logging in", other),
    })?;
    let mut session = session;
    // Servers announce more once logged in (Dovecot: CONDSTORE, MOVE, ...).
    let capabilities = match session.capabilities() {
        Ok(after) => clean_capabilities(after.iter().map(|c| format!("{c:?}")).collect()),
        Err(_) => capabilities,
    };
    if capabilities.iter().any(|c| c.eq_ignore_ascii_case("CONDSTORE")) {
        // Then EXAMINE reports HIGHESTMODSEQ, kept in the folder's ledger.
        session
            .run_command_and_check_ok("ENABLE CONDSTORE")
            .map_err(|e| imap_error(source, "enabling CONDSTORE", e))?;
    }
    Ok(Connected { session, tls, capabilities })
}

/// An IMAP greeting is `* OK`, `* PREAUTH` or `* BYE` (RFC 9051 §7.1);
/// anything else is not an IMAP server (a TLS port spoken to in plain, a
/// web server on the wrong port).
fn check_greeting(source: &ImapSource, greeting: &[u8]) -> Result<(), SourceError> {
    let upper = greeting.to_ascii_uppercase();
    if upper.starts_with(b"* OK") || upper.starts_with(b"* PREAUTH") {
        return Ok(());
    }
    let shown: String = String::from_utf8_lossy(greeting)
        .trim_end()
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    if upper.starts_with(b"* BYE") {
        return Err(SourceError::Network(format!(
            "{}: the server turned the connection away: {}",
            source.name,
            shown.trim()
        )));
    }
    Err(SourceError::Protocol(format!(
        "{}: {}:{} did not greet like an IMAP server (is it the right port and TLS setting?): {:?}",
        source.name,
        source.host,
        source.port,
        shown.trim()
    )))
}

/// Capability names as the server wrote them: `Capability`'s debug form
/// (`Atom("IDLE")`, `Auth("PLAIN")`, `Imap4rev1`) back to `IDLE`,
/// `AUTH=PLAIN`, `IMAP4rev1`.
fn clean_capabilities(raw: Vec<String>) -> Vec<String> {
    raw.into_iter()
        .map(|c| {
            let quoted = match (c.find('"'), c.rfind('"')) {
                (Some(a), Some(b)) if b > a => Some(c[a + 1..b].to_string()),
                _ => None,
            };
            match quoted {
                Some(name) if c.starts_with("Auth") => format!("AUTH={name}"),
                Some(name) => name,
                None if c == "Imap4rev1" => "IMAP4rev1".to_string(),
                None => c,
            }
        })
        .collect()
}

struct Plain {
    user: String,
    password: String,
}

impl imap::Authenticator for Plain {
    type Response = String;
    fn process(&self, _challenge: &[u8]) -> String {
        // RFC 4616: authorization identity (empty), user, password.
        format!("\0{}\0{}", self.user, self.password)
    }
}

struct XOAuth2 {
    user: String,
    token: String,
}

impl imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&self, _challenge: &[u8]) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

fn open_tcp(source: &ImapSource) -> Result<TcpStream, SourceError> {
    let addresses = (source.host.as_str(), source.port).to_socket_addrs().map_err(|e| {
        SourceError::Network(format!("{}: cannot resolve {}: {e}", source.name, source.host))
    })?;
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                let timeouts = tcp
                    .set_read_timeout(Some(source.timeout()))
                    .and_then(|_| tcp.set_write_timeout(Some(source.timeout())))
                    .and_then(|_| tcp.set_nodelay(true));
                timeouts.map_err(|e| SourceError::Network(format!("{}: {e}", source.name)))?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(SourceError::Network(format!(
        "{}: cannot connect to {}:{}: {}",
        source.name,
        source.host,
        source.port,
        last.map_or("no address".to_string(), |e| e.to_string())
    )))
}

/// The plain-text part of STARTTLS: greeting, `STARTTLS`, its OK.
fn starttls_exchange(source: &ImapSource, tcp: TcpStream) -> Result<TcpStream, SourceError> {
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    let read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        match reader.read_line(line) {
            Ok(0) => Err(SourceError::Network(format!(
                "{}: the server closed the connection before TLS",
                source.name
            ))),
            Ok(_) if line.len() > 8192 => {
                Err(SourceError::Protocol(format!("{}: an overlong line before TLS", source.name)))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(SourceError::Network(format!("{}: before TLS: {e}", source.name))),
        }
    };
    read_line(&mut reader, &mut line)?;
    if !line.starts_with("* OK") {
        return Err(SourceError::Protocol(format!(
            "{}: unexpected greeting: {}",
            source.name,
            line.trim_end()
        )));
    }
    reader
        .get_mut()
        .write_all(b"s0 STARTTLS\r\n")
        .map_err(|e| SourceError::Network(format!("{}: sending STARTTLS: {e}", source.name)))?;
    loop {
        read_line(&mut reader, &mut line)?;
        if line.starts_with("s0 OK") {
            break;
        }
        if line.starts_with("s0 ") {
            return Err(SourceError::Tls(format!(
                "{}: the server refused STARTTLS: {}",
                source.name,
                line.trim_end()
            )));
        }
    }
    if !reader.buffer().is_empty() {
        // Bytes after the OK, before the handshake, would be injected
        // plain text (the STARTTLS command-injection attack).
        return Err(SourceError::Tls(format!(
            "{}: the server sent data after agreeing to STARTTLS",
            source.name
        )));
    }
    Ok(reader.into_inner())
}

fn start_tls(
    source: &ImapSource,
    mut tcp: TcpStream,
) -> Result<(rustls::StreamOwned<ClientConnection, TcpStream>, TlsDetails), SourceError> {
    let pin = source.pin_sha256.as_deref();
    let (config, seen) = tls::client_config(&source.name, pin, &[])?;
    let server_name = ServerName::try_from(source.host.clone()).map_err(|_| {
        SourceError::Config(format!("{}: {} is not a host name", source.name, source.host))
    })?;
    let mut connection = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| SourceError::Tls(format!("{}: {e}", source.name)))?;
    while connection.is_handshaking() {
        if let Err(error) = connection.complete_io(&mut tcp) {
            return Err(tls::failure(&source.name, pin, &error.to_string(), &seen));
        }
    }
    let tls = TlsDetails {
        protocol: connection.protocol_version().map(|v| format!("{v:?}")),
        cipher_suite: connection.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
        fingerprint: tls::seen_fingerprint(&seen),
    };
    Ok((rustls::StreamOwned::new(connection, tcp), tls))
}

/// An IMAP failure as a [`SourceError`]: the network kinds are retried,
/// anything else is the server breaking the protocol.
pub(super) fn imap_error(source: &ImapSource, doing: &str, error: imap::Error) -> SourceError {
    match error {
        imap::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            SourceError::Network(format!(
                "{}: {doing}: the server did not answer within {} s",
                source.name, source.timeout_secs
            ))
        }
        imap::Error::Io(e) => SourceError::Network(format!("{}: {doing}: {e}", source.name)),
        imap::Error::ConnectionLost => {
            SourceError::Network(format!("{}: {doing}: the connection was lost", source.name))
        }
        imap::Error::Bye(bye) => SourceError::Network(format!(
            "{}: {doing}: the server closed the session ({})",
            source.name,
            bye.information.trim()
        )),
        other => SourceError::Protocol(format!("{}: {doing}: {other}", source.name)),
    }
}
