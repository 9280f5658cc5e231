//! Append-only pack files that hold the raw store's sealed blobs
//! (`dealthread.raw.packs/00000001.pack`, ...), while its SQLite file keeps
//! only where each blob lies.
//!
//! A batch's blobs are written one after another in a single write that
//! bypasses the page cache (`O_DIRECT`), then synced. Raw MIME is written
//! once and rarely read again, so keeping it in the page cache only cost
//! the kernel a fresh page and a copy for every 4 KiB of mail: a quarter of
//! an import's system time. A file system that refuses direct writes gets
//! ordinary ones. Every write starts on a 4 KiB boundary at or past the
//! end of the blobs the index knows, so what a crashed write left behind
//! is overwritten by the next one and never read.
//!
//! Retention frees space by punching holes in the pages no kept blob
//! touches, and deletes a pack that keeps nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// Direct writes need buffers, offsets and lengths on the device's block
/// boundaries; 4 KiB covers every disk in use.
pub const ALIGN: u64 = 4096;

/// A pack is closed once it holds this much and the next one is started,
/// so that no file grows without bound.
pub const PACK_LIMIT: u64 = 1 << 30;

/// Where the next batch goes: pack `number`, from byte `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub number: i64,
    pub start: u64,
}

impl Slot {
    /// The slot after the known blobs of the newest pack, which ends at
    /// `end` (`None`: no pack yet).
    pub fn after(newest: Option<(i64, u64)>) -> Slot {
        match newest {
            None => Slot { number: 1, start: 0 },
            Some((number, end)) if end >= PACK_LIMIT => Slot { number: number + 1, start: 0 },
            Some((number, end)) => Slot { number, start: align_up(end) },
        }
    }
}

pub struct Packs {
    folder: PathBuf,
}

impl Packs {
    pub fn new(folder: PathBuf) -> Packs {
        Packs { folder }
    }

    pub fn path(&self, number: i64) -> PathBuf {
        self.folder.join(format!("{number:08}.pack"))
    }

    /// Writes `blobs` back to back from `slot`, durable when this returns;
    /// returns each blob's offset. The caller holds the raw store's write
    /// lock, so no other writer is between the slot and the write. The
    /// file is opened for each batch: retention may have deleted it since.
    pub fn append(&self, slot: Slot, blobs: &[&[u8]]) -> Result<Vec<u64>> {
        let path = self.path(slot.number);
        let created = !path.exists();
        if created {
            std::fs::create_dir_all(&self.folder).map_err(|e| CoreError::io(&self.folder, e))?;
        }
        let io = |e| CoreError::io(&path, e);
        let written = match open_writable(&path, true) {
            Ok(file) => match write_blobs(&file, slot.start, blobs) {
                // The file system takes the flag but not these alignments.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => None,
                other => Some(other.map_err(io)),
            },
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => None,
            Err(e) => Some(Err(io(e))),
        };
        let offsets = match written {
            Some(result) => result?,
            None => {
                let file = open_writable(&path, false).map_err(io)?;
                write_blobs(&file, slot.start, blobs).map_err(io)?
            }
        };
        if created {
            // The new file's name must survive a crash with its contents.
            File::open(&self.folder)
                .and_then(|f| f.sync_all())
                .map_err(|e| CoreError::io(&self.folder, e))?;
        }
        Ok(offsets)
    }

    /// The `len` bytes at `at` of pack `number`.
    pub fn read(&self, number: i64, at: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path(number);
        let file = File::open(&path).map_err(|e| CoreError::io(&path, e))?;
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(1 << 31)];
        file.read_exact_at(&mut bytes, at).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => CoreError::Corrupt(format!(
                "{} ends before the {len} bytes at {at} its index names",
                path.display()
            )),
            _ => CoreError::io(&path, e),
        })?;
        Ok(bytes)
    }

    /// Gives back the space of pack `number` that none of the `kept`
    /// blobs (offset, length; in order of offset) touches: the file goes
    /// when nothing is kept, else the pages between kept blobs and after
    /// the last become holes. The caller holds the write lock.
    pub fn release(&self, number: i64, kept: &[(u64, u64)]) -> Result<()> {
        let path = self.path(number);
        if kept.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CoreError::io(&path, e)),
                _ => Ok(()),
            };
        }
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CoreError::io(&path, e)),
        };
        let size = file.metadata().map_err(|e| CoreError::io(&path, e))?.len();
        for (from, to) in free_pages(kept, size) {
            if let Err(e) = punch_hole(&file, from, to - from) {
                // Without hole punching the space stays taken until the
                // pack is emptied; nothing is lost.
                tracing::debug!(path = %path.display(), error = %e, "could not punch a hole");
                return Ok(());
            }
        }
        Ok(())
    }
}

