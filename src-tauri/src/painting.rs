//! How WebKitGTK paints the window on Linux.
//!
//! By default WebKitGTK composites the page through OpenGL. On a machine
//! with no GPU (no DRM render node: many VMs, remote X sessions, Xvfb) the
//! only OpenGL there is Mesa's software rasterizer, and compositing through
//! it costs more than painting the page on the CPU directly: under Xvfb,
//! scrolling a 2,000-message timeline measured a median frame of 43 ms and
//! stalls of up to 300 ms at every chunk of rows, but 14 ms and no frame
//! over 50 ms with compositing off (`bash scripts/bench.sh app`).
//!
//! So without a render node the app asks WebKit for its non-composited
//! mode; with one, WebKit's GPU path stays. Whatever the user set with
//! WebKit's own variables wins.

use std::path::Path;

/// WebKitGTK's variables for its compositing mode; if the user set any of
/// them, the choice is theirs.
const WEBKIT_VARIABLES: [&str; 3] = [
    "WEBKIT_DISABLE_COMPOSITING_MODE",
    "WEBKIT_FORCE_COMPOSITING_MODE",
    "WEBKIT_DISABLE_DMABUF_RENDERER",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Painting {
    /// WebKit's default: composited through the GPU.
    Composited,
    /// No GPU: paint on the CPU without compositing.
    Software,
    /// The user set one of WebKit's variables; left as they are.
    UserChoice,
}

/// What to do, given whether the user set a WebKit variable and the DRM
/// device folder (`/dev/dri` on Linux).
pub fn choose(user_set: bool, dri: &Path) -> Painting {
    if user_set {
        Painting::UserChoice
    } else if has_render_node(dri) {
        Painting::Composited
    } else {
        Painting::Software
    }
}

/// Whether the folder holds a render node (`renderD128`…), the device a
/// hardware OpenGL driver draws through.
fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Chooses and applies the painting mode. Must run first thing in `main`,
/// before any other thread exists and before WebKit starts.
#[cfg(target_os = "linux")]
pub fn apply() -> Painting {
    let user_set = WEBKIT_VARIABLES.iter().any(|name| std::env::var_os(name).is_some());
    let painting = choose(user_set, Path::new("/dev/dri"));
    if painting == Painting::Software {
        // SAFETY: called at the top of `main`, while the process has one
        // thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
    painting
}

#[cfg(not(target_os = "linux"))]
pub fn apply() -> Painting {
    Painting::Composited
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_render_node_the_page_is_painted_in_software() {
        let dri = tempfile::tempdir().expect("temp dir");
        assert_eq!(choose(false, dri.path()), Painting::Software);
        // A card node alone (display only, no rendering) is no GPU to draw with.
        std::fs::write(dri.path().join("card0"), b"").expect("card0");
        assert_eq!(choose(false, dri.path()), Painting::Software);
        assert_eq!(choose(false, &dri.path().join("missing")), Painting::Software);
    }

    #[test]
    fn a_render_node_keeps_webkits_gpu_compositing() {
        let dri = tempfile::tempdir().expect("temp dir");
        std::fs::write(dri.path().join("card0"), b"").expect("card0");
        std::fs::write(dri.path().join("renderD128"), b"").expect("renderD128");
        assert_eq!(choose(false, dri.path()), Painting::Composited);
    }

    #[test]
    fn a_users_own_webkit_setting_wins() {
        let dri = tempfile::tempdir().expect("temp dir");
        assert_eq!(choose(true, dri.path()), Painting::UserChoice);
        std::fs::write(dri.path().join("renderD128"), b"").expect("renderD128");
        assert_eq!(choose(true, dri.path()), Painting::UserChoice);
    }
}
