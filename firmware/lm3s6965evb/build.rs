//! Puts memory.x and device.x where cortex-m-rt's link.x finds them.

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for script in ["memory.x", "device.x"] {
        fs::copy(script, out.join(script)).unwrap_or_else(|e| panic!("copying {script}: {e}"));
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
}
