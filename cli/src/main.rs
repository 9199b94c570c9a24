//! The `netcluster` command.
fn main() {
    println!("netcluster {}", env!("CARGO_PKG_VERSION"));
}
