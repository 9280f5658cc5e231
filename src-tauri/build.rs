fn main() {
    // The Tauri config lives at the repository root (see DESIGN.md), so point
    // tauri-build at it explicitly; paths inside it are relative to the root.
    if let Err(error) =
        tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
    {
        eprintln!("tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
