//! The witness: Socket.IO v5 clients (EIO4 over WebSocket) in a room, receiving a
//! broadcast paced by the clock that another witness socket issues through the
//! virtual request `POST /sockets/broadcast`. Every message carries its sequence
//! number and its *scheduled* send time, so a stalled server shows up as latency
//! (no coordinated omission), and gaps and repeats as loss and duplicates.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::client::{self, Conn, Next, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};

#[derive(Debug, Clone, Default)]
pub struct WitnessReport {
    /// Broadcasts the publisher sent.
    pub sent: u64,
    /// Deliveries expected (sent × receivers) and received.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub dup: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Broadcast requests not answered 200.
    pub ack_errors: u64,
    /// Broadcast requests never answered.
    pub unanswered: u64,
    /// Disconnections and other trouble, first ones.
    pub errors: Vec<String>,
}

impl WitnessReport {
    pub fn to_json(&self) -> Value {
        json!({
            "sent": self.sent, "expected": self.expected, "received": self.received,
            "lost": self.lost, "dup": self.dup,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms,
            "ack_errors": self.ack_errors, "unanswered": self.unanswered,
            "errors": self.errors,
        })
    }
}

#[derive(Debug)]
struct Shared {
    hist: Histogram<u64>,
    /// Per receiver, per sequence number: times received.
    counts: Vec<Vec<u16>>,
    sent: u64,
    acked: u64,
    ack_errors: u64,
    errors: Vec<String>,
}

impl Shared {
    fn error(&mut self, e: String) {
        if self.errors.len() < 5 {
            self.errors.push(e);
        }
    }
}

/// A running witness.
#[derive(Debug)]
pub struct Witness {
    stop_send: Arc<AtomicBool>,
    stop_all: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    threads: Vec<JoinHandle<()>>,
    receivers: usize,
}

const EVENT: &str = "w";

