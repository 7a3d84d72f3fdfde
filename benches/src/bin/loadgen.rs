//! `loadgen`: a Socket.IO load generator for roomcast and its peers.
//!
//! Opens `--clients` Socket.IO clients over WebSocket (EIO4, or EIO3 with
//! `--eio3`) on one non-blocking mio loop, spreads them over `--rooms` rooms,
//! joins each to its room with the virtual request `POST /sockets/join`, then
//! drives broadcasts through `POST /sockets/broadcast` from `--publishers`
//! extra clients (which join no room):
//!
//! * open loop (`--rate` messages/s or `--delivery-rate` deliveries/s): sends
//!   are scheduled by the clock and each message carries its *scheduled* send
//!   time, so a stalled server shows up as latency (no coordinated omission);
//! * `--saturate`: a window of `--window` in-flight requests per publisher.
//!
//! Every message is `{"p":publisher,"r":room,"s":seq,"t":nanos,"x":"pad…"}`;
//! receivers record latency in an HDR histogram and check, per publisher,
//! that sequence numbers arrive without gaps or duplicates. `--mode idle`
//! only connects and holds (RSS per connection, connection rate).
//!
//! Client frames are masked; server frames are parsed with
//! [`roomcast::wire::parse_frame`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Socket.IO load generator: join rooms, broadcast, measure")]
struct Args {
    /// Server URL (ws://host:port/path/).
    #[arg(long, default_value = "ws://127.0.0.1:1337/socket.io/")]
    url: String,
    /// Receiving clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Number of rooms the receivers are spread over (round robin).
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Room size instead of `--rooms` (rooms = clients / room_size).
    #[arg(long)]
    room_size: Option<usize>,
    /// Publisher clients (join no room, send broadcasts).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Open loop: broadcast requests per second (all publishers together).
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: deliveries per second (rate = deliveries / room size).
    #[arg(long)]
    delivery_rate: Option<f64>,
    /// Saturate: keep `--window` requests in flight per publisher.
    #[arg(long)]
    saturate: bool,
    /// In-flight broadcast requests per publisher with `--saturate`.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Broadcast to a random room each time (default: round robin).
    #[arg(long)]
    random_rooms: bool,
    /// Size in bytes of the broadcast data object.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// `broadcast` (default) or `idle` (connect, join, hold `--duration`).
    #[arg(long, default_value = "broadcast")]
    mode: String,
    /// Use Engine.IO v3 (socket.io 2.x clients; client-side pings).
    #[arg(long)]
    eio3: bool,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 512)]
    connect_concurrency: usize,
    /// Seconds allowed for all clients to connect and join.
    #[arg(long, default_value_t = 60.0)]
    connect_timeout: f64,
    /// Number of loopback source addresses 127.0.0.1..=127.0.0.N to spread over.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Server pid, for CPU and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<String>,
    /// Label put into the JSON (scenario/server name).
    #[arg(long, default_value = "")]
    label: String,
    /// Seconds to wait after the last send for outstanding deliveries.
    #[arg(long, default_value_t = 3.0)]
    drain: f64,
    /// Extra query keys on the handshake URL (default: what sails.io.js sends;
    /// Sails refuses virtual requests without an SDK version, other servers ignore it).
    #[arg(
        long,
        default_value = "__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript"
    )]
    query: String,
    /// Exit with status 1 if any message was lost, duplicated or refused.
    #[arg(long)]
    check: bool,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// The server's metrics URL (`http://127.0.0.1:PORT/metrics`): read at the
    /// start and end of the measured window for the server's frames per write
    /// (`roomcast_deliveries_total` / `roomcast_writes_total`; roomcast and
    /// rawfanout expose them).
    #[arg(long)]
    metrics_url: Option<String>,
}

/// How many paced messages are due `elapsed` after the start at `rate`/s:
/// message k is scheduled at k/rate, so messages 0..=floor(elapsed*rate) are.
/// (Counting only floor(elapsed*rate) sent each one a whole period late and
/// busy-polled with a zero timeout until then.)
fn messages_due(elapsed: Duration, rate: f64) -> u64 {
    (elapsed.as_secs_f64() * rate) as u64 + 1
}