/// How much of a batch is gathered before it is written; a batch holds
/// megabytes of mail, and copying it whole before writing would double
/// what an import holds in memory.
const STAGE: usize = 1 << 20;

/// Writes `blobs` back to back from `start` (a multiple of [`ALIGN`])
/// through an aligned staging buffer, the last stage padded with zeros to
/// a whole block, then syncs; returns each blob's offset.
fn write_blobs(file: &File, start: u64, blobs: &[&[u8]]) -> std::io::Result<Vec<u64>> {
    // An aligned window of a plain buffer: direct writes need the memory
    // on a block boundary too.
    let mut buffer = vec![0u8; STAGE + ALIGN as usize];
    let skip = buffer.as_ptr().align_offset(ALIGN as usize);
    let stage = &mut buffer[skip..skip + STAGE];
    let mut offsets = Vec::with_capacity(blobs.len());
    let (mut flushed, mut filled) = (start, 0);
    for blob in blobs {
        offsets.push(flushed + filled as u64);
        let mut rest: &[u8] = blob;
        while !rest.is_empty() {
            let take = rest.len().min(STAGE - filled);
            stage[filled..filled + take].copy_from_slice(&rest[..take]);
            filled += take;
            rest = &rest[take..];
            if filled == STAGE {
                file.write_all_at(stage, flushed)?;
                flushed += STAGE as u64;
                filled = 0;
            }
        }
    }
    if filled > 0 {
        let end = align_up(filled as u64) as usize;
        stage[filled..end].fill(0);
        file.write_all_at(&stage[..end], flushed)?;
    }
    file.sync_data()?;
    Ok(offsets)
}

fn open_writable(path: &Path, direct: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false).mode(0o600);
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

/// The whole pages in `[0, size)` that no kept blob touches, as ranges.
pub fn free_pages(kept: &[(u64, u64)], size: u64) -> Vec<(u64, u64)> {
    let mut free = Vec::new();
    let mut gap_start = 0;
    for &(at, len) in kept.iter().chain(std::iter::once(&(size, 0))) {
        let from = align_up(gap_start);
        let to = at - at % ALIGN;
        if to > from {
            free.push((from, to));
        }
        gap_start = gap_start.max(at + len);
    }
    free
}

fn punch_hole(file: &File, at: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(at), Ok(len)) = (libc::off_t::try_from(at), libc::off_t::try_from(len)) else {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate only reads its integer arguments; the descriptor
    // is open for writing and outlives the call.
    let done = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            at,
            len,
        )
    };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

pub fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_slot_follows_the_known_blobs_on_a_block_boundary() {
        assert_eq!(Slot::after(None), Slot { number: 1, start: 0 });
        assert_eq!(Slot::after(Some((3, 5000))), Slot { number: 3, start: 8192 });
        assert_eq!(Slot::after(Some((3, 8192))), Slot { number: 3, start: 8192 });
        assert_eq!(Slot::after(Some((3, PACK_LIMIT))), Slot { number: 4, start: 0 });
    }

    #[test]
    fn only_pages_no_kept_blob_touches_are_freed() {
        // Kept: [100, 5000) and [20000, 20010); file of 40960 bytes.
        let free = free_pages(&[(100, 4900), (20000, 10)], 40960);
        assert_eq!(free, vec![(8192, 16384), (20480, 40960)]);
        // A blob at the very start keeps its pages; nothing free before it.
        assert_eq!(free_pages(&[(0, 4096)], 4096), Vec::<(u64, u64)>::new());
        // Overlapping or touching kept blobs never free a page they touch.
        assert_eq!(free_pages(&[(0, 9000), (4000, 10)], 16384), vec![(12288, 16384)]);
    }

    #[test]
    fn blobs_written_together_read_back_one_by_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let packs = Packs::new(dir.path().join("d.raw.packs"));
        let first = Slot::after(None);
        let offsets = packs.append(first, &[b"first blob", b"the second"]).expect("append");
        assert_eq!(offsets, vec![0, 10]);
        let next = Slot::after(Some((1, 20)));
        let more = packs.append(next, &[b"third"]).expect("append again");
        assert_eq!(more, vec![4096]);
        assert_eq!(packs.read(1, 10, 10).expect("read"), b"the second");
        assert_eq!(packs.read(1, 4096, 5).expect("read"), b"third");
        assert!(matches!(packs.read(1, 4096, 9000), Err(CoreError::Corrupt(_))));
    }
}
