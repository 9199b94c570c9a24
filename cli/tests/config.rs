//! An agent configured by a TOML file, with flags that win over it.

mod common;

use std::process::{Command, Stdio};

use common::*;

#[test]
fn config_file_with_flags_winning() {
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("cfg.sock");
    let cfg = dir.path().join("agent.toml");
    let cluster = unique_cluster("cfg");
    std::fs::write(
        &cfg,
        format!(
            "cluster = \"{cluster}\"\nname = \"from-file\"\ngroups = [\"file-group\"]\n\
             headers = {{ zone = \"a\" }}\nbeacon = \"off\"\nbind = \"127.0.0.1:0\"\n\
             admin = \"{}\"\nlog_level = \"warn\"\n",
            admin.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("cfg.log");
    let child = Command::new(bin())
        .args(["agent", "--config", cfg.to_str().unwrap(), "--name", "from-flag"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut agent = Agent { proc: Guard { child, name: "cfg".into(), log }, admin: admin.clone() };
    let me = own_record(&mut agent);
    assert_eq!(me["name"], "from-flag");
    assert_eq!(me["groups"], serde_json::json!(["file-group"]));
    assert_eq!(me["headers"]["zone"], "a");
    assert!(me["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{me}");
    // The socket is private to its user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&admin).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    agent.proc.term();
    let st = agent.proc.wait_exit(DEADLINE).expect("agent did not stop");
    assert!(st.success(), "{}", agent.proc.stderr());
}
