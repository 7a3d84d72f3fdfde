//! `reliability`: attacks a roomcast server one abuse at a time while a witness
//! client measures what an honest user of the same server sees, then soaks it in
//! connection churn.
//!
//! For every attack a fresh server is started from `--server-bin` on a free
//! 127.0.0.1 port (or one server given by `--url` is used for all that can run
//! against it). A witness (Socket.IO v5 over WebSocket: receivers in a room and a
//! publisher sending a clock-paced `POST /sockets/broadcast`, 50/s) reports its
//! latency p50/p99/max and its lost and duplicated messages; the server's RSS is
//! sampled from `/proc/<pid>/status` every 100 ms (before / peak / a few seconds
//! after); `/health` is probed every 200 ms. Each attack is many small cases,
//! each asserting the precise answer a user would check (HTTP status, close code,
//! error ack); its outcome is `refused correctly` or `FAILED: why`.
//!
//! The attacks of issue 11 that the server does not handle yet are expected to
//! fail and are reported as such; [`EXPECTED_PASS`] lists those that must pass
//! (the exit status is 1 if one of them fails, unless `--report-only`). Move an
//! attack into the list when the server learns to pass it.
//!
//! The churn soak (`--soak SECONDS`) connects and disconnects clients in storms
//! (half of the disconnects by TCP reset) while healthy clients receive a paced
//! broadcast: it reports their loss and duplicates and the server's RSS each
//! second (first/min/max/last and the slope).
//!
//! Talks to the server over TCP only; nothing of roomcast is linked. The cases
//! assume the server's defaults (max_payload 1 000 000, outbound limit 8 MiB,
//! timeouts) except where an attack starts its server with other flags, which
//! the report names; with `--url`, give a server started with its defaults and
//! `--admin-token` (attacks that need other flags are skipped).

#[path = "reliability/attacks.rs"]
mod attacks;
#[path = "reliability/client.rs"]
mod client;
#[path = "reliability/issue11.rs"]
mod issue11;
#[path = "reliability/server.rs"]
mod server;
#[path = "reliability/soak.rs"]
mod soak;
#[path = "reliability/witness.rs"]
mod witness;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{json, Value};

use server::{HealthChecker, HealthMode, RssSampler, ServerProc, Spec};
use witness::{Witness, WitnessReport};

/// The attacks that must be refused correctly today. Issue 11's items are not
/// here yet: move an id into this list once the server passes it.
pub const EXPECTED_PASS: &[&str] = &[
    "http-malformed",
    "handshake-malformed",
    "ws-frames",
    "ws-utf8",
    "ws-oversize-fragments",
    "eio-sio-packets",
    "virtual-requests",
    "ping-flood",
    "slowloris",
    "idle-flood",
    "slow-consumer",
    // Issue 11, fixed:
    "room-list-stall",
    "rooms-per-socket",
    "unfinished-binary",
    "unknown-socket-ids",
    "sails-parity",
    "log-pipe-closed",
    "log-pipe-stalled",
    "close-then-data",
    "sigterm-shutdown",
    "cross-worker-burst",
    "fd-exhaustion",
];

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Attack a roomcast server one abuse at a time; report what a witness client sees"
)]
pub struct Args {
    /// The roomcast binary: started once per attack on a free 127.0.0.1 port.
    #[arg(long, conflicts_with = "url")]
    server_bin: Option<PathBuf>,
    /// An already running server (http://127.0.0.1:PORT); attacks that need their
    /// own server (flags, signals, fd limits, log pipes) are skipped.
    #[arg(long)]
    url: Option<String>,
    /// With `--url`: the server's pid, for RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The admin API token (given to the servers this tool starts).
    #[arg(long, default_value = "reliability-token")]
    admin_token: String,
    /// The reduced set for CI (smaller counts, shorter timeouts, 15 s soak).
    #[arg(long)]
    short: bool,
    /// Run only these attacks (comma-separated ids; see --list).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these attacks.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// List the attacks and exit.
    #[arg(long)]
    list: bool,
    /// Churn soak duration in seconds (0: no soak) [default: 600, 15 with --short].
    #[arg(long)]
    soak: Option<u64>,
    /// Directory for the JSON and Markdown results and the server logs.
    #[arg(long, default_value = "target/reliability")]
    out: PathBuf,
    /// Witness broadcasts per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// An attack fails if the witness's p99 latency passes this.
    #[arg(long, default_value_t = 500.0)]
    max_p99_ms: f64,
    /// Exit 0 whatever the results.
    #[arg(long)]
    report_only: bool,
    /// The command line to print in the report (the script passes its own).
    #[arg(long)]
    command: Option<String>,
}

