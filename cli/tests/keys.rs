//! `netcluster keygen` and `agent --keyring`: a fresh private key file,
//! and key files the agent refuses with one clear line.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn keygen_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    let out = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("wrote key 0x"), "{}", text(&out.stderr));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let ring = netcluster_net::keyfile::load_keyring(&key).unwrap();
    assert_eq!(ring.keys().len(), 1);
    // Never overwritten.
    let again = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(netcluster_net::keyfile::load_keyring(&key).unwrap(), ring);
    // Without --out, one key on stdout; two runs differ.
    let a = run(&["keygen"]);
    let b = run(&["keygen"]);
    assert!(a.status.success());
    let (a, b) = (text(&a.stdout), text(&b.stdout));
    assert_eq!(a.trim().len(), 64, "{a}");
    assert_ne!(a, b);
}

#[test]
fn the_agent_refuses_loose_and_malformed_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("a.sock");
    let key = dir.path().join("loose.key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let agent = |key: &std::path::Path| {
        run(&[
            "agent",
            "--cluster",
            "c",
            "--name",
            "n",
            "--beacon",
            "off",
            "--bind",
            "127.0.0.1:0",
            "--admin",
            admin.to_str().unwrap(),
            "--keyring",
            key.to_str().unwrap(),
        ])
    };
    let out = agent(&key);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mode 0644") && err.contains("chmod 600"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::write(&key, "not a key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = agent(&key);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("line 1") && err.contains("64 hexadecimal digits"), "{err}");
    assert!(!admin.exists(), "nothing was opened");
}
