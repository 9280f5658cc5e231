//! Dealthread's test harness: helpers that start real parts (the built app
//! under WebDriver, and later Dovecot and the CRM and provider emulators) for
//! the scenario tests in `tests/tests/`.

pub mod corpus;
pub mod crm;
pub mod dns;
pub mod dovecot;
pub mod fake_imap;
pub mod fixtures;
pub mod http_server;
pub mod hubspot;
pub mod provider;
pub mod webdriver;

use std::net::TcpListener;
use std::path::PathBuf;

/// The repository root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port on loopback");
    listener.local_addr().expect("a bound listener has an address").port()
}
