//! Raw MIME and attachments, kept content-addressed and encrypted at rest
//! beside the database: the sealed bytes in append-only packs
//! (`dealthread.raw.packs/`, see `rawstore/pack.rs`), and where each blob lies in a
//! second SQLite file (`dealthread.raw.db`). Stores written before the
//! packs kept the sealed bytes in that file's rows; those are still read.
//!
//! Each blob is keyed by the SHA-256 of its plaintext, so a file carried by
//! ten messages is stored once. An attachment is read from the raw message
//! that carries it for as long as that message is kept, and gets a blob of
//! its own when retention removes the raw message (see
//! [`crate::retention`]): an import writes each byte of mail once.
//!
//! A blob is compressed with zstd when that saves at least a third, then
//! sealed with AES-256-GCM (ring) under a random nonce; the digest is bound
//! in as associated data, so a copied or swapped blob reveals nothing and
//! reads as damaged. The key lives in the OS keyring (see [`StoreKey`]).
//! Blobs sealed by earlier builds used XChaCha20-Poly1305 under the same
//! key and are still read. AES-GCM runs on the CPU's AES instructions
//! (every x86 and ARM laptop of the last decade has them): sealing fell
//! from a tenth of an import's CPU to a hundredth. Its 96-bit random nonces
//! stay safe up to 2^32 blobs per key, far beyond any mailbox.
//!
//! Why packs and not a file per blob: creating tens of thousands of small
//! files cost more than reading the mail itself (the kernel's inode
//! allocation dominated the import profile), and one fsync per batch is
//! cheaper than syncing a file system. Why not the blobs in the database's
//! rows, as before: SQLite copies them into its pages and the kernel into
//! its page cache, fresh pages every time for bytes that are rarely read
//! again. Sealing is pure and runs on every core ([`RawStore::seal`]);
//! [`RawStore::put_all`] then writes a batch to a pack, syncs it, and
//! commits the blobs' places (synchronous=FULL), all before it returns,
//! which the caller does before committing the rows that refer to the
//! blobs (DESIGN.md, "durable first").

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};
use crate::secrets;

mod pack;

use pack::{Packs, Slot};

/// `MAGIC | codec | 12-byte nonce | AES-256-GCM(body) | tag`.
const MAGIC: &[u8; 4] = b"DTB2";
/// `LEGACY_MAGIC | codec | 24-byte nonce | XChaCha20-Poly1305(body)`, read only.
const LEGACY_MAGIC: &[u8; 4] = b"DTB1";
const PLAIN: u8 = 0;
const ZSTD: u8 = 1;
const HEADER_LEN: usize = 5 + aead::NONCE_LEN;
const LEGACY_NONCE_LEN: usize = 24;

/// The blobs table as version 0 made it; [`upgrade`] brings it up to date.
const BLOBS_TABLE: &str = "CREATE TABLE IF NOT EXISTS blobs (
    id      INTEGER PRIMARY KEY,
    kind    INTEGER NOT NULL,
    sha256  BLOB NOT NULL,
    sealed  BLOB NOT NULL,
    UNIQUE (kind, sha256)
) STRICT;";

/// The raw store's own SQLite application id ("DTRB").
const RAW_APPLICATION_ID: i64 = 0x4454_5242;

/// What a blob is; the two kinds are kept apart (retention purges only
/// messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Message,
    Attachment,
}

impl BlobKind {
    fn code(self) -> i64 {
        match self {
            BlobKind::Message => 0,
            BlobKind::Attachment => 1,
        }
    }

    /// The folder name of the per-file layout used before version 0.2.
    fn legacy_folder(self) -> &'static str {
        match self {
            BlobKind::Message => "messages",
            BlobKind::Attachment => "attachments",
        }
    }
}

/// A blob sealed and ready to write.
pub struct SealedBlob {
    pub kind: BlobKind,
    /// Hex SHA-256 of the plaintext.
    pub sha256: String,
    sealed: Vec<u8>,
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
    path: PathBuf,
    conn: Mutex<Connection>,
    sealer: Sealer,
    packs: Packs,
}

/// Compresses and encrypts blobs under the store's key. Cheap to clone and
/// `Send`, so batches seal on every core while the store writes.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    random: SystemRandom,
    legacy: XChaCha20Poly1305,
}

