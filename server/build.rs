//! Records the git revision the binary is built from, for `roomcast
//! --version` (`unknown` outside a git checkout, e.g. from a packaged crate).

use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    // --no-optional-locks: a plain `git status` may rewrite the index, which
    // is watched below, so every build would run again.
    let dirty = Command::new("git")
        .args([
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let rev = if dirty { format!("{rev}-dirty") } else { rev };
    println!("cargo:rustc-env=ROOMCAST_GIT_REV={rev}");
    // Rebuilt when HEAD moves (a commit, a checkout) or the index changes.
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
    {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            println!("cargo:rerun-if-changed={dir}/HEAD");
            println!("cargo:rerun-if-changed={dir}/index");
            if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD")) {
                if let Some(r) = head.trim().strip_prefix("ref: ") {
                    println!("cargo:rerun-if-changed={dir}/{r}");
                }
            }
        }
    }
}