/// One assertion of an attack.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What an attack function works with.
pub struct Ctx<'a> {
    pub addr: SocketAddr,
    pub token: String,
    pub short: bool,
    pub server: Option<&'a mut ServerProc>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    pub witness: Option<Witness>,
    pub witness_report: Option<WitnessReport>,
    pub health: Option<HealthChecker>,
    pub health_stats: Option<server::HealthStats>,
    pub rss_peak: Option<Arc<AtomicU64>>,
    pub rss_before_kb: Option<u64>,
    pub drain: Duration,
    /// Set by attacks that end the server on purpose (signals).
    pub server_ended: bool,
    pub out: PathBuf,
    pub epoch: Instant,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("addr", &self.addr).finish()
    }
}

impl Ctx<'_> {
    /// Records an assertion; returns `ok`.
    pub fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) -> bool {
        let c = Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        };
        if !c.ok {
            eprintln!("    FAILED {}: {}", c.name, c.detail);
        }
        self.checks.push(c);
        ok
    }

    pub fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        eprintln!("    note: {s}");
        self.notes.push(s);
    }

    /// Stops the witness and the `/health` probes now (before an attack ends
    /// the server on purpose).
    pub fn end_measurements(&mut self) {
        if let Some(h) = self.health.take() {
            self.health_stats = Some(h.stop());
        }
        if let Some(w) = self.witness.take() {
            self.witness_report = Some(w.finish(self.drain));
        }
    }

    /// RSS growth so far (peak minus before), in MB.
    pub fn rss_growth_mb(&self) -> Option<f64> {
        let peak = self.rss_peak.as_ref()?.load(Ordering::Relaxed);
        Some(peak.saturating_sub(self.rss_before_kb?) as f64 / 1024.0)
    }

    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(|s| s.pid)
    }

    pub fn server_alive(&mut self) -> bool {
        match self.server.as_mut() {
            Some(s) => s.alive(),
            None => client::http_get(self.addr, "/health", Duration::from_secs(2)).is_ok(),
        }
    }

    /// Checks that the server process is still running and answers `/health`.
    pub fn check_alive(&mut self, name: &str) -> bool {
        let exit = self
            .server
            .as_mut()
            .and_then(|s| s.poll_exit())
            .map(server::describe_exit);
        if let Some(e) = exit {
            return self.check(name, false, format!("server process ended: {e}"));
        }
        let r = client::http_get(self.addr, "/health", Duration::from_secs(3));
        let ok = matches!(&r, Ok(resp) if resp.status == 200);
        let detail = match r {
            Ok(resp) => resp.brief(),
            Err(e) => e,
        };
        self.check(name, ok, format!("/health: {detail}"))
    }

    /// `n` (full) or `short_n` (with `--short`).
    pub fn scale(&self, n: usize, short_n: usize) -> usize {
        if self.short {
            short_n
        } else {
            n
        }
    }
}

/// How the server for an attack is set up and judged.
#[derive(Debug, Clone)]
pub struct Setup {
    pub spec: Spec,
    /// Needs a server of its own (signals, flags, fd limit, log pipes).
    pub own_server: bool,
    pub health: HealthMode,
    /// Why the server gets unusual flags (printed in the report).
    pub why: &'static str,
}

impl Setup {
    /// A server started with extra flags, and why.
    pub fn with_args(args: &[&str], why: &'static str) -> Setup {
        Setup {
            spec: Spec {
                args: args.iter().map(|a| (*a).to_string()).collect(),
                ..Spec::default()
            },
            why,
            ..Setup::default()
        }
    }