/// Sums `name` over all label sets in a Prometheus/OpenMetrics text body.
fn metric_sum(body: &str, name: &str) -> Option<f64> {
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

/// `(deliveries, writes)` from the server's metrics endpoint, or `None`.
fn fetch_frames_and_writes(url: &str) -> Option<(f64, f64)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport.to_socket_addrs().ok()?.next()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some((
        metric_sum(&body, "roomcast_deliveries_total")?,
        metric_sum(&body, "roomcast_writes_total")?,
    ))
}

const SCRATCH: usize = 1 << 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// TCP connect in progress / HTTP upgrade response awaited.
    Upgrading,
    /// Waiting for the Engine.IO open packet `0{…}`.
    AwaitOpen,
    /// Waiting for the Socket.IO connect reply `40…`.
    AwaitConnect,
    /// Join request sent, waiting for its ack.
    AwaitJoin,
    /// Joined; receiving (or publishing).
    Ready,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    stage: Stage,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Receiver: its room. Publisher: `usize::MAX`.
    room: usize,
    /// Publisher index, or `usize::MAX` for receivers.
    publisher: usize,
    /// Receiver: next expected sequence per publisher.
    next_seq: Vec<u64>,
    mask: [u8; 4],
    ping_interval: Duration,
    next_ping: Instant,
}

#[derive(Debug, Default)]
struct Publisher {
    conn: usize,
    next_ack_id: u64,
    in_flight: HashMap<u64, (usize, u64)>,
    /// Per room: next sequence number to send.
    next_seq: Vec<u64>,
    /// Per room: highest acked sequence + 1.
    acked: Vec<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    deliveries: u64,
    measured_deliveries: u64,
    sent: u64,
    measured_sent: u64,
    acks: u64,
    ack_errors: u64,
    lost: u64,
    duplicated: u64,
    bad_frames: u64,
    closed: u64,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("loadgen: error: {e}");
        std::process::exit(2);
    }
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
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

fn parse_url(url: &str) -> io::Result<(SocketAddr, String, String)> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| err(format!("--url must start with ws:// ({url})")))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/socket.io/".to_string()),
    };
    let addr = hostport
        .to_socket_addrs()?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| err(format!("cannot resolve {hostport}")))?;
    Ok((addr, hostport.to_string(), path))
}

/// Opens a non-blocking TCP connection from `src` (port chosen at connect).
fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: valid fd, pointer to a c_int of the size given.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    match sock.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std: std::net::TcpStream = sock.into();
    Ok(TcpStream::from_std(std))
}

/// Appends a masked client text frame.
fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Finds `"key":` in `s` and parses the unsigned integer after it.
fn field_u64(s: &[u8], key: &[u8]) -> Option<u64> {
    let pos = s.windows(key.len()).position(|w| w == key)?;
    let mut v: u64 = 0;
    let mut any = false;
    for &b in &s[pos + key.len()..] {
        if b.is_ascii_digit() {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            any = true;
        } else {
            break;
        }
    }
    any.then_some(v)
}

/// One delivery parsed from `42["m",{"p":…,"r":…,"s":…,"t":…}]`.
fn parse_delivery(msg: &[u8]) -> Option<(usize, usize, u64, u64)> {
    let body = msg.strip_prefix(b"42[\"m\",")?;
    let head = &body[..body.len().min(96)];
    Some((
        field_u64(head, b"\"p\":")? as usize,
        field_u64(head, b"\"r\":")? as usize,
        field_u64(head, b"\"s\":")?,
        field_u64(head, b"\"t\":")?,
    ))
}

fn read_proc(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14/15 (utime, stime) are at 11/12 after the state field.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks as f64 / hz, rss_kb))
}

struct Run {
    args: Args,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    pubs: Vec<Publisher>,
    rooms: usize,
    hist: Histogram<u64>,
    c: Counters,
    epoch: Instant,
    measure_from: Option<Instant>,
    measure_until: Option<Instant>,
    scratch: Vec<u8>,
    host: String,
    path: String,
    ready: usize,
    first_error: Option<String>,
    rng: u64,
    /// When the bytes being parsed were read (one clock read per `read`, not
    /// per frame: every frame of one read arrived by then).
    read_ns: u64,
    pad: String,
}

impl Run {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn queue(&mut self, id: usize, opcode: u8, payload: &[u8]) {
        if let Some(conn) = self.conns[id].as_mut() {
            push_frame(&mut conn.wbuf, opcode, payload, conn.mask);
        }
    }

