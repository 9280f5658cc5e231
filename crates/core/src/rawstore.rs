//! Raw MIME and attachments, kept content-addressed and encrypted at rest
//! beside the database (`dealthread.raw/`).
//!
//! Each blob is named by the SHA-256 of its plaintext, so a file carried by
//! ten messages is stored once. On disk a blob is compressed with zstd when
//! that saves at least a tenth, then sealed with XChaCha20-Poly1305 under a
//! random nonce; the file name is bound in as associated data, so a copied
//! or swapped file reveals nothing and reads as damaged. The key lives in
//! the OS keyring (see [`StoreKey`]).
//!
//! Durability: blobs are written under a temporary name and renamed, so a
//! reader never sees half of one; [`RawStore::sync`] then makes every blob
//! written so far durable with one `syncfs`, which the caller does before
//! committing the rows that refer to them (DESIGN.md, "durable first").

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};
use crate::secrets;

const MAGIC: &[u8; 4] = b"DTB1";
const PLAIN: u8 = 0;
const ZSTD: u8 = 1;
const NONCE_LEN: usize = 24;

/// What a blob is; each kind has its own folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Message,
    Attachment,
}

impl BlobKind {
    fn folder(self) -> &'static str {
        match self {
            BlobKind::Message => "messages",
            BlobKind::Attachment => "attachments",
        }
    }
}

/// The 256-bit key that seals the raw store.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)") // never print key material
    }
}

/// Set to 64 hex digits to supply the store key without a keyring
/// (headless servers, CI). Its value is never written anywhere.
pub const KEY_ENV: &str = "DEALTHREAD_STORE_KEY";

impl StoreKey {
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        StoreKey(bytes)
    }

    /// The key for the store named `key_id`: from `$DEALTHREAD_STORE_KEY`
    /// when set, else from the OS keyring, created there on first use.
    pub fn load_or_create(key_id: &str) -> Result<StoreKey> {
        if let Some(hex_key) = std::env::var_os(KEY_ENV) {
            let hex_key = hex_key.to_string_lossy();
            let bytes = hex::decode(hex_key.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            return bytes.map(StoreKey).ok_or_else(|| {
                CoreError::InvalidInput(format!("${KEY_ENV} must hold 64 hexadecimal digits"))
            });
        }
        let account = format!("store-key:{key_id}");
        let hint = |e: CoreError| match e {
            CoreError::Keyring(m) => CoreError::Keyring(format!(
                "{m}. Dealthread keeps the key that encrypts stored mail in the system keyring; \
                 on a machine without one, set {KEY_ENV} to 64 hexadecimal digits"
            )),
            other => other,
        };
        if let Some(secret) = secrets::get(&account).map_err(hint)? {
            let bytes = <[u8; 32]>::try_from(secret.as_slice()).map_err(|_| {
                CoreError::Keyring(format!("the keyring entry {account} is not a 256-bit key"))
            })?;
            return Ok(StoreKey(bytes));
        }
        let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        secrets::set(&account, &key).map_err(hint)?;
        Ok(StoreKey(key))
    }
}

pub struct RawStore {
    root: PathBuf,
    cipher: XChaCha20Poly1305,
}

impl RawStore {
    pub fn new(root: impl Into<PathBuf>, key: &StoreKey) -> Self {
        RawStore { root: root.into(), cipher: XChaCha20Poly1305::new(Key::from_slice(&key.0)) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, kind: BlobKind, sha256: &str) -> PathBuf {
        let shard = sha256.get(..2).unwrap_or("00");
        self.root.join(kind.folder()).join(shard).join(sha256)
    }

    /// Stores `bytes` (once per content) and returns their hex SHA-256.
    /// Not yet durable: call [`RawStore::sync`] before relying on it.
    pub fn put(&self, kind: BlobKind, bytes: &[u8]) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let path = self.path_of(kind, &sha256);
        if path.exists() {
            return Ok(sha256);
        }
        let sealed = self.seal(&sha256, bytes)?;
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let tmp = dir.join(format!(".{sha256}.tmp"));
        let written = File::create(&tmp).and_then(|mut file| file.write_all(&sealed));
        if let Err(error) = written {
            let _ = fs::remove_file(&tmp);
            return Err(CoreError::io(&tmp, error));
        }
        fs::rename(&tmp, &path).map_err(|e| CoreError::io(&path, e))?;
        Ok(sha256)
    }

    /// Makes every blob written so far durable: one `syncfs(2)` for the
    /// whole file system instead of an fsync per file.
    pub fn sync(&self) -> Result<()> {
        fs::create_dir_all(&self.root).map_err(|e| CoreError::io(&self.root, e))?;
        let dir = File::open(&self.root).map_err(|e| CoreError::io(&self.root, e))?;
        rustix::fs::syncfs(&dir).map_err(|e| CoreError::io(&self.root, e.into()))
    }

