//! The fixture corpus under `tests/fixtures/<kind>/`: `.eml` messages, each
//! with its snapshot (`.snap`) and, for generated ones, the facts to assert
//! (`.expect.json`). `tests/fixtures/generate.py` writes the generated part.

use std::path::PathBuf;

use crate::workspace_root;

/// Every `.eml` file under `tests/fixtures`, sorted, with its kind (the
/// folder name).
pub fn all_messages() -> Vec<(String, PathBuf)> {
    let root = workspace_root().join("tests").join("fixtures");
    let mut found = Vec::new();
    let mut kinds: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    kinds.sort_by_key(|e| e.file_name());
    for kind in kinds {
        let mut files: Vec<PathBuf> = std::fs::read_dir(kind.path())
            .unwrap_or_else(|e| panic!("{}: {e}", kind.path().display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        let name = kind.file_name().to_string_lossy().into_owned();
        found.extend(files.into_iter().map(|f| (name.clone(), f)));
    }
    found
}