    /// Writes pending output until done or `WouldBlock`.
    fn flush(&mut self, id: usize) {
        let Some(conn) = self.conns[id].as_mut() else {
            return;
        };
        while !conn.wbuf.is_empty() {
            match conn.stream.write(&conn.wbuf) {
                Ok(0) => break,
                Ok(n) => {
                    conn.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) => {
                    self.close(id, &format!("write: {e}"));
                    return;
                }
            }
        }
    }

    fn close(&mut self, id: usize, why: &str) {
        if let Some(mut conn) = self.conns[id].take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.c.closed += 1;
            if self.first_error.is_none() {
                self.first_error =
                    Some(format!("connection {id} closed in {:?}: {why}", conn.stage));
            }
            if conn.stage == Stage::Ready {
                self.ready -= 1;
            }
        }
    }

    fn on_readable(&mut self, id: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conns[id].as_mut() {
            let n = match conn.stream.read(&mut scratch) {
                Ok(0) => {
                    self.close(id, "EOF from server");
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) => {
                    self.close(id, &format!("read: {e}"));
                    break;
                }
            };
            self.read_ns = self.epoch.elapsed().as_nanos() as u64;
            if conn.rbuf.is_empty() {
                // Fast path: parse straight from the scratch buffer, keep only a partial tail.
                let used = self.consume(id, &scratch[..n]);
                if let Some(conn) = self.conns[id].as_mut() {
                    conn.rbuf.extend_from_slice(&scratch[used..n]);
                }
            } else {
                let mut buf = std::mem::take(&mut conn.rbuf);
                buf.extend_from_slice(&scratch[..n]);
                let used = self.consume(id, &buf);
                if let Some(conn) = self.conns[id].as_mut() {
                    buf.drain(..used);
                    if buf.capacity() > 4 * buf.len().max(4096) {
                        buf.shrink_to_fit();
                    }
                    conn.rbuf = buf;
                }
            }
            if n < scratch.len() {
                break;
            }
        }
        self.scratch = scratch;
        self.flush(id);
    }

    /// Consumes complete units from `buf`; returns bytes used.
    fn consume(&mut self, id: usize, buf: &[u8]) -> usize {
        let mut off = 0;
        if self.conns[id].as_ref().map(|c| c.stage) == Some(Stage::Upgrading) {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return 0;
            };
            if !buf.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&buf[..end.min(80)]).into_owned();
                self.close(id, &format!("upgrade refused: {line}"));
                return buf.len();
            }
            off = end + 4;
            if let Some(c) = self.conns[id].as_mut() {
                c.stage = Stage::AwaitOpen;
            }
        }
        while let Some((opcode, payload, used)) = roomcast::wire::parse_frame(&buf[off..]) {
            off += used;
            match opcode {
                1 | 2 => self.on_message(id, payload),
                8 => {
                    self.close(id, "close frame from server");
                    return buf.len();
                }
                9 => {
                    let p = payload.to_vec();
                    self.queue(id, 10, &p);
                }
                _ => {}
            }
            if self.conns[id].is_none() {
                return buf.len();
            }
        }
        off
    }

    fn on_message(&mut self, id: usize, msg: &[u8]) {
        let stage = match self.conns[id].as_ref() {
            Some(c) => c.stage,
            None => return,
        };
        match stage {
            Stage::Upgrading => {}
            Stage::AwaitOpen => {
                if msg.first() != Some(&b'0') {
                    return;
                }
                let interval = serde_json::from_slice::<serde_json::Value>(&msg[1..])
                    .ok()
                    .and_then(|v| v.get("pingInterval").and_then(serde_json::Value::as_u64))
                    .unwrap_or(25_000);
                let eio3 = self.args.eio3;
                if let Some(c) = self.conns[id].as_mut() {
                    c.ping_interval = Duration::from_millis(interval);
                    c.next_ping = Instant::now() + c.ping_interval;
                    c.stage = Stage::AwaitConnect;
                }
                if !eio3 {
                    self.queue(id, 1, b"40");
                }
            }
            Stage::AwaitConnect => {
                if msg.starts_with(b"40") {
                    let conn = self.conns[id].as_mut().expect("checked");
                    if conn.publisher != usize::MAX {
                        conn.stage = Stage::Ready;
                        self.ready += 1;
                    } else {
                        conn.stage = Stage::AwaitJoin;
                        let req = format!(
                            "420[\"post\",{{\"method\":\"post\",\"url\":\"/sockets/join\",\"data\":{{\"room\":\"r{}\"}},\"headers\":{{}}}}]",
                            conn.room
                        );
                        self.queue(id, 1, req.as_bytes());
                    }
                } else if msg.starts_with(b"44") {
                    let m = String::from_utf8_lossy(msg).into_owned();
                    self.close(id, &format!("connect refused: {m}"));
                }
            }
            Stage::AwaitJoin => {
                if msg.starts_with(b"430") {
                    if msg.windows(16).any(|w| w == b"\"statusCode\":200") {
                        self.conns[id].as_mut().expect("checked").stage = Stage::Ready;
                        self.ready += 1;
                    } else {
                        let m = String::from_utf8_lossy(msg).into_owned();
                        self.close(id, &format!("join refused: {m}"));
                    }
                } else {
                    self.on_ready_message(id, msg);
                }
            }
            Stage::Ready => self.on_ready_message(id, msg),
        }
    }

    fn on_ready_message(&mut self, id: usize, msg: &[u8]) {
        match msg.first() {
            Some(b'2') if !self.args.eio3 => self.queue(id, 1, b"3"),
            Some(b'4') => {
                if msg.starts_with(b"42") {
                    self.on_delivery(id, msg);
                } else if msg.starts_with(b"43") {
                    self.on_ack(id, msg);
                }
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, id: usize, msg: &[u8]) {
        let Some((p, r, s, t)) = parse_delivery(msg) else {
            self.c.bad_frames += 1;
            return;
        };
        let now = self.read_ns;
        let conn = self.conns[id].as_mut().expect("checked");
        if p >= conn.next_seq.len() || r != conn.room {
            self.c.bad_frames += 1;
            return;
        }
        let expected = conn.next_seq[p];
        if s == expected {
            conn.next_seq[p] = s + 1;
        } else if s > expected {
            self.c.lost += s - expected;
            conn.next_seq[p] = s + 1;
        } else {
            self.c.duplicated += 1;
            return;
        }
        self.c.deliveries += 1;
        let from = self
            .measure_from
            .map(|i| (i - self.epoch).as_nanos() as u64);
        let until = self
            .measure_until
            .map(|i| (i - self.epoch).as_nanos() as u64);
        if let Some(from) = from {
            if t >= from && until.is_none_or(|u| t < u) {
                self.c.measured_deliveries += 1;
                let _ = self.hist.record(now.saturating_sub(t).max(1));
            }
        }
    }

    fn on_ack(&mut self, id: usize, msg: &[u8]) {
        let Some(pi) = self.conns[id].as_ref().map(|c| c.publisher) else {
            return;
        };
        if pi == usize::MAX {
            return;
        }
        let digits = msg[2..].iter().take_while(|b| b.is_ascii_digit()).count();
        let Ok(ack) = std::str::from_utf8(&msg[2..2 + digits])
            .unwrap_or("")
            .parse::<u64>()
        else {
            return;
        };
        let Some((room, seq)) = self.pubs[pi].in_flight.remove(&ack) else {
            return;
        };
        self.c.acks += 1;
        if msg.windows(16).any(|w| w == b"\"statusCode\":200") {
            let a = &mut self.pubs[pi].acked[room];
            *a = (*a).max(seq + 1);
        } else {
            self.c.ack_errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(format!(
                    "broadcast refused: {}",
                    String::from_utf8_lossy(msg)
                ));
            }
        }
    }

    fn pick_room(&mut self, k: u64) -> usize {
        if self.args.random_rooms {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % self.rooms as u64) as usize
        } else {
            (k % self.rooms as u64) as usize
        }
    }

    /// Queues one broadcast from publisher `pi` stamped with `t_ns`.
    fn send_broadcast(&mut self, pi: usize, t_ns: u64, room: usize) {
        let seq = self.pubs[pi].next_seq[room];
        self.pubs[pi].next_seq[room] += 1;
        let ack = self.pubs[pi].next_ack_id;
        self.pubs[pi].next_ack_id += 1;
        self.pubs[pi].in_flight.insert(ack, (room, seq));
        let head = format!("{{\"p\":{pi},\"r\":{room},\"s\":{seq},\"t\":{t_ns},\"x\":\"");
        let pad = self.args.payload.saturating_sub(head.len() + 2);
        let req = format!(
            "42{ack}[\"post\",{{\"method\":\"post\",\"url\":\"/sockets/broadcast\",\"data\":{{\"rooms\":\"r{room}\",\"event\":\"m\",\"data\":{head}{}\"}}}},\"headers\":{{}}}}]",
            &self.pad[..pad.min(self.pad.len())]
        );
        let conn = self.pubs[pi].conn;
        self.queue(conn, 1, req.as_bytes());
        self.c.sent += 1;
        if self
            .measure_from
            .is_some_and(|m| self.epoch + Duration::from_nanos(t_ns) >= m)
            && self.measure_until.is_none()
        {
            self.c.measured_sent += 1;
        }
    }

    fn poll_once(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let id = ev.token().0;
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                self.on_readable(id);
            }
            if ev.is_writable() {
                if let Some(c) = self.conns[id].as_mut() {
                    if c.stage == Stage::Upgrading && c.wbuf.is_empty() && c.rbuf.is_empty() {
                        // first writability: connected. request already queued.
                    }
                    if let Ok(Some(e)) = c.stream.take_error() {
                        self.close(id, &format!("connect: {e}"));
                        continue;
                    }
                }
                self.flush(id);
            }
        }
        Ok(())
    }

    fn eio3_pings(&mut self) {
        if !self.args.eio3 {
            return;
        }
        let now = Instant::now();
        for id in 0..self.conns.len() {
            let due = match self.conns[id].as_mut() {
                Some(c) if c.stage != Stage::Upgrading && now >= c.next_ping => {
                    c.next_ping = now + c.ping_interval;
                    true
                }
                _ => false,
            };
            if due {
                self.queue(id, 1, b"2");
                self.flush(id);
            }
        }
    }

    fn open_conn(&mut self, id: usize, dst: SocketAddr, publisher: usize) -> io::Result<()> {
        let src = Ipv4Addr::new(
            127,
            0,
            0,
            1 + (id % self.args.sources.max(1) as usize) as u8,
        );
        let src = if dst.ip().is_loopback() {
            src
        } else {
            Ipv4Addr::UNSPECIFIED
        };
        let mut stream = connect_from(src, dst).map_err(|e| match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => err(format!(
                "out of file descriptors after {id} connections (limit {}): lower --clients or raise `ulimit -n`",
                raise_fd_limit()
            )),
            Some(libc::EADDRNOTAVAIL) => err(format!(
                "out of ephemeral ports after {id} connections: use more --sources (now {})",
                self.args.sources
            )),
            _ => err(format!("connect #{id}: {e}")),
        })?;
        self.poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let q = if self.args.eio3 { "EIO=3" } else { "EIO=4" };
        let req = format!(
            "GET {}?{}{q}&transport=websocket HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            self.path,
            if self.args.query.is_empty() { String::new() } else { format!("{}&", self.args.query) },
            self.host
        );
        let m = (id as u32).wrapping_mul(2_654_435_761).to_le_bytes();
        self.conns[id] = Some(Conn {
            stream,
            stage: Stage::Upgrading,
            rbuf: Vec::new(),
            wbuf: req.into_bytes(),
            room: if publisher == usize::MAX {
                id % self.rooms
            } else {
                usize::MAX
            },
            publisher,
            next_seq: vec![
                0;
                if publisher == usize::MAX {
                    self.args.publishers
                } else {
                    0
                }
            ],
            mask: m,
            ping_interval: Duration::from_secs(25),
            next_ping: Instant::now() + Duration::from_secs(25),
        });
        Ok(())
    }
}

