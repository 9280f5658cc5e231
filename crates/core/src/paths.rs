//! Where Dealthread keeps its files by default: the OS data folder
//! (`~/.local/share/dealthread` on Linux). `DEALTHREAD_DB` overrides the
//! database path for the app and the CLI alike; the CLI's `--db` wins over both.

use std::path::PathBuf;

pub const DB_ENV: &str = "DEALTHREAD_DB";

pub fn default_db() -> PathBuf {
    if let Some(path) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("dealthread").join("dealthread.db")
}

/// Overrides where saved attachments go (tests use it).
pub const DOWNLOADS_ENV: &str = "DEALTHREAD_DOWNLOADS";

/// Where "Save" puts attachments: the user's Downloads folder.
pub fn downloads() -> PathBuf {
    if let Some(path) = std::env::var_os(DOWNLOADS_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    dirs::download_dir()
        .or_else(|| dirs::home_dir().map(|home| home.join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A new private folder (readable by this user only) for files handed to
/// the system's viewer; under the user's cache folder.
pub fn private_scratch() -> std::io::Result<PathBuf> {
    let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("dealthread").join("open");
    std::fs::create_dir_all(&base)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix("att-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    Ok(builder.tempdir_in(base)?.keep())
}

/// Opens a file with the system's default application.
pub fn open_with_system(path: &std::path::Path) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}