impl RawStore {
    /// Opens (or creates) the blob database at `path`. A file there that
    /// is not Dealthread's raw store is refused and left untouched.
    pub fn open(path: impl Into<PathBuf>, key: &StoreKey) -> Result<Self> {
        let path = path.into();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| refused(&path, e))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let app_id: i64 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| refused(&path, e))?;
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| {
                r.get(0)
            })?;
        if app_id != RAW_APPLICATION_ID && (app_id != 0 || tables != 0) {
            return Err(CoreError::NotOurDatabase {
                path,
                reason: "is not Dealthread's raw store; it was left untouched".into(),
            });
        }
        // The file holds only where each blob lies (and the blobs of stores
        // from before the packs, written with 64 KiB pages): small pages
        // and a WAL write a batch's few index pages once, with one sync,
        // where a rollback journal synced the journal, then the file, and
        // truncated it. FULL makes a commit durable when it returns;
        // incremental vacuum lets retention give the space back.
        conn.execute_batch(&format!(
            "PRAGMA page_size = 4096;
             PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA application_id = {RAW_APPLICATION_ID};
             {BLOBS_TABLE}"
        ))?;
        upgrade(&conn)?;
        let packs = Packs::new(packs_folder_for(&path));
        let store = RawStore { path, conn: Mutex::new(conn), sealer: Sealer::new(key)?, packs };
        store.adopt_legacy_folder()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| CoreError::Corrupt("the raw store's lock was poisoned".into()))
    }

    pub fn sealer(&self) -> Sealer {
        self.sealer.clone()
    }

    /// Compresses and encrypts `bytes` (see [`Sealer::seal`]).
    pub fn seal(&self, kind: BlobKind, bytes: &[u8]) -> Result<SealedBlob> {
        self.sealer.seal(kind, bytes)
    }

    /// Writes sealed blobs (content already stored is kept as it is),
    /// durable when this returns: their bytes are appended to a pack and
    /// synced, then their places are committed, in one transaction that
    /// holds the store's write lock throughout.
    pub fn put_all<'a>(&self, blobs: impl IntoIterator<Item = &'a SealedBlob>) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new: Vec<(&SealedBlob, [u8; 32])> = Vec::new();
        {
            let mut stored =
                tx.prepare_cached("SELECT 1 FROM blobs WHERE kind = ?1 AND sha256 = ?2")?;
            let mut seen = std::collections::HashSet::new();
            for blob in blobs {
                let digest = digest_bytes(&blob.sha256)?;
                if seen.insert((blob.kind.code(), digest))
                    && !stored.exists(params![blob.kind.code(), digest])?
                {
                    new.push((blob, digest));
                }
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let newest: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT pack, at + len FROM blobs WHERE pack IS NOT NULL
                 ORDER BY pack DESC, at DESC LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let slot = Slot::after(newest.map(|(number, end)| (number, end.max(0) as u64)));
        let sealed: Vec<&[u8]> = new.iter().map(|(blob, _)| blob.sealed.as_slice()).collect();
        let offsets = self.packs.append(slot, &sealed)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO blobs (kind, sha256, sealed, pack, at, len)
                 VALUES (?1, ?2, X'', ?3, ?4, ?5)",
            )?;
            for ((blob, digest), at) in new.iter().zip(offsets) {
                let len = blob.sealed.len() as i64;
                insert.execute(params![blob.kind.code(), digest, slot.number, at as i64, len])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Seals and stores one blob, durably; returns its hex SHA-256.
    pub fn put(&self, kind: BlobKind, bytes: &[u8]) -> Result<String> {
        let blob = self.seal(kind, bytes)?;
        self.put_all(std::slice::from_ref(&blob))?;
        Ok(blob.sha256)
    }

    /// Whether a blob is stored, without reading it.
    pub fn has(&self, kind: BlobKind, sha256: &str) -> Result<bool> {
        let digest = digest_bytes(sha256)?;
        Ok(self
            .conn()?
            .prepare_cached("SELECT 1 FROM blobs WHERE kind = ?1 AND sha256 = ?2")?
            .query_row(params![kind.code(), digest], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn get(&self, kind: BlobKind, sha256: &str) -> Result<Vec<u8>> {
        let digest = digest_bytes(sha256)?;
        let row: Option<(Vec<u8>, Option<i64>, i64, i64)> = self
            .conn()?
            .prepare_cached(
                "SELECT sealed, pack, coalesce(at, 0), coalesce(len, 0) FROM blobs
                 WHERE kind = ?1 AND sha256 = ?2",
            )?
            .query_row(params![kind.code(), digest], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let name = || format!("{}: blob {sha256}", self.path.display());
        let sealed = match row {
            None => return Err(CoreError::NotFound(format!("{} is not stored", name()))),
            // Written inline by builds before the packs.
            Some((inline, None, _, _)) => inline,
            Some((_, Some(number), at, len)) => {
                let (Ok(at), Ok(len)) = (u64::try_from(at), u64::try_from(len)) else {
                    return Err(CoreError::Corrupt(format!("{}: its place is damaged", name())));
                };
                self.packs.read(number, at, len)?
            }
        };
        let plain = self
            .sealer
            .unseal(sha256, &sealed)
            .map_err(|reason| CoreError::Corrupt(format!("{}: {reason}", name())))?;
        if hex::encode(Sha256::digest(&plain)) != sha256 {
            return Err(CoreError::Corrupt(format!("{}: content does not match its name", name())));
        }
        Ok(plain)
    }

    /// Deletes blobs and gives their space back to the file system; returns
    /// the sealed bytes freed.
    pub fn remove_all(&self, kind: BlobKind, sha256s: &[String]) -> Result<u64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut freed = 0u64;
        let mut touched = std::collections::BTreeSet::new();
        {
            let mut delete = tx.prepare_cached(
                "DELETE FROM blobs WHERE kind = ?1 AND sha256 = ?2
                 RETURNING coalesce(len, length(sealed)), pack",
            )?;
            for sha256 in sha256s {
                let digest = digest_bytes(sha256)?;
                let row: Option<(i64, Option<i64>)> = delete
                    .query_row(params![kind.code(), digest], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((len, pack)) = row {
                    freed += len.max(0) as u64;
                    touched.extend(pack);
                }
            }
        }
        // The rows go first: a crash before the space is given back leaves
        // unreferenced bytes, never a row whose bytes are gone.
        tx.commit()?;
        conn.execute_batch("PRAGMA incremental_vacuum")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut kept =
                tx.prepare_cached("SELECT at, len FROM blobs WHERE pack = ?1 ORDER BY at")?;
            for number in touched {
                let places = kept
                    .query_map([number], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                    .map(|place| place.map(|(at, len)| (at.max(0) as u64, len.max(0) as u64)))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                self.packs.release(number, &places)?;
            }
        }
        tx.commit()?;
        Ok(freed)
    }

    /// Moves blobs from the per-file layout of earlier versions
    /// (`dealthread.raw/{messages,attachments}/xx/<sha256>`, sealed the same
    /// way) into the database, then deletes the folder.
    fn adopt_legacy_folder(&self) -> Result<()> {
        let Some(folder) = legacy_folder_for(&self.path) else { return Ok(()) };
        if !folder.is_dir() {
            return Ok(());
        }
        for kind in [BlobKind::Message, BlobKind::Attachment] {
            let root = folder.join(kind.legacy_folder());
            let mut batch = Vec::new();
            for shard in read_dir(&root)? {
                for file in read_dir(&shard)? {
                    let Some(sha256) = file.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                    else {
                        continue;
                    };
                    if digest_bytes(&sha256).is_err() {
                        continue; // a temporary file of an interrupted write
                    }
                    let sealed = std::fs::read(&file).map_err(|e| CoreError::io(&file, e))?;
                    batch.push(SealedBlob { kind, sha256, sealed });
                    if batch.len() >= 256 {
                        self.put_all(&batch)?;
                        batch.clear();
                    }
                }
            }
            self.put_all(&batch)?;
        }
        std::fs::remove_dir_all(&folder).map_err(|e| CoreError::io(&folder, e))
    }
}

impl Sealer {
    fn new(key: &StoreKey) -> Result<Sealer> {
        let unbound = UnboundKey::new(&aead::AES_256_GCM, &key.0)
            .map_err(|_| CoreError::Corrupt("the store key is not a 256-bit key".into()))?;
        Ok(Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            random: SystemRandom::new(),
            legacy: XChaCha20Poly1305::new(Key::from_slice(&key.0)),
        })
    }

    /// Compresses and encrypts `bytes`; pure, so batches seal on every core.
    pub fn seal(&self, kind: BlobKind, bytes: &[u8]) -> Result<SealedBlob> {
        self.seal_digested(kind, bytes, hex::encode(Sha256::digest(bytes)))
    }

    /// [`Sealer::seal`] for a caller that has hashed `bytes` already: `sha256`
    /// must be their hex SHA-256, the blob's address.
    pub fn seal_digested(
        &self,
        kind: BlobKind,
        bytes: &[u8],
        sha256: String,
    ) -> Result<SealedBlob> {
        let sealed = self.seal_bytes(&sha256, bytes)?;
        Ok(SealedBlob { kind, sha256, sealed })
    }

    /// `MAGIC | codec | nonce | AES-256-GCM(codec-encoded bytes) | tag`,
    /// with `sha256 | codec` as the associated data.
    fn seal_bytes(&self, sha256: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        let compressed = compress(bytes).filter(|c| pays(c.len(), bytes.len()));
        let (codec, body) = match &compressed {
            Some(c) => (ZSTD, c.as_slice()),
            None => (PLAIN, bytes),
        };
        let failed = |_| CoreError::Corrupt("encryption failed".into());
        let mut nonce = [0u8; aead::NONCE_LEN];
        self.random.fill(&mut nonce).map_err(failed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + aead::MAX_TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(codec);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(body);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([sha256.as_bytes(), &[codec]].concat()),
                &mut out[HEADER_LEN..],
            )
            .map_err(failed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    fn unseal(&self, sha256: &str, sealed: &[u8]) -> std::result::Result<Vec<u8>, String> {
        const WRONG_KEY: &str = "does not decrypt with this store's key (wrong key, or damaged)";
        let magic = sealed.get(..4);
        let (codec, body) = if magic == Some(MAGIC) && sealed.len() >= HEADER_LEN {
            let codec = sealed[4];
            let nonce = <[u8; aead::NONCE_LEN]>::try_from(&sealed[5..HEADER_LEN])
                .map_err(|_| "not a Dealthread blob".to_string())?;
            let mut body = sealed[HEADER_LEN..].to_vec();
            let plain_len = self
                .key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from([sha256.as_bytes(), &[codec]].concat()),
                    &mut body,
                )
                .map_err(|_| WRONG_KEY)?
                .len();
            body.truncate(plain_len);
            (codec, body)
        } else if magic == Some(LEGACY_MAGIC) && sealed.len() >= 5 + LEGACY_NONCE_LEN {
            let codec = sealed[4];
            let nonce = XNonce::from_slice(&sealed[5..5 + LEGACY_NONCE_LEN]);
            let aad = [sha256.as_bytes(), &[codec]].concat();
            let payload = Payload { msg: &sealed[5 + LEGACY_NONCE_LEN..], aad: &aad };
            (codec, self.legacy.decrypt(nonce, payload).map_err(|_| WRONG_KEY)?)
        } else {
            return Err("not a Dealthread blob".into());
        };
        match codec {
            PLAIN => Ok(body),
            ZSTD => {
                zstd::stream::decode_all(body.as_slice()).map_err(|e| format!("decompressing: {e}"))
            }
            other => Err(format!("unknown codec {other}")),
        }
    }
}

/// Bytes beyond this are only compressed when a sample of this size, from
/// their middle, pays: a large message is large for its attachments, which
/// are mostly already compressed (PDF streams, images, Office zips) and
/// carried as base64, and trying costs more than anything else in sealing.
/// The middle is where the attachment is; the start is headers and text.
const SAMPLE: usize = 8 * 1024;

/// Whether compressing `plain` bytes to `compressed` is worth keeping: it
/// must save a third. Mail text shrinks to a fifth or less; base64 (how
/// mail carries attachments) only by a quarter, because its alphabet uses
/// 6 of each byte's 8 bits. Compressing that quarter away cost a tenth of
/// an import's time (50,000 messages, mostly PDFs by size) for a sixth
/// less disk, and raw MIME is only kept for a while (30 days unless the
/// rep says otherwise), so messages made mostly of attachments are kept as
/// they are.
fn pays(compressed: usize, plain: usize) -> bool {
    compressed * 3 <= plain * 2
}

/// zstd at level 1 (mail text compresses nearly as well as at the default
/// level, at about twice the speed), with one compression context per
/// thread: making one per blob showed in the import profile.
fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(1).ok();
        }
        let compressor = slot.as_mut()?;
        if bytes.len() > 4 * SAMPLE {
            let middle = bytes.len() / 2;
            let sample = &bytes[middle..middle + SAMPLE];
            let shrunk = compressor.compress(sample).ok()?;
            if !pays(shrunk.len(), sample.len()) {
                return None;
            }
        }
        compressor.compress(bytes).ok()
    })
}

/// The 32 bytes of a hex SHA-256, or an error naming what is wrong.
fn digest_bytes(sha256: &str) -> Result<[u8; 32]> {
    hex::decode(sha256)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| CoreError::InvalidInput(format!("not a SHA-256 digest: {sha256}")))
}

