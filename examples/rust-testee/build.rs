//! Generates the protobuf messages with prost-build from the harness's `.proto` files
//! (`reference/protos/`, wire-identical to Monolith's), compiled with the system `protoc`
//! (Debian's `protobuf-compiler`; `PROTOC=/path/to/protoc` overrides).
//!
//! `MONOLITH_PROTOS_ROOT` names the directory that holds `reference/protos/` (default:
//! this repository's root, two levels up), for a port that keeps a copy elsewhere.

use std::env;
use std::path::PathBuf;

const PROTOS: [&str; 4] = [
    "reference/protos/ckpt_info.proto",
    "reference/protos/controller_hooks.proto",
    "reference/protos/embedding_hash_table.proto",
    // Imports reference/protos/line_id.proto.
    "reference/protos/example.proto",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = match env::var_os("MONOLITH_PROTOS_ROOT") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.join("..").join(".."),
    };
    println!("cargo:rerun-if-env-changed=MONOLITH_PROTOS_ROOT");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    for file in files
        .iter()
        .chain([&root.join("reference/protos/line_id.proto")])
    {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let mut config = prost_build::Config::new();
    // Maps as BTreeMap: ckpt.info prints slot_counts sorted by key, as protobuf does.
    config.btree_map(["."]);
    if let Err(e) = config.compile_protos(&files, &[root]) {
        panic!(
            "prost-build failed: {e}\n(needs protoc: apt-get install protobuf-compiler, \
             or set PROTOC=/path/to/protoc)"
        );
    }
}
