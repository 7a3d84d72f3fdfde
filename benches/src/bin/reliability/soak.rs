//! The churn soak: connect/disconnect storms (half of the disconnects by TCP
//! reset, SO_LINGER 0; some connections dropped mid-handshake) while healthy
//! clients receive a paced broadcast. Reports their loss and duplicates, and the
//! server's RSS sampled every second (first/min/max/last, slope, and whether the
//! last window's mean stays within 10 % of the first window after warm-up).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, OP_CLOSE};
use crate::server::{self, HealthChecker, HealthMode, RssSampler, ServerProc, Spec};
use crate::witness::Witness;
use crate::Args;

#[derive(Debug)]
pub struct SoakResult {
    pub passed: bool,
    pub markdown: String,
    pub json: Value,
}

#[derive(Debug, Default)]
struct ChurnStats {
    connected: AtomicU64,
    partial: AtomicU64,
    resets: AtomicU64,
    graceful: AtomicU64,
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ChurnStats {
    fn fail(&self, e: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first_failure.lock() {
            f.get_or_insert(e);
        }
    }
}

/// Healthy receivers in the soak room.
const RECEIVERS: usize = 16;
/// Connections opened per storm, per churn thread.
const STORM: usize = 50;
const CHURN_THREADS: usize = 2;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

enum Held {
    Tcp(TcpStream),
    Sio(Box<client::Conn>),
}

fn churn(addr: SocketAddr, end: Instant, stats: &ChurnStats, mut rng: u64) {
    while Instant::now() < end {
        let mut held = Vec::with_capacity(STORM);
        for _ in 0..STORM {
            if Instant::now() >= end {
                break;
            }
            let r = xorshift(&mut rng) % 10;
            if r == 0 {
                // Dropped in the middle of its handshake.
                match client::tcp(addr, Duration::from_secs(2)) {
                    Ok(mut s) => {
                        let _ = s.write_all(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgr");
                        stats.partial.fetch_add(1, Ordering::Relaxed);
                        held.push(Held::Tcp(s));
                    }
                    Err(e) => stats.fail(e),
                }
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            match client::sio_connect(addr, deadline) {
                Ok(mut c) => {
                    // Some join the healthy clients' room (and never read what it
                    // gets), the others rooms of their own.
                    let room = if r < 4 {
                        "soak".to_string()
                    } else {
                        format!("churn-{}", xorshift(&mut rng) % 20)
                    };
                    match c.request(
                        1,
                        "post",
                        "/sockets/join",
                        json!({ "room": room }),
                        deadline,
                    ) {
                        Ok(a) if a.status == 200 => {}
                        Ok(a) => stats.fail(format!("join answered {}", a.brief())),
                        Err(e) => stats.fail(format!("join: {e}")),
                    }
                    if r == 9 {
                        let body = json!({"rooms": room, "event": "c", "data": {"x": "churn"}});
                        if let Err(e) = c.request(2, "post", "/sockets/broadcast", body, deadline) {
                            stats.fail(format!("broadcast: {e}"));
                        }
                    }
                    stats.connected.fetch_add(1, Ordering::Relaxed);
                    held.push(Held::Sio(Box::new(c)));
                }
                Err(e) => stats.fail(e),
            }
        }
        let pause = 100 + xorshift(&mut rng) % 300;
        std::thread::sleep(Duration::from_millis(pause));
        for (i, h) in held.into_iter().enumerate() {
            let stream = match h {
                Held::Tcp(s) => s,
                Held::Sio(mut c) => {
                    if i % 4 == 1 {
                        let _ = c.send_frame(OP_CLOSE, &client::close_payload(1000, b""));
                    }
                    c.stream
                }
            };
            if i % 2 == 0 {
                client::reset(stream);
                stats.resets.fetch_add(1, Ordering::Relaxed);
            } else {
                drop(stream);
                stats.graceful.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// RSS over the soak.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RssAnalysis {
    pub first_kb: u64,
    pub min_kb: u64,
    pub max_kb: u64,
    pub last_kb: u64,
    pub warmup_s: f64,
    pub window_s: f64,
    pub first_window_mean_kb: f64,
    pub last_window_mean_kb: f64,
    pub change_pct: f64,
    pub slope_kb_per_min: f64,
    pub flat: bool,
}

/// Warm-up is the first tenth (at most 60 s); the windows compared are a fifth of
/// the run (at most 60 s): the first after warm-up and the last. "Flat": the last
/// window's mean is within 10 % of the first's. The slope is a least-squares fit
/// over the samples after warm-up.
pub fn analyse_rss(samples: &[(f64, u64)], total_s: f64) -> RssAnalysis {
    let mut a = RssAnalysis::default();
    if samples.is_empty() {
        return a;
    }
    a.first_kb = samples[0].1;
    a.last_kb = samples[samples.len() - 1].1;
    a.min_kb = samples.iter().map(|s| s.1).min().unwrap_or(0);
    a.max_kb = samples.iter().map(|s| s.1).max().unwrap_or(0);
    a.warmup_s = (total_s / 10.0).min(60.0);
    a.window_s = (total_s / 5.0).min(60.0);
    let mean = |from: f64, to: f64| {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.0 >= from && s.0 < to)
            .map(|s| s.1 as f64)
            .collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    a.first_window_mean_kb = mean(a.warmup_s, a.warmup_s + a.window_s);
    a.last_window_mean_kb = mean(total_s - a.window_s, f64::INFINITY);
    if a.first_window_mean_kb > 0.0 {
        a.change_pct =
            100.0 * (a.last_window_mean_kb - a.first_window_mean_kb) / a.first_window_mean_kb;
    }
    a.flat = a.first_window_mean_kb > 0.0 && a.change_pct.abs() <= 10.0;
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.0 >= a.warmup_s)
        .map(|s| (s.0, s.1 as f64))
        .collect();
    if pts.len() >= 2 {
        let n = pts.len() as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        if sxx > 0.0 {
            a.slope_kb_per_min = 60.0 * sxy / sxx;
        }
    }
    a
}

pub fn run(args: &Args, secs: u64) -> SoakResult {
    match run_inner(args, secs) {
        Ok(r) => r,
        Err(e) => SoakResult {
            passed: false,
            markdown: format!("### Churn soak\n\nFAILED: {e}\n"),
            json: json!({"error": e}),
        },
    }
}

fn run_inner(args: &Args, secs: u64) -> Result<SoakResult, String> {
    let mut proc_ = None;
    let (addr, pid, command) = match (&args.server_bin, &args.url) {
        (Some(bin), _) => {
            let p = ServerProc::start(
                bin,
                &Spec::default(),
                &args.admin_token,
                &args.out.join("logs"),
                "soak",
            )?;
            let r = (p.addr, Some(p.pid), p.command.clone());
            proc_ = Some(p);
            r
        }
        (None, Some(url)) => (crate::parse_url(url)?, args.server_pid, url.clone()),
        (None, None) => return Err("no server".into()),
    };
    let epoch = Instant::now();
    let witness = Witness::start(addr, "soak", args.rate, RECEIVERS, epoch)?;
    let sampler = pid.map(|p| RssSampler::start(p, Duration::from_secs(1)));
    let health = HealthChecker::start(addr, HealthMode::Fresh, Duration::from_secs(1));
    let stats = Arc::new(ChurnStats::default());
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let churners: Vec<_> = (0..CHURN_THREADS)
        .map(|i| {
            let st = stats.clone();
            std::thread::spawn(move || {
                churn(addr, end, &st, 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1))
            })
        })
        .collect();
    let mut next_report = t0 + Duration::from_secs(30);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(30);
            eprintln!(
                "   soak {:>4.0} s: {} connections churned, {} failures, RSS {} KB, witness sent {}",
                t0.elapsed().as_secs_f64(),
                stats.connected.load(Ordering::Relaxed) + stats.partial.load(Ordering::Relaxed),
                stats.failures.load(Ordering::Relaxed),
                pid.and_then(server::rss_kb).unwrap_or(0),
                witness.sent()
            );
        }
    }
    for c in churners {
        let _ = c.join();
    }
    let churn_s = t0.elapsed().as_secs_f64();
    let w = witness.finish(Duration::from_secs(5));
    let h = health.stop();
    let (peak, samples) = sampler.map(RssSampler::stop).unwrap_or_default();
    let server_end = proc_
        .as_mut()
        .map(|p| p.stop(Duration::from_secs(6)))
        .unwrap_or_default();
    let rss = analyse_rss(&samples, secs as f64);
    let connected = stats.connected.load(Ordering::Relaxed);
    let partial = stats.partial.load(Ordering::Relaxed);
    let resets = stats.resets.load(Ordering::Relaxed);
    let graceful = stats.graceful.load(Ordering::Relaxed);
    let failures = stats.failures.load(Ordering::Relaxed);
    let first_failure = stats.first_failure.lock().ok().and_then(|f| f.clone());
    let mut why = Vec::new();
    if w.lost > 0 || w.dup > 0 {
        why.push(format!(
            "healthy clients lost {} / duplicated {}",
            w.lost, w.dup
        ));
    }
    if let Some(e) = w.errors.first() {
        why.push(format!("witness: {e}"));
    }
    if w.ack_errors > 0 {
        why.push(format!("{} broadcasts not answered 200", w.ack_errors));
    }
    if h.failures > 0 {
        why.push(format!("/health failed {} of {}", h.failures, h.probes));
    }
    if pid.is_some() && !rss.flat {
        why.push(format!(
            "RSS not flat: last window {:.1} MB vs first {:.1} MB ({:+.1} %)",
            rss.last_window_mean_kb / 1024.0,
            rss.first_window_mean_kb / 1024.0,
            rss.change_pct
        ));
    }
    if w.sent == 0 {
        why.push("no broadcast sent".into());
    }
    let passed = why.is_empty();
    let verdict = if passed {
        "passed".to_string()
    } else {
        format!("FAILED: {}", why.join("; "))
    };
    let per_s = (connected + partial) as f64 / churn_s.max(1.0);
    let mbf = |kb: f64| kb / 1024.0;
    let mut md = format!("### Churn soak ({secs} s)\n\n");
    md.push_str(&format!("- server: `{command}`\n"));
    md.push_str(&format!(
        "- healthy clients: {RECEIVERS} Socket.IO v5 receivers in one room, a publisher broadcasting to it at {:.0}/s through `POST /sockets/broadcast`: {} broadcasts, {} deliveries expected, {} received, **{} lost, {} duplicated**; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
        args.rate, w.sent, w.expected, w.received, w.lost, w.dup, w.p50_ms, w.p99_ms, w.max_ms
    ));
    md.push_str(&format!(
        "- churn: {CHURN_THREADS} threads in storms of {STORM}: {connected} Socket.IO clients connected (each joins a room; 30 % the healthy clients' room, where they never read), {partial} dropped mid-handshake; {:.0} connections/s; closed by TCP reset (SO_LINGER 0): {resets}, gracefully: {graceful} (a quarter of those after a WebSocket close frame); {failures} failed handshakes or requests{}\n",
        per_s,
        first_failure.map_or(String::new(), |f| format!(" (first: {f})"))
    ));
    if pid.is_some() {
        md.push_str(&format!(
            "- server RSS each second: first {:.1} MB, min {:.1}, max {:.1} (peak {:.1}), last {:.1}; slope after the {:.0} s warm-up {:+.1} KB/min; mean of the first {:.0} s after warm-up {:.1} MB, of the last {:.0} s {:.1} MB ({:+.1} %): **{}**\n",
            mbf(rss.first_kb as f64), mbf(rss.min_kb as f64), mbf(rss.max_kb as f64), mbf(peak as f64),
            mbf(rss.last_kb as f64), rss.warmup_s, rss.slope_kb_per_min, rss.window_s,
            mbf(rss.first_window_mean_kb), rss.window_s, mbf(rss.last_window_mean_kb), rss.change_pct,
            if rss.flat { "flat" } else { "not flat" }
        ));
    }
    md.push_str(&format!(
        "- /health: {} failures of {} probes (max {:.0} ms)\n- server at the end: {server_end}\n- verdict: **{verdict}**\n",
        h.failures, h.probes, h.max_ms
    ));
    let json = json!({
        "seconds": secs,
        "server_command": command,
        "witness": w.to_json(),
        "receivers": RECEIVERS,
        "churn": {"connected": connected, "partial": partial, "resets": resets, "graceful": graceful,
                  "failures": failures, "per_second": per_s},
        "rss": {"first_kb": rss.first_kb, "min_kb": rss.min_kb, "max_kb": rss.max_kb, "last_kb": rss.last_kb,
                "peak_kb": peak, "slope_kb_per_min": rss.slope_kb_per_min, "warmup_s": rss.warmup_s,
                "window_s": rss.window_s, "first_window_mean_kb": rss.first_window_mean_kb,
                "last_window_mean_kb": rss.last_window_mean_kb, "change_pct": rss.change_pct, "flat": rss.flat,
                "samples": samples.iter().map(|s| json!([(s.0 * 10.0).round() / 10.0, s.1])).collect::<Vec<_>>()},
        "health": {"probes": h.probes, "failures": h.failures, "max_ms": h.max_ms},
        "server_end": server_end,
        "passed": passed,
        "verdict": verdict,
    });
    Ok(SoakResult {
        passed,
        markdown: md,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_growing_rss() {
        let flat: Vec<(f64, u64)> = (0..600)
            .map(|t| (f64::from(t), 10_000 + (t % 7) as u64))
            .collect();
        let a = analyse_rss(&flat, 600.0);
        assert!(a.flat, "{a:?}");
        assert!(a.slope_kb_per_min.abs() < 1.0, "{a:?}");
        assert_eq!((a.warmup_s, a.window_s), (60.0, 60.0));
        let growing: Vec<(f64, u64)> = (0..600)
            .map(|t| (f64::from(t), 10_000 + 10 * t as u64))
            .collect();
        let a = analyse_rss(&growing, 600.0);
        assert!(!a.flat, "{a:?}");
        assert!((a.slope_kb_per_min - 600.0).abs() < 1.0, "{a:?}");
        let short: Vec<(f64, u64)> = (0..20).map(|t| (f64::from(t), 5_000)).collect();
        let a = analyse_rss(&short, 20.0);
        assert!(a.flat && a.window_s == 4.0 && a.warmup_s == 2.0, "{a:?}");
    }
}