    /// A server of the attack's own (it signals it, or holds its pipes).
    pub fn own(why: &'static str) -> Setup {
        Setup {
            own_server: true,
            why,
            ..Setup::default()
        }
    }
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            spec: Spec::default(),
            own_server: false,
            health: HealthMode::Fresh,
            why: "",
        }
    }
}

pub type AttackFn = fn(&mut Ctx<'_>) -> Result<(), String>;

/// One attack family.
#[derive(Debug, Clone, Copy)]
pub struct Attack {
    pub id: &'static str,
    pub title: &'static str,
    /// The item of issue 11 it proves ("" for the families already handled).
    pub issue: &'static str,
    pub setup: fn(bool) -> Setup,
    pub run: AttackFn,
}

/// An attack's result row.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    title: String,
    issue: String,
    expected_pass: bool,
    outcome: String,
    passed: bool,
    skipped: bool,
    checks: Vec<Check>,
    notes: Vec<String>,
    witness: Option<WitnessReport>,
    rss_before_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
    rss_after_kb: Option<u64>,
    health: server::HealthStats,
    secs: f64,
    server_command: String,
    server_end: String,
    why: String,
}

impl Row {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "title": self.title, "issue": self.issue,
            "expected_pass": self.expected_pass, "outcome": self.outcome,
            "passed": self.passed, "skipped": self.skipped,
            "cases": self.checks.len(),
            "cases_failed": self.checks.iter().filter(|c| !c.ok).count(),
            "checks": self.checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
            "notes": self.notes,
            "witness": self.witness.as_ref().map(WitnessReport::to_json),
            "rss_kb": {"before": self.rss_before_kb, "peak": self.rss_peak_kb, "after": self.rss_after_kb},
            "health": {"probes": self.health.probes, "failures": self.health.failures,
                       "first_failure": self.health.first_failure, "max_ms": self.health.max_ms},
            "seconds": self.secs,
            "server_command": self.server_command,
            "server_end": self.server_end,
            "setup_note": self.why,
        })
    }
}

fn all_attacks() -> Vec<Attack> {
    let mut v = attacks::attacks();
    v.extend(issue11::attacks());
    v
}

fn main() {
    let args = Args::parse();
    let code = match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reliability: error: {e}");
            2
        }
    };
    std::process::exit(code);
}

/// Raises the soft fd limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the valid rlimit we pass.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur
}

fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| format!("--url must start with http:// or ws:// ({url})"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("cannot resolve {hostport}"))
}

