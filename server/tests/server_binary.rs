//! The `roomcast` binary: `--help`, configuration errors (exit 2), start-up log
//! line and graceful exit (0) on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roomcast");

#[test]
fn help_lists_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // Every key of the config file (roomcast.example.toml lists them all: a
    // unit test of config.rs fails when one is missing) has its flag and its
    // environment variable, but the [policy] table's capabilities.
    let example = include_str!("../../roomcast.example.toml");
    let mut keys = 0;
    for line in example.lines() {
        let line = line.trim_start_matches('#').trim_start();
        if line.starts_with('[') {
            break; // the [policy] table
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        if !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        keys += 1;
        let flag = format!("--{}", key.replace('_', "-"));
        let env = format!("ROOMCAST_{}", key.to_ascii_uppercase());
        assert!(help.contains(&flag), "{flag} missing from --help:\n{help}");
        assert!(help.contains(&env), "{env} missing from --help:\n{help}");
    }
    assert!(keys > 30, "{keys} keys read from the example");
    assert!(help.contains("--config") && help.contains("--print-config"));
}

#[test]
fn bad_configuration_exits_2() {
    let dir = std::env::temp_dir().join(format!("roomcast-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "port = \"high\"\n").unwrap();
    for args in [
        vec!["--config".to_owned(), bad.display().to_string()],
        vec![
            "--config".to_owned(),
            dir.join("missing.toml").display().to_string(),
        ],
        vec!["--policy".to_owned(), "wide-open".to_owned()],
        vec!["--workers".to_owned(), "0".to_owned()],
        vec!["--redis".to_owned(), "http://127.0.0.1".to_owned()],
        vec!["--cluster-prefix".to_owned(), "has space".to_owned()],
        vec!["--cluster-buffer".to_owned(), "10".to_owned()],
        vec!["--bind".to_owned(), "no-such-host.invalid".to_owned()],
        vec!["--jwt-public-key".to_owned(), "/nonexistent.pem".to_owned()],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("roomcast:"),
            "{args:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // A port in use is a start-up error too: one line, status 2.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("roomcast: cannot start on 127.0.0.1:") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn version_names_the_git_revision_and_print_config_the_settings() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with("roomcast 0.") && v.contains(" (git "), "{v}");
    let out = Command::new(BIN)
        .args([
            "--print-config",
            "--port",
            "4242",
            "--admin-token",
            "secret-tok",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("port = 4242") && text.contains("admin_token = \"********\""),
        "{text}"
    );
    assert!(!text.contains("secret-tok"));
}

#[test]
fn starts_logs_its_address_and_exits_0_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--workers", "2", "--log", "info"])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a listening line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    };
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert!(addr.ip().is_loopback());
    // It serves.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // SIGTERM: graceful exit, status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `docs/configuration.md` as the binary and `roomcast.example.toml` describe
/// the configuration now: the `--help` text (run with an empty environment, so
/// no `ROOMCAST_*` value shows up in it) and the example file.
fn configuration_doc() -> String {
    let out = Command::new(BIN)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let help: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let example = include_str!("../../roomcast.example.toml");
    format!(
        "# Configuration\n\
         \n\
         <!-- GENERATED by scripts/gen_config_doc.sh from `roomcast --help` and\n\
         roomcast.example.toml: do not edit; a test (server/tests/server_binary.rs)\n\
         fails when this page differs from what they say. -->\n\
         \n\
         roomcast takes its configuration from command-line flags, `ROOMCAST_*`\n\
         environment variables and a TOML file, in that order of precedence, over\n\
         the defaults. Each flag's file key is its name with `_` for `-`, and its\n\
         environment variable is `ROOMCAST_` and the key in upper case.\n\
         `roomcast --print-config` prints the configuration in effect (secrets\n\
         masked) as a config file. The table of every flag, key, default and range,\n\
         the config-file-only keys and the exit statuses are in\n\
         [ROUTES.md, section 6](ROUTES.md#6-command-line-and-configuration); the\n\
         socket-route policy table in [section 2](ROUTES.md#2-policy).\n\
         \n\
         This page is generated from the binary itself, so it cannot drift from it.\n\
         \n\
         ## `roomcast --help`\n\
         \n\
         ```text\n{help}```\n\
         \n\
         ## Every config-file key: `roomcast.example.toml`\n\
         \n\
         ```toml\n{example}```\n"
    )
}

/// Fails when docs/configuration.md is stale; `scripts/gen_config_doc.sh`
/// (`ROOMCAST_UPDATE_DOCS=1` here) rewrites it.
#[test]
fn configuration_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let want = configuration_doc();
    if std::env::var_os("ROOMCAST_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/configuration.md differs from `roomcast --help` and roomcast.example.toml: \
         run scripts/gen_config_doc.sh and commit the result"
    );
}