/// Brings a raw store written by an earlier build to the current layout:
/// version 1 keeps blobs in packs, and each row says where.
fn upgrade(conn: &Connection) -> Result<()> {
    let version = |conn: &Connection| -> Result<i64> {
        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    };
    if version(conn)? >= 1 {
        return Ok(());
    }
    // Another process may be upgrading the same store: ask again under
    // the write lock.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    if version(&tx)? < 1 {
        tx.execute_batch(
            "ALTER TABLE blobs ADD COLUMN pack INTEGER;
             ALTER TABLE blobs ADD COLUMN at INTEGER;
             ALTER TABLE blobs ADD COLUMN len INTEGER;
             CREATE INDEX blobs_by_place ON blobs (pack, at) WHERE pack IS NOT NULL;
             PRAGMA user_version = 1;",
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// `dealthread.raw.db` keeps its packs in `dealthread.raw.packs/`.
fn packs_folder_for(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("dealthread.raw.db");
    let stem = name.strip_suffix(".db").unwrap_or(name);
    path.with_file_name(format!("{stem}.packs"))
}

/// `dealthread.raw.db` was the folder `dealthread.raw/` before.
fn legacy_folder_for(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    Some(path.with_file_name(name.strip_suffix(".db")?))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CoreError::io(dir, e)),
    }
}