fn run(args: &Args) -> Result<i32, String> {
    let attacks = all_attacks();
    if args.list {
        for a in &attacks {
            let exp = if EXPECTED_PASS.contains(&a.id) {
                "expected to pass"
            } else {
                "issue 11: expected to fail until fixed"
            };
            println!("{:<28} {:<6} {} ({exp})", a.id, a.issue, a.title);
        }
        return Ok(0);
    }
    for id in args.only.iter().chain(&args.skip) {
        if !attacks.iter().any(|a| a.id == id) && id != "soak" {
            return Err(format!("unknown attack {id:?} (see --list)"));
        }
    }
    if args.server_bin.is_none() && args.url.is_none() {
        return Err("give --server-bin PATH or --url http://127.0.0.1:PORT".into());
    }
    let fd_limit = raise_fd_limit();
    std::fs::create_dir_all(args.out.join("logs"))
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    let started = Instant::now();
    let date = utc_now();
    let mut rows = Vec::new();
    for a in &attacks {
        if (!args.only.is_empty() && !args.only.iter().any(|o| o == a.id))
            || args.skip.iter().any(|s| s == a.id)
        {
            continue;
        }
        eprintln!("== {} — {}", a.id, a.title);
        let row = run_attack(args, a);
        eprintln!(
            "   {} ({} cases, {:.1} s)",
            row.outcome,
            row.checks.len(),
            row.secs
        );
        rows.push(row);
    }
    let soak_secs = args.soak.unwrap_or(if args.short { 15 } else { 600 });
    let run_soak = soak_secs > 0
        && (args.only.is_empty() || args.only.iter().any(|o| o == "soak"))
        && !args.skip.iter().any(|s| s == "soak");
    let soak_result = if run_soak {
        eprintln!("== soak: {soak_secs} s of connection churn");
        Some(soak::run(args, soak_secs))
    } else {
        None
    };
    let total = started.elapsed().as_secs_f64();

    let failed_expected: Vec<&Row> = rows
        .iter()
        .filter(|r| r.expected_pass && !r.passed && !r.skipped)
        .collect();
    let soak_failed = soak_result.as_ref().is_some_and(|s| !s.passed);
    let machine = machine();
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    let md = markdown(
        &rows,
        soak_result.as_ref(),
        &command,
        &machine,
        &date,
        total,
    );
    let json_out = json!({
        "date": date,
        "command": command,
        "machine": machine,
        "tool_fd_limit": fd_limit,
        "seconds": total,
        "expected_pass": EXPECTED_PASS,
        "attacks": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "soak": soak_result.as_ref().map(|s| s.json.clone()),
        "failed_expected": failed_expected.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
    });
    server::write_file(&args.out.join("reliability.md"), md.as_bytes())?;
    server::write_file(
        &args.out.join("reliability.json"),
        (serde_json::to_string_pretty(&json_out).unwrap_or_default() + "\n").as_bytes(),
    )?;
    println!("{md}");
    eprintln!(
        "results: {} and {}",
        args.out.join("reliability.md").display(),
        args.out.join("reliability.json").display()
    );
    if !failed_expected.is_empty() || soak_failed {
        let mut names: Vec<String> = failed_expected.iter().map(|r| r.id.clone()).collect();
        if soak_failed {
            names.push("soak".into());
        }
        eprintln!(
            "reliability: expected to pass but failed: {}",
            names.join(", ")
        );
        if !args.report_only {
            return Ok(1);
        }
    }
    Ok(0)
}