impl Witness {
    /// Connects `receivers` clients to `room` and a publisher, and starts the
    /// paced broadcast at `rate` messages/s.
    pub fn start(
        addr: SocketAddr,
        room: &str,
        rate: f64,
        receivers: usize,
        epoch: Instant,
    ) -> Result<Witness, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut conns = Vec::new();
        for _ in 0..receivers {
            conns
                .push(client::sio_join(addr, room, deadline).map_err(|e| format!("witness: {e}"))?);
        }
        let publisher = client::sio_connect(addr, deadline).map_err(|e| format!("witness: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared {
            hist: Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?,
            counts: vec![Vec::new(); receivers],
            sent: 0,
            acked: 0,
            ack_errors: 0,
            errors: Vec::new(),
        }));
        let stop_send = Arc::new(AtomicBool::new(false));
        let stop_all = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, c) in conns.into_iter().enumerate() {
            let (sh, stop) = (shared.clone(), stop_all.clone());
            threads.push(std::thread::spawn(move || receive(c, i, epoch, &sh, &stop)));
        }
        let (sh, s1, s2, room) = (
            shared.clone(),
            stop_send.clone(),
            stop_all.clone(),
            room.to_string(),
        );
        threads.push(std::thread::spawn(move || {
            publish(publisher, &room, rate, epoch, &sh, &s1, &s2);
        }));
        Ok(Witness {
            stop_send,
            stop_all,
            shared,
            threads,
            receivers,
        })
    }

    /// Broadcasts sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.lock().map(|s| s.sent).unwrap_or(0)
    }

    /// Stops the publisher, waits up to `drain` for what it sent to arrive, stops
    /// and reports.
    pub fn finish(mut self, drain: Duration) -> WitnessReport {
        self.stop_send.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + drain;
        loop {
            let done = self
                .shared
                .lock()
                .map(|s| {
                    s.acked >= s.sent
                        && s.counts.iter().all(|c| {
                            (0..s.sent as usize).all(|k| c.get(k).copied().unwrap_or(0) > 0)
                        })
                })
                .unwrap_or(true);
            if done || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop_all.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let s = match self.shared.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let mut lost = 0;
        let mut dup = 0;
        let mut received = 0;
        for c in &s.counts {
            for k in 0..s.sent as usize {
                let n = u64::from(c.get(k).copied().unwrap_or(0));
                received += n;
                if n == 0 {
                    lost += 1;
                } else {
                    dup += n - 1;
                }
            }
        }
        let q = |p: f64| s.hist.value_at_quantile(p) as f64 / 1e3;
        WitnessReport {
            sent: s.sent,
            expected: s.sent * self.receivers as u64,
            received,
            lost,
            dup,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: s.hist.max() as f64 / 1e3,
            ack_errors: s.ack_errors,
            unanswered: s.sent.saturating_sub(s.acked),
            errors: s.errors.clone(),
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.stop_send.store(true, Ordering::Relaxed);
        self.stop_all.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `(seq, scheduled ns)` of a witness delivery `42["w",{"s":…,"t":…}]`.
fn parse_delivery(text: &str) -> Option<(u64, u64)> {
    let body = text.strip_prefix("42")?;
    if !body.starts_with("[\"w\",") {
        return None;
    }
    let v: Value = serde_json::from_str(body).ok()?;
    Some((v[1]["s"].as_u64()?, v[1]["t"].as_u64()?))
}

fn receive(mut c: Conn, idx: usize, epoch: Instant, shared: &Mutex<Shared>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match c.next_frame(Instant::now() + Duration::from_millis(50)) {
            Next::Frame(f) => match f.opcode {
                OP_TEXT => {
                    let Some(t) = f.text() else { continue };
                    if t == "2" {
                        let _ = c.send_text("3");
                    } else if let Some((seq, sched)) = parse_delivery(t) {
                        let now = epoch.elapsed().as_nanos() as u64;
                        let us = now.saturating_sub(sched) / 1000;
                        if let Ok(mut s) = shared.lock() {
                            let _ = s.hist.record(us.max(1));
                            let counts = &mut s.counts[idx];
                            let k = seq as usize;
                            if k < 10_000_000 {
                                if counts.len() <= k {
                                    counts.resize(k + 1, 0);
                                }
                                counts[k] = counts[k].saturating_add(1);
                            }
                        }
                    }
                }
                OP_PING => {
                    let _ = c.send_frame(OP_PONG, &f.payload);
                }
                OP_CLOSE => {
                    if let Ok(mut s) = shared.lock() {
                        s.error(format!(
                            "witness receiver {idx} closed by the server: {} {:?}",
                            f.close_code(),
                            f.close_reason()
                        ));
                    }
                    return;
                }
                _ => {}
            },
            Next::Timeout => {}
            Next::Eof => {
                if let Ok(mut s) = shared.lock() {
                    s.error(format!("witness receiver {idx}: connection closed (EOF)"));
                }
                return;
            }
            Next::Error(e) => {
                if let Ok(mut s) = shared.lock() {
                    s.error(format!("witness receiver {idx}: {e}"));
                }
                return;
            }
        }
    }
}

fn publish(
    mut c: Conn,
    room: &str,
    rate: f64,
    epoch: Instant,
    shared: &Mutex<Shared>,
    stop_send: &AtomicBool,
    stop_all: &AtomicBool,
) {
    let start = Instant::now();
    let mut k: u64 = 0;
    let base_id: u64 = 1000;
    loop {
        if stop_all.load(Ordering::Relaxed) {
            return;
        }
        let sending = !stop_send.load(Ordering::Relaxed);
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        let now = Instant::now();
        if sending && now >= due {
            let t_ns = (due - epoch).as_nanos() as u64;
            let pkt = client::request_packet(
                base_id + k,
                "post",
                "/sockets/broadcast",
                json!({"rooms": room, "event": EVENT, "data": {"s": k, "t": t_ns}}),
            );
            if let Err(e) = c.send_text(&pkt) {
                if let Ok(mut s) = shared.lock() {
                    s.error(format!("witness publisher: {e}"));
                }
                return;
            }
            k += 1;
            if let Ok(mut s) = shared.lock() {
                s.sent = k;
            }
            continue;
        }
        let until = if sending {
            due.min(now + Duration::from_millis(20))
        } else {
            now + Duration::from_millis(20)
        };
        match c.next_frame(until) {
            Next::Frame(f) => match f.opcode {
                OP_TEXT => {
                    let Some(t) = f.text() else { continue };
                    if t == "2" {
                        let _ = c.send_text("3");
                    } else if let Some(rest) = t.strip_prefix("43") {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        let id: u64 = digits.parse().unwrap_or(0);
                        if let Ok(ack) = client::parse_ack(t, id) {
                            if let Ok(mut s) = shared.lock() {
                                s.acked += 1;
                                if ack.status != 200 {
                                    s.ack_errors += 1;
                                    let b = ack.brief();
                                    s.error(format!("witness broadcast answered {b}"));
                                }
                            }
                        }
                    }
                }
                OP_PING => {
                    let _ = c.send_frame(OP_PONG, &f.payload);
                }
                OP_CLOSE => {
                    if let Ok(mut s) = shared.lock() {
                        s.error(format!(
                            "witness publisher closed by the server: {} {:?}",
                            f.close_code(),
                            f.close_reason()
                        ));
                    }
                    return;
                }
                _ => {}
            },
            Next::Timeout => {}
            Next::Eof => {
                if let Ok(mut s) = shared.lock() {
                    s.error("witness publisher: connection closed (EOF)".into());
                }
                return;
            }
            Next::Error(e) => {
                if let Ok(mut s) = shared.lock() {
                    s.error(format!("witness publisher: {e}"));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_witness_deliveries() {
        assert_eq!(
            parse_delivery(r#"42["w",{"s":12,"t":3400}]"#),
            Some((12, 3400))
        );
        assert_eq!(parse_delivery(r#"42["x",{"s":12,"t":3400}]"#), None);
        assert_eq!(parse_delivery("431[{}]"), None);
    }
}