fn run(args: Args) -> io::Result<()> {
    let limit = raise_fd_limit();
    let total = args.clients + args.publishers;
    if total as u64 + 32 > limit {
        return Err(err(format!(
            "{total} connections need more file descriptors than the limit ({limit}); lower --clients"
        )));
    }
    let rooms = match args.room_size {
        Some(s) if s > 0 => args.clients.div_ceil(s),
        _ => args.rooms.max(1),
    }
    .min(args.clients.max(1));
    let room_size = args.clients as f64 / rooms as f64;
    let (dst, host, path) = parse_url(&args.url)?;
    let idle = args.mode == "idle";
    if !idle && args.mode != "broadcast" {
        return Err(err(format!("unknown --mode {}", args.mode)));
    }
    let rate = match (args.rate, args.delivery_rate) {
        (Some(r), _) => Some(r),
        (None, Some(d)) => Some(d / room_size),
        _ => None,
    };
    if !idle && rate.is_none() && !args.saturate {
        return Err(err("give --rate, --delivery-rate or --saturate"));
    }
    let proc0 = args.server_pid.and_then(read_proc);
    let pubs = if idle { 0 } else { args.publishers };
    let mut run = Run {
        poll: Poll::new()?,
        conns: (0..args.clients + pubs).map(|_| None).collect(),
        pubs: Vec::new(),
        rooms,
        hist: Histogram::new_with_bounds(1, 120_000_000_000, 3).map_err(|e| err(e.to_string()))?,
        c: Counters::default(),
        epoch: Instant::now(),
        measure_from: None,
        measure_until: None,
        scratch: vec![0; SCRATCH],
        host,
        path,
        ready: 0,
        first_error: None,
        rng: 0x9E37_79B9_7F4A_7C15,
        read_ns: 0,
        pad: "x".repeat(args.payload),
        args,
    };
    let mut events = Events::with_capacity(4096);

    // Phase 1: connect and join, with a bounded number of handshakes in flight.
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(run.args.connect_timeout);
    let n = run.conns.len();
    let mut opened = 0;
    let mut last_progress = Instant::now();
    while run.ready < n {
        while opened < n
            && opened - (run.ready + run.c.closed as usize) < run.args.connect_concurrency
        {
            let publisher = if opened >= run.args.clients {
                opened - run.args.clients
            } else {
                usize::MAX
            };
            run.open_conn(opened, dst, publisher)?;
            run.flush(opened);
            opened += 1;
        }
        run.poll_once(&mut events, Duration::from_millis(5))?;
        if run.c.closed > 0 {
            return Err(err(format!(
                "{} of {n} connections failed while connecting; first: {}",
                run.c.closed,
                run.first_error.clone().unwrap_or_default()
            )));
        }
        if Instant::now() > deadline {
            return Err(err(format!(
                "timeout: only {} of {n} clients connected and joined within {}s",
                run.ready, run.args.connect_timeout
            )));
        }
        if !run.args.quiet && last_progress.elapsed() > Duration::from_millis(500) {
            last_progress = Instant::now();
            eprint!("\r[connect] {}/{n} ready   ", run.ready);
        }
        run.eio3_pings();
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    let connect_rate = n as f64 / connect_secs;
    if !run.args.quiet {
        eprintln!("\r[connect] {n}/{n} ready in {connect_secs:.2}s ({connect_rate:.0} conn/s)");
    }
    // Let the server settle before reading its RSS.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        run.poll_once(&mut events, Duration::from_millis(20))?;
    }
    let proc_connected = run.args.server_pid.and_then(read_proc);

    for pi in 0..pubs {
        run.pubs.push(Publisher {
            conn: run.args.clients + pi,
            next_ack_id: 1,
            in_flight: HashMap::new(),
            next_seq: vec![0; rooms],
            acked: vec![0; rooms],
        });
    }

    // Phase 2: warm-up + measure.
    let start = Instant::now();
    let warm = Duration::from_secs_f64(run.args.warmup.max(0.0));
    let measure = Duration::from_secs_f64(run.args.duration.max(0.0));
    let mut proc_measure0 = None;
    // Metrics are read on a helper thread at the window's edges so the event
    // loop never blocks on them.
    let metrics = run.args.metrics_url.clone().map(|url| {
        let (from, until) = (start + warm, start + warm + measure);
        std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let a = fetch_frames_and_writes(&url);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let b = fetch_frames_and_writes(&url);
            match (a, b) {
                (Some(a), Some(b)) if b.1 > a.1 => Some((b.0 - a.0) / (b.1 - a.1)),
                _ => None,
            }
        })
    });
    let mut sched_k: u64 = 0;
    let mut last = (Instant::now(), 0u64);
    loop {
        let now = Instant::now();
        let el = now - start;
        if run.measure_from.is_none() && el >= warm {
            run.measure_from = Some(now);
            proc_measure0 = run.args.server_pid.and_then(read_proc);
        }
        if el >= warm + measure {
            run.measure_until = Some(now);
            break;
        }
        if idle {
            // nothing to send
        } else if run.args.saturate {
            for pi in 0..pubs {
                while run.pubs[pi].in_flight.len() < run.args.window {
                    let t = run.now_ns();
                    let room = run.pick_room(sched_k);
                    sched_k += 1;
                    run.send_broadcast(pi, t, room);
                }
                let c = run.pubs[pi].conn;
                run.flush(c);
            }
        } else if let Some(rate) = rate {
            let due = messages_due(el, rate);
            let mut budget = 2000;
            while sched_k < due && budget > 0 {
                let t_sched = start + Duration::from_secs_f64(sched_k as f64 / rate);
                let t_ns = (t_sched - run.epoch).as_nanos() as u64;
                let pi = (sched_k % pubs as u64) as usize;
                let room = run.pick_room(sched_k / pubs as u64);
                run.send_broadcast(pi, t_ns, room);
                sched_k += 1;
                budget -= 1;
            }
            for pi in 0..pubs {
                let c = run.pubs[pi].conn;
                run.flush(c);
            }
        }
        let timeout = match rate {
            Some(r) if !run.args.saturate && !idle => {
                let next = start + Duration::from_secs_f64(sched_k as f64 / r);
                next.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(5))
            }
            _ => Duration::from_millis(if idle { 50 } else { 1 }),
        };
        run.poll_once(&mut events, timeout)?;
        run.eio3_pings();
        if run.c.closed > 0 && run.ready == 0 {
            break;
        }
        if !run.args.quiet && last.0.elapsed() >= Duration::from_secs(1) {
            let d = run.c.deliveries - last.1;
            let secs = last.0.elapsed().as_secs_f64();
            last = (Instant::now(), run.c.deliveries);
            let phase = if el < warm { "warmup" } else { "measure" };
            eprint!(
                "\r[{phase} {:>5.1}s/{:.0}s] {:>9.0} deliveries/s  sent {}  acks {}  lost {}  dup {}  closed {}   ",
                el.as_secs_f64(),
                (warm + measure).as_secs_f64(),
                d as f64 / secs,
                run.c.sent,
                run.c.acks,
                run.c.lost,
                run.c.duplicated,
                run.c.closed
            );
        }
    }
    let proc_measure1 = run.args.server_pid.and_then(read_proc);
    let frames_per_write = metrics.and_then(|h| h.join().ok().flatten());
    let measured_secs = run
        .measure_until
        .zip(run.measure_from)
        .map(|(u, f)| (u - f).as_secs_f64())
        .unwrap_or(0.0);

    // Phase 3: drain outstanding acks and deliveries (bounded).
    let drain_until = Instant::now() + Duration::from_secs_f64(run.args.drain.max(0.0));
    while Instant::now() < drain_until && !idle {
        run.poll_once(&mut events, Duration::from_millis(10))?;
        let pending_acks: usize = run.pubs.iter().map(|p| p.in_flight.len()).sum();
        if pending_acks == 0 && run.missing() == 0 {
            break;
        }
    }
    let tail_missing = run.missing();
    if !run.args.quiet {
        eprintln!();
    }
    let lost = run.c.lost + tail_missing;

    let cpu = match (proc_measure0, proc_measure1) {
        (Some(a), Some(b)) if measured_secs > 0.0 => Some(100.0 * (b.0 - a.0) / measured_secs),
        _ => None,
    };
    let rss_per_conn = match (proc0, proc_connected) {
        (Some(a), Some(b)) => Some((b.1 as f64 - a.1 as f64) * 1024.0 / n as f64),
        _ => None,
    };
    let h = &run.hist;
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1e6;
    let dps = if measured_secs > 0.0 {
        run.c.measured_deliveries as f64 / measured_secs
    } else {
        0.0
    };
    let mps = if measured_secs > 0.0 {
        run.c.measured_sent as f64 / measured_secs
    } else {
        0.0
    };
    let result = json!({
        "label": run.args.label,
        "url": run.args.url,
        "mode": run.args.mode,
        "eio": if run.args.eio3 { 3 } else { 4 },
        "clients": run.args.clients,
        "publishers": pubs,
        "rooms": rooms,
        "room_size": room_size,
        "payload": run.args.payload,
        "saturate": run.args.saturate,
        "window": run.args.window,
        "rate_msgs": rate,
        "duration_s": measured_secs,
        "connect_s": connect_secs,
        "connect_per_s": connect_rate,
        "deliveries_per_s": dps,
        "messages_per_s": mps,
        "deliveries": run.c.deliveries,
        "sent": run.c.sent,
        "acks": run.c.acks,
        "ack_errors": run.c.ack_errors,
        "lost": lost,
        "duplicated": run.c.duplicated,
        "bad_frames": run.c.bad_frames,
        "closed": run.c.closed,
        "latency_ms": {
            "samples": h.len(),
            "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
            "max": h.max() as f64 / 1e6,
        },
        "server_cpu_pct": cpu,
        "server_frames_per_write": frames_per_write,
        "server_rss_kb": proc_measure1.or(proc_connected).map(|p| p.1),
        "server_rss_per_conn_bytes": rss_per_conn,
        "first_error": run.first_error,
    });
    println!("{:<28} {}", "scenario", run.args.label);
    println!(
        "{:<28} {} clients, {} rooms ({room_size:.1}/room), {pubs} publishers, {} B",
        "setup", run.args.clients, rooms, run.args.payload
    );
    println!(
        "{:<28} {connect_rate:.0} conn/s ({connect_secs:.2} s)",
        "connect"
    );
    if !idle {
        println!("{:<28} {dps:.0}", "deliveries/s");
        println!("{:<28} {mps:.0}", "broadcasts/s");
        println!(
            "{:<28} p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)",
            "latency ms",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            h.max() as f64 / 1e6,
            h.len()
        );
        println!(
            "{:<28} lost {lost}  duplicated {}  ack errors {}  bad frames {}",
            "integrity", run.c.duplicated, run.c.ack_errors, run.c.bad_frames
        );
    }
    if let Some(c) = cpu {
        println!("{:<28} {c:.0} %", "server CPU");
    }
    if let Some(f) = frames_per_write {
        println!("{:<28} {f:.2}", "server frames per write");
    }
    if let Some(p) = proc_measure1.or(proc_connected) {
        println!("{:<28} {} KB", "server RSS", p.1);
    }
    if let Some(r) = rss_per_conn {
        println!("{:<28} {r:.0} B", "server RSS per connection");
    }
    if let Some(e) = &run.first_error {
        println!("{:<28} {e}", "first error");
    }
    if let Some(path) = &run.args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        )?;
    }
    if run.c.closed > 0 && !idle {
        return Err(err(format!(
            "{} connections closed during the run",
            run.c.closed
        )));
    }
    if run.args.check && !idle {
        if lost > 0 || run.c.duplicated > 0 || run.c.ack_errors > 0 || run.c.bad_frames > 0 {
            eprintln!(
                "loadgen: check failed: lost {lost}, duplicated {}, ack errors {}, bad frames {}",
                run.c.duplicated, run.c.ack_errors, run.c.bad_frames
            );
            std::process::exit(1);
        }
        if run.c.measured_deliveries == 0 {
            eprintln!("loadgen: check failed: no deliveries measured");
            std::process::exit(1);
        }
    }
    Ok(())
}