fn run_attack(args: &Args, a: &Attack) -> Row {
    let setup = (a.setup)(args.short);
    let t0 = Instant::now();
    let mut row = Row {
        id: a.id.into(),
        title: a.title.into(),
        issue: a.issue.into(),
        expected_pass: EXPECTED_PASS.contains(&a.id),
        outcome: String::new(),
        passed: false,
        skipped: false,
        checks: Vec::new(),
        notes: Vec::new(),
        witness: None,
        rss_before_kb: None,
        rss_peak_kb: None,
        rss_after_kb: None,
        health: server::HealthStats::default(),
        secs: 0.0,
        server_command: String::new(),
        server_end: String::new(),
        why: setup.why.into(),
    };
    let special = setup.own_server
        || !setup.spec.args.is_empty()
        || setup.spec.nofile.is_some()
        || setup.spec.config.is_some()
        || setup.spec.stdio != server::Stdio2::LogFile;
    let mut proc_ = None;
    let addr = match (&args.server_bin, &args.url) {
        (Some(bin), _) => {
            match ServerProc::start(
                bin,
                &setup.spec,
                &args.admin_token,
                &args.out.join("logs"),
                a.id,
            ) {
                Ok(p) => {
                    row.server_command = p.command.clone();
                    let addr = p.addr;
                    proc_ = Some(p);
                    addr
                }
                Err(e) => {
                    row.outcome = format!("FAILED: server did not start: {e}");
                    return row;
                }
            }
        }
        (None, Some(url)) => {
            if special {
                row.skipped = true;
                row.outcome = "skipped: needs its own server (--server-bin)".into();
                return row;
            }
            match parse_url(url) {
                Ok(a) => a,
                Err(e) => {
                    row.outcome = format!("FAILED: {e}");
                    return row;
                }
            }
        }
        (None, None) => unreachable!("checked in run"),
    };
    let pid = proc_.as_ref().map(|p| p.pid).or(args.server_pid);
    let epoch = Instant::now();
    // A ':' keeps the name from ever looking like a socket id (a reserved room).
    let room = format!("witness:{}", a.id);
    let witness = match Witness::start(addr, &room, args.rate, 1, epoch) {
        Ok(w) => w,
        Err(e) => {
            row.outcome = format!("FAILED: witness could not start: {e}");
            return row;
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    row.rss_before_kb = pid.and_then(server::rss_kb);
    let sampler = pid.map(|p| RssSampler::start(p, Duration::from_millis(100)));
    let health = HealthChecker::start(addr, setup.health, Duration::from_millis(200));
    let drain = Duration::from_secs(3);
    let mut ctx = Ctx {
        addr,
        token: args.admin_token.clone(),
        short: args.short,
        server: proc_.as_mut(),
        checks: Vec::new(),
        notes: Vec::new(),
        witness: Some(witness),
        witness_report: None,
        health: Some(health),
        health_stats: None,
        rss_peak: sampler.as_ref().map(|s| s.peak.clone()),
        rss_before_kb: row.rss_before_kb,
        drain,
        server_ended: false,
        out: args.out.clone(),
        epoch,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (a.run)(&mut ctx)));
    let result = match result {
        Ok(r) => r,
        Err(p) => Err(format!(
            "the tool panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default()
        )),
    };
    let server_ended = ctx.server_ended;
    // A few seconds after the attack: RSS "after", while the witness keeps going.
    let after = Duration::from_secs(if args.short { 1 } else { 3 });
    if !server_ended {
        std::thread::sleep(after);
    }
    let exit_during = ctx
        .server
        .as_mut()
        .and_then(|s| s.poll_exit())
        .map(server::describe_exit);
    if !server_ended && exit_during.is_none() {
        row.rss_after_kb = pid.and_then(server::rss_kb);
    }
    ctx.end_measurements();
    row.health = ctx.health_stats.take().unwrap_or_default();
    row.witness = ctx.witness_report.take();
    row.checks = std::mem::take(&mut ctx.checks);
    row.notes = std::mem::take(&mut ctx.notes);
    drop(ctx);
    if let Some(s) = sampler {
        row.rss_peak_kb = Some(s.stop().0);
    }
    if let Some(p) = proc_.as_mut() {
        row.server_end = if server_ended {
            p.poll_exit()
                .map(server::describe_exit)
                .unwrap_or_else(|| p.stop(Duration::from_secs(6)))
        } else {
            p.stop(Duration::from_secs(6))
        };
    }
    // The verdict.
    let mut why: Vec<String> = Vec::new();
    if let Err(e) = &result {
        why.push(e.clone());
    }
    if let (false, Some(e)) = (server_ended, &exit_during) {
        why.push(format!("server died: {e}"));
    }
    let failed: Vec<&Check> = row.checks.iter().filter(|c| !c.ok).collect();
    for c in failed.iter().take(3) {
        why.push(format!("{}: {}", c.name, c.detail));
    }
    if failed.len() > 3 {
        why.push(format!("+{} more failed cases", failed.len() - 3));
    }
    if let Some(w) = &row.witness {
        if !w.errors.is_empty() {
            why.push(format!("witness: {}", w.errors[0]));
        }
        if w.lost > 0 || w.dup > 0 {
            why.push(format!("witness lost {} / dup {}", w.lost, w.dup));
        }
        if w.ack_errors > 0 && w.errors.is_empty() {
            why.push(format!("witness: {} broadcast errors", w.ack_errors));
        }
        if w.p99_ms > args.max_p99_ms {
            why.push(format!(
                "witness p99 {:.0} ms > {:.0} ms",
                w.p99_ms, args.max_p99_ms
            ));
        }
    }
    if row.health.failures > 0 {
        why.push(format!(
            "/health failed {} of {} probes ({})",
            row.health.failures,
            row.health.probes,
            row.health.first_failure.clone().unwrap_or_default()
        ));
    }
    if row.checks.is_empty() && result.is_ok() {
        why.push("no case ran".into());
    }
    row.passed = why.is_empty();
    row.outcome = if row.passed {
        "refused correctly".into()
    } else {
        format!("FAILED: {}", why.join("; "))
    };
    row.secs = t0.elapsed().as_secs_f64();
    row
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(
    rows: &[Row],
    soak: Option<&soak::SoakResult>,
    command: &str,
    machine: &Value,
    date: &str,
    total: f64,
) -> String {
    let mut s = String::new();
    s.push_str("## Reliability run\n\n");
    s.push_str(&format!("- date: {date}\n- command: `{command}`\n"));
    s.push_str(&format!(
        "- machine: {} cores, kernel {}, {}\n- duration: {:.0} s\n\n",
        machine["cores"],
        machine["kernel"].as_str().unwrap_or("?"),
        machine["rustc"].as_str().unwrap_or("rustc ?"),
        total
    ));
    if !rows.is_empty() {
        let passed = rows.iter().filter(|r| r.passed).count();
        let skipped = rows.iter().filter(|r| r.skipped).count();
        s.push_str(&format!(
            "{passed} of {} attacks refused correctly ({skipped} skipped). Witness: one \
             Socket.IO v5 receiver in a room and a publisher broadcasting to it at a \
             paced rate through `POST /sockets/broadcast`; latency from the scheduled \
             send time. RSS in MB (before / peak / a few seconds after).\n\n",
            rows.len()
        ));
        s.push_str("| attack | issue 11 | expected | outcome | cases (failed) | witness p50 / p99 / max ms | lost | dup | RSS before / peak / after MB | /health failures | s |\n");
        s.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in rows {
            let w = r.witness.as_ref();
            let lat = w.map_or("–".into(), |w| {
                format!("{:.1} / {:.1} / {:.1}", w.p50_ms, w.p99_ms, w.max_ms)
            });
            let failed = r.checks.iter().filter(|c| !c.ok).count();
            let health = format!("{} of {}", r.health.failures, r.health.probes);
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} ({}) | {} | {} | {} | {} / {} / {} | {} | {:.0} |\n",
                r.id,
                if r.issue.is_empty() { "–" } else { &r.issue },
                if r.expected_pass {
                    "pass"
                } else {
                    "fail until fixed"
                },
                md_escape(&shorten(&r.outcome, 300)),
                r.checks.len(),
                failed,
                lat,
                w.map_or("–".into(), |w| w.lost.to_string()),
                w.map_or("–".into(), |w| w.dup.to_string()),
                mb(r.rss_before_kb),
                mb(r.rss_peak_kb),
                mb(r.rss_after_kb),
                health,
                r.secs
            ));
        }
        s.push('\n');
        let with_setup: Vec<&Row> = rows.iter().filter(|r| !r.why.is_empty()).collect();
        if !with_setup.is_empty() {
            s.push_str("Server set-ups that differ from the defaults:\n\n");
            for r in with_setup {
                s.push_str(&format!("- `{}`: {}\n", r.id, r.why));
            }
            s.push('\n');
        }
        let failing: Vec<&Row> = rows.iter().filter(|r| !r.passed && !r.skipped).collect();
        if !failing.is_empty() {
            s.push_str("### Failed cases\n\n");
            for r in failing {
                s.push_str(&format!("- **`{}`** ({}):\n", r.id, r.title));
                let fails: Vec<&Check> = r.checks.iter().filter(|c| !c.ok).collect();
                for c in fails.iter().take(12) {
                    s.push_str(&format!(
                        "  - {}: {}\n",
                        md_escape(&c.name),
                        md_escape(&shorten(&c.detail, 240))
                    ));
                }
                if fails.len() > 12 {
                    s.push_str(&format!("  - … and {} more\n", fails.len() - 12));
                }
                for n in &r.notes {
                    s.push_str(&format!("  - note: {}\n", md_escape(&shorten(n, 240))));
                }
                if let Some(w) = &r.witness {
                    for e in w.errors.iter().take(2) {
                        s.push_str(&format!("  - witness: {}\n", md_escape(e)));
                    }
                }
                if !r.server_end.is_empty() {
                    s.push_str(&format!("  - server at the end: {}\n", r.server_end));
                }
            }
            s.push('\n');
        }
    }
    if let Some(soak) = soak {
        s.push_str(&soak.markdown);
    }
    s
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

fn machine() -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    json!({"cores": cores, "kernel": kernel, "rustc": rustc})
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn expected_pass_ids_exist() {
        let ids: Vec<&str> = all_attacks().iter().map(|a| a.id).collect();
        for id in EXPECTED_PASS {
            assert!(ids.contains(id), "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate attack ids");
    }
}
