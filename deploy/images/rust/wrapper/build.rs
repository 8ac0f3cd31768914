// Records the compiler that built the function (rustc's version), which the context reports as `rustc`.
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    // "rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)" -> "1.85.0"
    let number = version.split_whitespace().nth(1).unwrap_or("unknown").to_string();
    println!("cargo:rustc-env=WEFT_RUSTC_VERSION={number}");
    println!("cargo:rerun-if-changed=build.rs");
}
