//! kill -9 at any moment loses nothing a user did: tags stay, the index recovers.

#[path = "support/http_server.rs"]
mod http_server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use http_server::{Route, TestServer, sample_rss};

fn echowatch(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_echowatch"));
    c.arg("--config").arg(config).env_remove("ECHOWATCH_DATA");
    c
}

fn json(config: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = echowatch(config).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tags_survive_kill_dash_nine_during_sync() {
    let server = TestServer::start();
    server.set_recording(false);
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for i in 0..24 {
        let path = format!("/f{i}.xml");
        // Staggered delays spread the ingest over a second or so, so kills land mid-way.
        server.add_route(
            &path,
            Route::feed(sample_rss(&format!("feed{i}"), 40))
                .with_delay(Duration::from_millis(20 * i)),
        );
        config.push_str(&format!(
            "[[source]]\nname = \"f{i}\"\nurl = \"{}\"\n",
            server.url(&path)
        ));
    }
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(&cfg, "").unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/feeds/policy-wire.rss");
    assert!(
        echowatch(&cfg)
            .arg("import")
            .arg(&samples)
            .status()
            .unwrap()
            .success()
    );
    let id = json(&cfg, &["search", "Entity List", "--json"])[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    assert!(
        echowatch(&cfg)
            .args(["tag", &id, "+brief", "-country:CN"])
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(&cfg, config).unwrap();

    for (round, wait_ms) in [40u64, 120, 250, 400, 700, 1000].into_iter().enumerate() {
        let mut child = echowatch(&cfg)
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let shown = &json(&cfg, &["show", &id, "--json"])[0];
        assert!(
            shown["tags"].as_array().unwrap().contains(&"brief".into()),
            "round {round}: {shown}"
        );
        assert!(
            !shown["countries"]
                .as_array()
                .unwrap()
                .contains(&"CN".into()),
            "round {round}: {shown}"
        );
        assert_eq!(
            json(&cfg, &["search", "tag:brief", "--json"]).len(),
            1,
            "round {round}"
        );
    }
    let out = echowatch(&cfg).arg("sync").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(
        &echowatch(&cfg)
            .args(["stats", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        stats["stories"],
        24 * 40 + 6,
        "index agrees with the store after the kills: {stats}"
    );
}