    pub fn get(&self, kind: BlobKind, sha256: &str) -> Result<Vec<u8>> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoreError::InvalidInput(format!("not a SHA-256 digest: {sha256}")));
        }
        let path = self.path_of(kind, sha256);
        let sealed = fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
        let plain = self
            .open(sha256, &sealed)
            .map_err(|reason| CoreError::Corrupt(format!("{}: {reason}", path.display())))?;
        if hex::encode(Sha256::digest(&plain)) != sha256 {
            return Err(CoreError::Corrupt(format!(
                "{}: content does not match its name",
                path.display()
            )));
        }
        Ok(plain)
    }

    /// Deletes a blob; returns the bytes it freed (0 when it was not there).
    pub fn remove(&self, kind: BlobKind, sha256: &str) -> Result<u64> {
        let path = self.path_of(kind, sha256);
        match fs::metadata(&path) {
            Ok(meta) => {
                fs::remove_file(&path).map_err(|e| CoreError::io(&path, e))?;
                Ok(meta.len())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(CoreError::io(&path, e)),
        }
    }

    /// `MAGIC | codec | nonce | AEAD(codec-encoded bytes, aad = name|codec)`.
    fn seal(&self, sha256: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        let compressed =
            zstd::bulk::compress(bytes, 3).ok().filter(|c| c.len() * 10 < bytes.len() * 9);
        let (codec, body) = match &compressed {
            Some(c) => (ZSTD, c.as_slice()),
            None => (PLAIN, bytes),
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = [sha256.as_bytes(), &[codec]].concat();
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: body, aad: &aad })
            .map_err(|_| CoreError::Corrupt("encryption failed".into()))?;
        let mut out = Vec::with_capacity(5 + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.push(codec);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open(&self, sha256: &str, sealed: &[u8]) -> std::result::Result<Vec<u8>, String> {
        if sealed.len() < 5 + NONCE_LEN || &sealed[..4] != MAGIC {
            return Err("not a Dealthread blob".into());
        }
        let codec = sealed[4];
        let nonce = XNonce::from_slice(&sealed[5..5 + NONCE_LEN]);
        let aad = [sha256.as_bytes(), &[codec]].concat();
        let body = self
            .cipher
            .decrypt(nonce, Payload { msg: &sealed[5 + NONCE_LEN..], aad: &aad })
            .map_err(|_| {
                "does not decrypt with this store's key (wrong key, or damaged)".to_string()
            })?;
        match codec {
            PLAIN => Ok(body),
            ZSTD => {
                zstd::stream::decode_all(body.as_slice()).map_err(|e| format!("decompressing: {e}"))
            }
            other => Err(format!("unknown codec {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, key: u8) -> RawStore {
        RawStore::new(dir.join("raw"), &StoreKey::from_bytes([key; 32]))
    }

    #[test]
    fn blobs_round_trip_compressed_and_are_unreadable_without_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 7);
        let text = "Subject: quote\r\n\r\nThe renewal quote for 250 seats.\r\n".repeat(50);
        let sha = raw.put(BlobKind::Message, text.as_bytes()).expect("put");
        raw.sync().expect("sync");
        assert_eq!(raw.get(BlobKind::Message, &sha).expect("get"), text.as_bytes());

        let on_disk = fs::read(raw.path_of(BlobKind::Message, &sha)).expect("file");
        assert!(on_disk.len() < text.len() / 4, "repetitive mail compresses");
        assert!(!on_disk.windows(7).any(|w| w == b"renewal"), "no plaintext on disk");
        let other = store(dir.path(), 8);
        assert!(matches!(other.get(BlobKind::Message, &sha), Err(CoreError::Corrupt(_))));
    }

    #[test]
    fn a_swapped_file_reads_as_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 1);
        let a = raw.put(BlobKind::Attachment, b"first file").expect("a");
        let b = raw.put(BlobKind::Attachment, b"second file").expect("b");
        fs::copy(raw.path_of(BlobKind::Attachment, &a), raw.path_of(BlobKind::Attachment, &b))
            .expect("swap");
        assert!(matches!(raw.get(BlobKind::Attachment, &b), Err(CoreError::Corrupt(_))));
    }

    #[test]
    fn the_same_content_is_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 1);
        let first = raw.put(BlobKind::Attachment, b"%PDF-1.4 quote").expect("first");
        let again = raw.put(BlobKind::Attachment, b"%PDF-1.4 quote").expect("again");
        assert_eq!(first, again);
        let files =
            fs::read_dir(raw.path_of(BlobKind::Attachment, &first).parent().expect("shard"))
                .expect("shard dir")
                .count();
        assert_eq!(files, 1);
    }
}
