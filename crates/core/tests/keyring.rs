//! Secrets against a real Secret Service (gnome-keyring), which
//! scripts/test.sh starts unlocked inside a private D-Bus session.

use dealthread_core::rawstore::{BlobKind, KEY_ENV};
use dealthread_core::store::settings;
use dealthread_core::{Store, secrets};

fn require_session() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the tests through scripts/test.sh, which starts one with gnome-keyring"
    );
    assert!(
        std::env::var_os(KEY_ENV).is_none(),
        "{KEY_ENV} is set: these tests must exercise the keyring itself"
    );
}

#[test]
fn a_secret_round_trips_through_the_os_keyring() {
    require_session();
    let account = format!("test-secret-{}", std::process::id());
    secrets::set(&account, b"imap password").expect("store in the keyring");
    assert_eq!(secrets::get(&account).expect("read").as_deref(), Some(&b"imap password"[..]));
    secrets::delete(&account).expect("delete");
    assert_eq!(secrets::get(&account).expect("read after delete"), None);
}

#[test]
fn the_store_key_lives_in_the_keyring_and_nowhere_in_the_data_folder() {
    require_session();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.db");
    let sha = {
        let store = Store::open(&path).expect("open with a key made in the keyring");
        store.raw().put(BlobKind::Message, b"Subject: secret deal\r\n\r\nterms").expect("put")
    };
    let store = Store::open(&path).expect("reopen finds the same key");
    assert_eq!(
        store.raw().get(BlobKind::Message, &sha).expect("read back"),
        b"Subject: secret deal\r\n\r\nterms"
    );

    let id = settings::store_key_id(store.conn()).expect("key id");
    let key =
        secrets::get(&format!("store-key:{id}")).expect("read").expect("the key is in the keyring");
    assert_eq!(key.len(), 32);
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).expect("read file");
        assert!(
            !bytes.windows(32).any(|w| w == key.as_slice()),
            "{} holds the key",
            entry.display()
        );
        assert!(
            !bytes.windows(11).any(|w| w == b"secret deal"),
            "{} holds plaintext mail",
            entry.display()
        );
    }
    secrets::delete(&format!("store-key:{id}")).expect("clean up");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}
