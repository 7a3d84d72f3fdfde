//! The server under test: started as a child process on a free 127.0.0.1 port
//! (or an already running one), its RSS from `/proc`, `/health` probes and
//! `/metrics` counters.

use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client;

/// How the server's stdout/stderr are connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdio2 {
    /// Both to a log file (kept for the report).
    LogFile,
    /// Both to pipes the attack holds (logging attacks).
    Pipes,
}

/// What a server for one attack needs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Extra flags after `--port P --admin-token T --workers 2`.
    pub args: Vec<String>,
    /// `RLIMIT_NOFILE` for the server (soft and hard), like `ulimit -n`.
    pub nofile: Option<u64>,
    pub stdio: Stdio2,
    /// A config file's text, passed with `--config`.
    pub config: Option<String>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            args: Vec::new(),
            nofile: None,
            stdio: Stdio2::LogFile,
            config: None,
        }
    }
}

/// A server process this tool started (stopped by its own pid).
#[derive(Debug)]
pub struct ServerProc {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub log: Option<PathBuf>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    pub exit: Option<ExitStatus>,
    pub command: String,
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl ServerProc {
    /// Starts `bin` with `spec` and waits until `/health` answers 200.
    pub fn start(
        bin: &Path,
        spec: &Spec,
        token: &str,
        dir: &Path,
        name: &str,
    ) -> Result<ServerProc, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match ServerProc::try_start(bin, spec, token, dir, name) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start(
        bin: &Path,
        spec: &Spec,
        token: &str,
        dir: &Path,
        name: &str,
    ) -> Result<ServerProc, String> {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--admin-token".into(),
            token.into(),
            "--workers".into(),
            "2".into(),
        ];
        if let Some(text) = &spec.config {
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, text).map_err(|e| format!("write config: {e}"))?;
            args.push("--config".into());
            args.push(path.display().to_string());
        }
        args.extend(spec.args.iter().cloned());
        cmd.args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("ROOMCAST_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.stdin(Stdio::null());
        let mut log = None;
        match spec.stdio {
            Stdio2::LogFile => {
                let path = dir.join(format!("{name}.log"));
                let f = File::create(&path).map_err(|e| format!("log file: {e}"))?;
                let f2 = f.try_clone().map_err(|e| e.to_string())?;
                cmd.stdout(f).stderr(f2);
                log = Some(path);
            }
            Stdio2::Pipes => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        let mut command = format!("{} {}", bin.display(), args.join(" "));
        if let Some(n) = spec.nofile {
            command = format!("(ulimit -n {n}; {command})");
            // SAFETY: the closure runs in the forked child before exec and only
            // calls setrlimit, which is async-signal-safe, on a local value.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut s = ServerProc {
            child,
            pid,
            addr,
            log,
            stdout,
            stderr,
            exit: None,
            command,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = s.poll_exit() {
                return Err(format!(
                    "server exited at start-up ({}); log: {}",
                    describe_exit(st),
                    s.log_tail(400)
                ));
            }
            if let Ok(r) = client::http_get(addr, "/health", Duration::from_millis(500)) {
                if r.status == 200 {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                s.kill();
                return Err("server did not answer /health within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if the process has exited.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st);
            }
        }
        self.exit
    }

    pub fn alive(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    pub fn signal(&mut self, sig: libc::c_int) {
        if self.alive() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped
            // (try_wait returned None just above), so the pid is still ours.
            unsafe {
                libc::kill(self.pid as libc::pid_t, sig);
            }
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.poll_exit() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn kill(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.wait_exit(Duration::from_secs(5));
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> String {
        if let Some(st) = self.poll_exit() {
            return format!("had already exited ({})", describe_exit(st));
        }
        let t = Instant::now();
        self.signal(libc::SIGTERM);
        match self.wait_exit(grace) {
            Some(st) => format!(
                "SIGTERM: {} after {} ms",
                describe_exit(st),
                t.elapsed().as_millis()
            ),
            None => {
                self.kill();
                format!("SIGTERM ignored for {} ms, killed", t.elapsed().as_millis())
            }
        }
    }

    /// The last `n` bytes of the log file.
    pub fn log_tail(&self, n: usize) -> String {
        let Some(p) = &self.log else {
            return String::new();
        };
        let text = std::fs::read(p).unwrap_or_default();
        let start = text.len().saturating_sub(n);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn describe_exit(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "exited".into(),
    }
}

/// VmRSS of `pid` in KB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Samples RSS every `every` on a thread; tracks the peak and keeps the samples.
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    pub peak: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<(f64, u64)>>>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kb(pid).unwrap_or(0)));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, p, v) = (stop.clone(), peak.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut next = t0;
            while !s.load(Ordering::Relaxed) {
                if let Some(kb) = rss_kb(pid) {
                    p.fetch_max(kb, Ordering::Relaxed);
                    if let Ok(mut v) = v.lock() {
                        v.push((t0.elapsed().as_secs_f64(), kb));
                    }
                }
                next += every;
                while !s.load(Ordering::Relaxed) && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(10).min(every));
                }
            }
        });
        RssSampler {
            stop,
            peak,
            samples,
            thread: Some(thread),
        }
    }

    pub fn peak_kb(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn stop(mut self) -> (u64, Vec<(f64, u64)>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        (self.peak_kb(), v)
    }
}