fn refused(path: &Path, error: rusqlite::Error) -> CoreError {
    match error {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
            CoreError::NotOurDatabase {
                path: path.into(),
                reason: "is not a SQLite database (the raw store is damaged or was replaced); it was left untouched".into(),
            }
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, key: u8) -> RawStore {
        RawStore::open(dir.join("d.raw.db"), &StoreKey::from_bytes([key; 32])).expect("open")
    }

    /// The sealed bytes of the blob in row `id`, as they lie on disk.
    fn sealed_row(raw: &RawStore, id: i64) -> Vec<u8> {
        let (inline, pack, at, len): (Vec<u8>, Option<i64>, Option<i64>, Option<i64>) = raw
            .conn()
            .expect("conn")
            .query_row("SELECT sealed, pack, at, len FROM blobs WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("row");
        match (pack, at, len) {
            (Some(pack), Some(at), Some(len)) => {
                raw.packs.read(pack, at as u64, len as u64).expect("pack")
            }
            _ => inline,
        }
    }

    /// Every byte the store keeps on disk: its database and its packs.
    fn all_bytes_on_disk(dir: &Path) -> Vec<u8> {
        let mut bytes = std::fs::read(dir.join("d.raw.db")).expect("database");
        for pack in read_dir(&dir.join("d.raw.packs")).expect("packs") {
            bytes.extend(std::fs::read(pack).expect("pack"));
        }
        bytes
    }

    /// Disk blocks a file takes (holes take none).
    fn blocks(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).expect("metadata").blocks()
    }

    /// Bytes that do not compress, like a scanned PDF.
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn blobs_round_trip_compressed_and_are_unreadable_without_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 7);
        let text = "Subject: quote\r\n\r\nThe renewal quote for 250 seats.\r\n".repeat(50);
        let sha = raw.put(BlobKind::Message, text.as_bytes()).expect("put");
        assert_eq!(raw.get(BlobKind::Message, &sha).expect("get"), text.as_bytes());

        let sealed = sealed_row(&raw, 1);
        assert!(sealed.len() < text.len() / 4, "repetitive mail compresses");
        drop(raw);
        let on_disk = all_bytes_on_disk(dir.path());
        assert!(on_disk.windows(sealed.len()).any(|w| w == sealed), "the blob is on disk");
        assert!(!on_disk.windows(7).any(|w| w == b"renewal"), "no plaintext on disk");
        let other = store(dir.path(), 8);
        assert!(matches!(other.get(BlobKind::Message, &sha), Err(CoreError::Corrupt(_))));
    }

    #[test]
    fn a_message_made_mostly_of_an_attachment_is_kept_uncompressed() {
        use base64::Engine;
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 7);
        // A scanned PO: bytes that do not compress, carried as base64.
        let scan = noise(120_000, 0x9e37_79b9_7f4a_7c15);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&scan);
        let mut message = String::from(
            "Subject: PO 4471\r\nContent-Type: application/pdf\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
        );
        for line in encoded.as_bytes().chunks(76) {
            message.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            message.push_str("\r\n");
        }
        let sha = raw.put(BlobKind::Message, message.as_bytes()).expect("put");
        assert_eq!(raw.get(BlobKind::Message, &sha).expect("get"), message.as_bytes());
        let sealed = sealed_row(&raw, 1);
        assert_eq!(sealed[MAGIC.len()], PLAIN, "base64 saves only a quarter: not worth it");
        assert!(sealed.len() > message.len(), "sealed whole, with its nonce and tag");
    }

    #[test]
    fn blobs_sealed_by_earlier_versions_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 5);
        // A blob as earlier builds sealed it: XChaCha20-Poly1305.
        let text = b"Subject: signed order form\r\n\r\nAttached, countersigned.\r\n";
        let sha256 = hex::encode(Sha256::digest(text));
        let nonce = [9u8; LEGACY_NONCE_LEN];
        let aad = [sha256.as_bytes(), &[PLAIN]].concat();
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&[5; 32]));
        let body = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: text, aad: &aad })
            .expect("seal");
        let sealed = [LEGACY_MAGIC.as_slice(), &[PLAIN], &nonce, &body].concat();
        let old = SealedBlob { kind: BlobKind::Message, sha256: sha256.clone(), sealed };
        raw.put_all([&old]).expect("put");
        assert_eq!(raw.get(BlobKind::Message, &sha256).expect("get"), text);

        let new = raw.put(BlobKind::Message, b"a newer message").expect("put");
        let sealed = sealed_row(&raw, 2);
        assert_eq!(&sealed[..4], MAGIC, "new blobs are sealed with AES-256-GCM");
        assert_eq!(raw.get(BlobKind::Message, &new).expect("get"), b"a newer message");
    }

    #[test]
    fn a_swapped_blob_reads_as_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 1);
        let a = raw.put(BlobKind::Attachment, b"first file").expect("a");
        let b = raw.put(BlobKind::Attachment, b"second file").expect("b");
        raw.conn()
            .expect("conn")
            .execute(
                "UPDATE blobs SET (pack, at, len) =
                     (SELECT pack, at, len FROM blobs WHERE sha256 = ?1)
                 WHERE sha256 = ?2",
                params![digest_bytes(&a).expect("a"), digest_bytes(&b).expect("b")],
            )
            .expect("swap");
        assert!(matches!(raw.get(BlobKind::Attachment, &b), Err(CoreError::Corrupt(_))));
    }

    #[test]
    fn the_same_content_is_stored_once_and_removal_frees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 1);
        let first = raw.put(BlobKind::Attachment, b"%PDF-1.4 quote").expect("first");
        let again = raw.put(BlobKind::Attachment, b"%PDF-1.4 quote").expect("again");
        assert_eq!(first, again);
        let count = |raw: &RawStore| -> i64 {
            raw.conn()
                .expect("conn")
                .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(count(&raw), 1);
        assert!(
            raw.remove_all(BlobKind::Attachment, std::slice::from_ref(&first)).expect("remove") > 0
        );
        assert_eq!(count(&raw), 0);
        assert!(matches!(raw.get(BlobKind::Attachment, &first), Err(CoreError::NotFound(_))));
        assert!(!raw.packs.path(1).exists(), "a pack that keeps nothing is deleted");
    }

    #[test]
    fn removal_gives_back_the_pages_no_kept_blob_touches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 2);
        // Three batches of a blob each, every one 400 KB of incompressible bytes.
        let shas: Vec<String> = (0..3)
            .map(|i| raw.put(BlobKind::Message, &noise(400_000, 11 + i)).expect("put"))
            .collect();
        let pack = raw.packs.path(1);
        let before = blocks(&pack);
        assert!(before * 512 >= 1_200_000, "all three are on disk: {before} blocks");

        let freed = raw.remove_all(BlobKind::Message, &shas[1..2]).expect("remove the middle");
        assert!(freed > 400_000, "{freed}");
        let after = blocks(&pack);
        assert!(
            (before - after) * 512 >= 390_000,
            "the middle blob's pages are holes now: {before} -> {after} blocks"
        );
        assert_eq!(raw.get(BlobKind::Message, &shas[0]).expect("first"), noise(400_000, 11));
        assert_eq!(raw.get(BlobKind::Message, &shas[2]).expect("last"), noise(400_000, 13));

        // The next batch goes after the last kept blob, never into a hole.
        let more = raw.put(BlobKind::Message, b"Subject: later\r\n\r\nnew").expect("put");
        assert_eq!(raw.get(BlobKind::Message, &more).expect("later"), b"Subject: later\r\n\r\nnew");
        assert_eq!(raw.get(BlobKind::Message, &shas[2]).expect("last"), noise(400_000, 13));
    }

    #[test]
    fn a_store_from_before_the_packs_is_upgraded_and_its_blobs_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = b"Subject: kept inline\r\n\r\nfrom an earlier build";
        let blob = store(dir.path(), 4).seal(BlobKind::Message, text).expect("seal");
        std::fs::remove_file(dir.path().join("d.raw.db")).expect("start over");
        {
            // The layout earlier builds wrote: every blob in its row.
            let conn = Connection::open(dir.path().join("d.raw.db")).expect("old store");
            conn.execute_batch(&format!(
                "PRAGMA page_size = 65536;
                 PRAGMA application_id = {RAW_APPLICATION_ID};
                 {BLOBS_TABLE}"
            ))
            .expect("schema");
            conn.execute(
                "INSERT INTO blobs (kind, sha256, sealed) VALUES (0, ?1, ?2)",
                params![digest_bytes(&blob.sha256).expect("digest"), blob.sealed],
            )
            .expect("inline blob");
        }
        let raw = store(dir.path(), 4);
        assert_eq!(raw.get(BlobKind::Message, &blob.sha256).expect("inline"), text);
        let newer = raw.put(BlobKind::Message, b"a newer one").expect("put");
        assert_eq!(raw.get(BlobKind::Message, &newer).expect("packed"), b"a newer one");
        assert!(raw.packs.path(1).exists(), "new blobs go to a pack");
        let freed = raw.remove_all(BlobKind::Message, &[blob.sha256.clone(), newer]).expect("rm");
        assert_eq!(freed, blob.sealed.len() as u64 + sealed_len(b"a newer one"));
        drop(raw);
        // Opening it again finds it at the current version already.
        let raw = store(dir.path(), 4);
        assert!(matches!(raw.get(BlobKind::Message, &blob.sha256), Err(CoreError::NotFound(_))));
    }

    /// What sealing `plain` (too short to compress) adds up to.
    fn sealed_len(plain: &[u8]) -> u64 {
        (HEADER_LEN + plain.len() + aead::MAX_TAG_LEN) as u64
    }

    #[test]
    fn blobs_of_the_per_file_layout_are_adopted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = store(dir.path(), 3);
        let sha = raw.put(BlobKind::Message, b"Subject: old\r\n\r\nkept").expect("put");
        let blob = raw.seal(BlobKind::Message, b"Subject: old\r\n\r\nkept").expect("seal");
        drop(raw);
        std::fs::remove_file(dir.path().join("d.raw.db")).expect("start over");
        let shard = dir.path().join("d.raw/messages").join(&sha[..2]);
        std::fs::create_dir_all(&shard).expect("shard");
        std::fs::write(shard.join(&sha), &blob.sealed).expect("legacy file");
        std::fs::write(shard.join(format!(".{sha}.tmp")), b"half").expect("leftover");

        let raw = store(dir.path(), 3);
        assert_eq!(raw.get(BlobKind::Message, &sha).expect("adopted"), b"Subject: old\r\n\r\nkept");
        assert!(!dir.path().join("d.raw").exists(), "the old folder is gone");
    }

    #[test]
    fn refuses_a_foreign_file_in_its_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.raw.db");
        std::fs::write(&path, b"not a database at all, just some text that is long enough")
            .expect("write");
        let error = RawStore::open(&path, &StoreKey::from_bytes([1; 32])).err().expect("refused");
        assert!(matches!(error, CoreError::NotOurDatabase { .. }), "{error}");
    }
}