impl Run {
    /// Deliveries acked by the server but not (yet) received, summed over receivers.
    fn missing(&self) -> u64 {
        let mut m = 0;
        for conn in self.conns.iter().take(self.args.clients).flatten() {
            for (pi, p) in self.pubs.iter().enumerate() {
                let acked = p.acked.get(conn.room).copied().unwrap_or(0);
                m += acked.saturating_sub(conn.next_seq[pi]);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frame_roundtrip() {
        let mut out = Vec::new();
        push_frame(&mut out, 1, b"hello", [1, 2, 3, 4]);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x85);
        let unmasked: Vec<u8> = out[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i & 3])
            .collect();
        assert_eq!(unmasked, b"hello");
    }

    #[test]
    fn paced_messages_are_due_on_schedule() {
        // 200 messages/s: one every 5 ms, the first at once.
        assert_eq!(messages_due(Duration::ZERO, 200.0), 1);
        assert_eq!(messages_due(Duration::from_micros(4_999), 200.0), 1);
        assert_eq!(messages_due(Duration::from_millis(5), 200.0), 2);
        assert_eq!(messages_due(Duration::from_secs(1), 200.0), 201);
    }

    #[test]
    fn sums_metrics_over_labels() {
        let body = "# HELP x\nroomcast_writes_total{worker=\"0\"} 10\nroomcast_writes_total{worker=\"1\"} 5\nroomcast_writes_total_other 99\nroomcast_deliveries_total 40\n";
        assert_eq!(metric_sum(body, "roomcast_writes_total"), Some(15.0));
        assert_eq!(metric_sum(body, "roomcast_deliveries_total"), Some(40.0));
        assert_eq!(metric_sum(body, "roomcast_missing_total"), None);
    }

    #[test]
    fn parses_delivery() {
        let m = br#"42["m",{"p":2,"r":7,"s":41,"t":123456,"x":"xx"}]"#;
        assert_eq!(parse_delivery(m), Some((2, 7, 41, 123_456)));
        assert_eq!(parse_delivery(b"42[\"other\",{}]"), None);
    }
}