/// How `/health` is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthMode {
    /// A fresh connection per probe (the accept path is part of the check).
    Fresh,
    /// One keep-alive connection, reopened when it drops (fd exhaustion, where new
    /// connections are expected to wait).
    KeepAlive,
}

#[derive(Debug, Default, Clone)]
pub struct HealthStats {
    pub probes: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub max_ms: f64,
}

/// Probes `/health` every `every` with a 1 s timeout.
#[derive(Debug)]
pub struct HealthChecker {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<HealthStats>>,
    thread: Option<JoinHandle<()>>,
}

impl HealthChecker {
    pub fn start(addr: SocketAddr, mode: HealthMode, every: Duration) -> HealthChecker {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(HealthStats::default()));
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            let mut keep: Option<(TcpStream, Vec<u8>)> = None;
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = match mode {
                    HealthMode::Fresh => client::http_get(addr, "/health", Duration::from_secs(1)),
                    HealthMode::KeepAlive => probe_keepalive(addr, &mut keep),
                };
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if let Ok(mut g) = st.lock() {
                    g.probes += 1;
                    g.max_ms = g.max_ms.max(ms);
                    let bad = match &r {
                        Ok(resp) if resp.status == 200 => None,
                        Ok(resp) => Some(format!("answered {}", resp.brief())),
                        Err(e) => Some(e.clone()),
                    };
                    if let Some(b) = bad {
                        g.failures += 1;
                        g.first_failure.get_or_insert(b);
                    }
                }
                let next = t + every;
                while !s.load(Ordering::Relaxed) && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        HealthChecker {
            stop,
            stats,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) -> HealthStats {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn probe_keepalive(
    addr: SocketAddr,
    keep: &mut Option<(TcpStream, Vec<u8>)>,
) -> Result<client::HttpResp, String> {
    for attempt in 0..2 {
        if keep.is_none() {
            let s = client::tcp(addr, Duration::from_secs(1))?;
            *keep = Some((s, Vec::new()));
        }
        let (s, buf) = keep.as_mut().expect("set above");
        let deadline = Instant::now() + Duration::from_secs(1);
        let sent = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = match sent {
            Ok(()) => client::read_http_response(s, buf, deadline),
            Err(e) => Err(format!("write: {e}")),
        };
        match r {
            Ok(resp) => return Ok(resp),
            Err(e) => {
                *keep = None;
                if attempt == 1 || e == "timeout" {
                    return Err(e);
                }
            }
        }
    }
    Err("unreachable".into())
}

/// `GET /metrics` as text.
pub fn metrics(addr: SocketAddr) -> Option<String> {
    let r = client::http_get(addr, "/metrics", Duration::from_secs(3)).ok()?;
    (r.status == 200).then(|| r.body_str())
}

/// Sums `name` over all label sets in a Prometheus text body.
pub fn metric_sum(body: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let v: f64 = rest.rsplit(' ').next()?.trim().parse().ok()?;
        *found.get_or_insert(0.0) += v;
    }
    found
}

/// Writes `bytes` to a file, creating its directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_metrics() {
        let body = "roomcast_slow_consumer_closes_total{worker=\"0\"} 2\nroomcast_slow_consumer_closes_total{worker=\"1\"} 1\n";
        assert_eq!(
            metric_sum(body, "roomcast_slow_consumer_closes_total"),
            Some(3.0)
        );
        assert_eq!(metric_sum(body, "roomcast_slow"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_kb(std::process::id()).unwrap() > 0);
    }
}
