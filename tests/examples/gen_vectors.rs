//! Writes the golden vectors under `tests/vectors/`.
//!
//! ```text
//! cargo run -p netcluster-tests --example gen_vectors
//! ```
//!
//! Each vector is encoded by `netcluster-core` and, independently, field by
//! field from the specification; generation fails if the two disagree. The
//! `.hex` files are committed; `tests/vectors.rs` checks that they match this
//! generator and that the codec parses and re-emits them byte for byte.

#[path = "../tests/vector_gen/mod.rs"]
mod vector_gen;

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    for v in vector_gen::all() {
        let path = root.join(&v.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, v.text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
