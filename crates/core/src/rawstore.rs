//! Raw MIME kept content-addressed on disk, beside the database.
//!
//! A message's raw bytes are written and synced before the row that refers to
//! them commits (DESIGN.md, "durable first"), so a crash can leave an orphan
//! file but never a row without its bytes. Files are named by their SHA-256,
//! sharded by the first two hex digits: the same bytes are stored once.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

#[derive(Debug, Clone)]
pub struct RawStore {
    root: PathBuf,
}

impl RawStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RawStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        let shard = sha256.get(..2).unwrap_or("00");
        self.root.join(shard).join(format!("{sha256}.eml"))
    }

    /// Stores `raw` (if not already there) and returns its hex SHA-256.
    /// The file is written under a temporary name, synced, then renamed, so
    /// a reader never sees half a message.
    pub fn put(&self, raw: &[u8]) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(raw));
        let path = self.path_of(&sha256);
        if path.exists() {
            return Ok(sha256);
        }
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let tmp = dir.join(format!(".{sha256}.tmp"));
        let written = File::create(&tmp).and_then(|mut file| {
            file.write_all(raw)?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = fs::remove_file(&tmp);
            return Err(CoreError::io(&tmp, error));
        }
        fs::rename(&tmp, &path).map_err(|e| CoreError::io(&path, e))?;
        Ok(sha256)
    }

    pub fn get(&self, sha256: &str) -> Result<Vec<u8>> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoreError::InvalidInput(format!("not a SHA-256 digest: {sha256}")));
        }
        let path = self.path_of(sha256);
        fs::read(&path).map_err(|e| CoreError::io(path, e))
    }
}
