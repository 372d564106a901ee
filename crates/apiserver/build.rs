//! Compiles the vendored Kubernetes `generated.proto` files with protox, a
//! pure-Rust protobuf compiler, into a FileDescriptorSet that
//! `src/protobuf.rs` decodes request bodies with; no `protoc` is needed.

use std::path::PathBuf;

/// The files whose messages the server decodes; their imports come along.
const FILES: &[&str] = &[
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(false);
    for f in FILES {
        compiler.open_file(f)?;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("k8s.fds");
    std::fs::write(out, compiler.encode_file_descriptor_set())?;
    Ok(())
}
