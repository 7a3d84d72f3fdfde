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
//! **Cluster runs** (`--publisher-url`): the publishers connect to another
//! server than the receivers (`--url`), e.g. node 1 and node 2 of a cluster,
//! so every delivery crosses the cluster bus. With `--saturate` a window slot
//! is then freed only once the request was acked **and every receiver of that
//! message received it** (or saw a later message of the same publisher and
//! room, which counts the skipped one as lost): a node acks a broadcast as soon
//! as it handed it to the bus, so a window freed by the ack alone would let
//! the bus backlog grow without bound. Without `--publisher-url` the slot is
//! freed by the ack, as before (single-node figures stay comparable); giving
//! `--publisher-url` equal to `--url` runs a single node with the cluster's
//! window rule (the reference for "cluster as a % of one node").
//! `--redis-stats HOST:PORT` reads Redis' `INFO commandstats` / `INFO stats`
//! at both edges of the measured window and reports PUBLISH calls and network
//! bytes (in: from the nodes, out: to the subscribers) per broadcast sent.
//! `--server-pid` takes several pids (`1,2,3`): CPU and RSS are summed.
//!
//! Every message is `{"p":publisher,"r":room,"s":seq,"t":nanos,"x":"pad…"}`;
//! receivers record latency in an HDR histogram and check, per publisher,
//! that sequence numbers arrive without gaps or duplicates. `--mode idle`
//! only connects and holds (RSS per connection, connection rate).
//!
//! Client frames are masked; server frames are parsed with
//! [`roomcast::wire::parse_frame`].
//!
//! **Long-polling** (`--transport polling`): the receivers are Engine.IO v4
//! HTTP long-polling sessions (publishers stay on WebSocket). Each session has
//! **one keep-alive HTTP/1.1 connection** and at most one request on it at a
//! time: the handshake `GET ?EIO=4&transport=polling` (open packet `0{…}`,
//! whose `sid` names the session), then `POST … &sid=` with `40`, then a loop
//! of long-poll `GET … &sid=`. Whatever the session has to send (the `40`
//! CONNECT, the join request, the pong `3` to each server ping `2`) waits in an
//! outbox and is POSTed (packets joined by `\x1e`) as soon as the current GET
//! is answered; the next GET follows the POST's `ok`. (socket.io-client uses a
//! second connection for POSTs; one connection per session keeps the loop
//! simple, and a POST is only ever needed once per ping interval once joined.)
//! Responses are parsed with `httparse` and must carry a `Content-Length`
//! (roomcast and engine.io both send one; loadgen sends no `Accept-Encoding`,
//! so engine.io never compresses, which is the only case it would chunk). Each
//! GET body is split on `\x1e` and every packet goes through the same code as
//! a WebSocket message: the same loss, duplicate and latency accounting (the
//! clock is read once per `read`). The JSON gets `polls` (answered GETs once
//! joined) and `deliveries_per_poll`.

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
    /// Server URL (ws://host:port/path/) of the receiving clients.
    #[arg(long, default_value = "ws://127.0.0.1:1337/socket.io/")]
    url: String,
    /// The publishers' server URL (another node of a cluster); with it a
    /// `--saturate` window slot is freed once every receiver got the message,
    /// not on the ack (see the module docs).
    #[arg(long)]
    publisher_url: Option<String>,
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
    /// The receivers' transport: `websocket` or `polling` (Engine.IO v4
    /// long-polling, one keep-alive HTTP connection per session; publishers
    /// stay on WebSocket).
    #[arg(long, default_value = "websocket")]
    transport: String,
    /// Every client presents its own HS256 JWT signed with this secret (sub:
    /// its index) in the CONNECT auth object, for a server started with the
    /// same `--jwt-secret`. Tokens are minted before connecting, so the
    /// connect rate measures the server's verification, not ours.
    #[arg(long)]
    jwt_secret: Option<String>,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 512)]
    connect_concurrency: usize,
    /// Seconds allowed for all clients to connect and join.
    #[arg(long, default_value_t = 60.0)]
    connect_timeout: f64,
    /// Number of loopback source addresses 127.0.0.1..=127.0.0.N to spread over.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Server pid(s), for CPU and RSS from /proc (summed over `1,2,3`).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Server nodes under test (informational, put into the JSON).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Redis `HOST:PORT`: PUBLISH calls and network bytes per broadcast over
    /// the measured window (`INFO commandstats`, `INFO stats`).
    #[arg(long)]
    redis_stats: Option<String>,
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

/// Redis counters read with `INFO commandstats` and `INFO stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RedisCounters {
    /// `cmdstat_publish` calls (0 before the first PUBLISH).
    publish_calls: u64,
    /// `total_net_input_bytes`: bytes Redis read from its clients.
    net_input_bytes: u64,
    /// `total_net_output_bytes`: bytes Redis wrote to its clients.
    net_output_bytes: u64,
}

impl RedisCounters {
    /// Parses the text of `INFO` replies (several sections may be concatenated).
    fn parse(info: &str) -> Option<RedisCounters> {
        let mut c = RedisCounters::default();
        let (mut input, mut output) = (None, None);
        for line in info.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix("cmdstat_publish:") {
                c.publish_calls = rest
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))?
                    .parse()
                    .ok()?;
            } else if let Some(v) = line.strip_prefix("total_net_input_bytes:") {
                input = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("total_net_output_bytes:") {
                output = v.parse().ok();
            }
        }
        c.net_input_bytes = input?;
        c.net_output_bytes = output?;
        Some(c)
    }

    fn delta(self, earlier: RedisCounters) -> RedisCounters {
        RedisCounters {
            publish_calls: self.publish_calls.saturating_sub(earlier.publish_calls),
            net_input_bytes: self.net_input_bytes.saturating_sub(earlier.net_input_bytes),
            net_output_bytes: self
                .net_output_bytes
                .saturating_sub(earlier.net_output_bytes),
        }
    }
}

/// Reads one RESP bulk string reply (`$N\r\n…\r\n`) from `r`.
fn read_bulk(r: &mut impl io::BufRead) -> Option<String> {
    let mut head = String::new();
    r.read_line(&mut head).ok()?;
    let n: usize = head.strip_prefix('$')?.trim_end().parse().ok()?;
    let mut body = vec![0; n + 2];
    r.read_exact(&mut body).ok()?;
    body.truncate(n);
    String::from_utf8(body).ok()
}

/// The Redis counters at `addr` (`HOST:PORT`), or `None`.
fn fetch_redis_counters(addr: &str) -> Option<RedisCounters> {
    let sa = addr.to_socket_addrs().ok()?.next()?;
    let mut s = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"INFO commandstats\r\nINFO stats\r\n").ok()?;
    let mut r = io::BufReader::new(s);
    let a = read_bulk(&mut r)?;
    let b = read_bulk(&mut r)?;
    RedisCounters::parse(&(a + &b))
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
    /// Long-polling receivers (`--transport polling`); `None` on WebSocket.
    polling: Option<Box<PollState>>,
}

/// The request a long-polling session has on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollReq {
    /// The handshake `GET` (no `sid` yet).
    Handshake,
    /// A long-poll `GET`.
    Get,
    /// A `POST` of packets.
    Post,
}

/// A long-polling session's HTTP side.
#[derive(Debug)]
struct PollState {
    /// The request awaiting its answer.
    req: PollReq,
    /// Packets to POST, joined by `\x1e` (what a WebSocket would send as frames).
    outbox: Vec<u8>,
    /// The whole long-poll GET request (known once the handshake gave the sid).
    get: Vec<u8>,
    /// A POST request up to and including `Content-Length: `.
    post_head: Vec<u8>,
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
    /// Per room (`--publisher-url` only): the messages still holding a
    /// window slot, from the oldest one not yet done.
    tracks: Vec<Tracks>,
    /// Messages holding a window slot (`--publisher-url` only).
    outstanding: usize,
}

/// One message's progress towards freeing its window slot.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// Receivers that have not received it (nor a later one) yet.
    remaining: u32,
    acked: bool,
}

impl Track {
    fn done(self) -> bool {
        self.acked && self.remaining == 0
    }
}

/// The tracked messages of one publisher and room: `q[i]` is sequence `base + i`.
#[derive(Debug, Default)]
struct Tracks {
    base: u64,
    q: std::collections::VecDeque<Track>,
}

impl Tracks {
    /// Starts tracking the next sequence number (`base + q.len()`).
    fn push(&mut self, receivers: u32) {
        self.q.push_back(Track {
            remaining: receivers,
            acked: false,
        });
    }

    /// Applies `f` to sequence `seq`'s track; returns whether that made it done.
    /// Drops done tracks from the front.
    fn update(&mut self, seq: u64, f: impl FnOnce(&mut Track)) -> bool {
        let Some(i) = seq.checked_sub(self.base) else {
            return false;
        };
        let Some(t) = self.q.get_mut(i as usize) else {
            return false;
        };
        if t.done() {
            return false;
        }
        f(t);
        let now_done = t.done();
        while self.q.front().is_some_and(|t| t.done()) {
            self.q.pop_front();
            self.base += 1;
        }
        now_done
    }
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
    /// Long-polling: GETs answered once joined.
    polls: u64,
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

/// One complete HTTP answer at the start of `buf`: its status, where its body
/// is and how many bytes it takes; `Ok(None)` if it is not complete yet.
///
/// # Errors
///
/// A malformed head, or a body without a `Content-Length` (chunked).
fn parse_http_answer(buf: &[u8]) -> Result<Option<(u16, std::ops::Range<usize>, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad HTTP answer: {e}")),
    };
    let mut len = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked polling answer (not supported: no Content-Length)".into());
        }
    }
    let len = len.ok_or("polling answer without a Content-Length")?;
    if buf.len() - head_len < len {
        return Ok(None);
    }
    Ok(Some((
        resp.code.unwrap_or(0),
        head_len..head_len + len,
        head_len + len,
    )))
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

/// CPU seconds and RSS (KB) summed over `pids`; `None` if there are none or
/// one cannot be read.
fn read_procs(pids: &[u32]) -> Option<(f64, u64)> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold((0.0, 0), |(cpu, rss), &pid| {
        let (c, r) = read_proc(pid)?;
        Some((cpu + c, rss + r))
    })
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
    /// Each client's CONNECT packet (`40`, or `40{"token":…}` with `--jwt-secret`).
    connect_packets: Vec<Vec<u8>>,
    host: String,
    path: String,
    /// The publishers' server (`--publisher-url`, else `--url`).
    pub_dst: SocketAddr,
    pub_host: String,
    pub_path: String,
    /// A window slot is freed once every receiver got the message
    /// (`--publisher-url` given), not on the ack.
    until_delivered: bool,
    /// Receivers per room.
    members: Vec<u32>,
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
            match conn.polling.as_mut() {
                // Long-polling: packets wait for the next POST.
                Some(p) => {
                    if !p.outbox.is_empty() {
                        p.outbox.push(0x1e);
                    }
                    p.outbox.extend_from_slice(payload);
                }
                None => push_frame(&mut conn.wbuf, opcode, payload, conn.mask),
            }
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
        if self.conns[id].as_ref().is_some_and(|c| c.polling.is_some()) {
            return self.consume_http(id, buf);
        }
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

    /// Long-polling: consumes complete HTTP answers from `buf`; returns bytes used.
    fn consume_http(&mut self, id: usize, buf: &[u8]) -> usize {
        let mut off = 0;
        while off < buf.len() {
            match parse_http_answer(&buf[off..]) {
                Ok(None) => break,
                Ok(Some((status, body, used))) => {
                    self.on_http_answer(id, status, &buf[off + body.start..off + body.end]);
                    off += used;
                    if self.conns[id].is_none() {
                        return buf.len();
                    }
                }
                Err(e) => {
                    self.close(id, &e);
                    return buf.len();
                }
            }
        }
        off
    }

    /// Long-polling: one HTTP answer to session `id`'s request; sends the next
    /// request (the outbox as a POST if it has packets, else a GET).
    fn on_http_answer(&mut self, id: usize, status: u16, body: &[u8]) {
        let Some(req) = self.conns[id]
            .as_ref()
            .and_then(|c| c.polling.as_ref())
            .map(|p| p.req)
        else {
            return;
        };
        if status != 200 {
            let b = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            self.close(id, &format!("HTTP {status} to {req:?}: {b}"));
            return;
        }
        match req {
            PollReq::Post => {
                if body != b"ok" {
                    let b = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    self.close(id, &format!("POST answered {b:?}"));
                    return;
                }
            }
            PollReq::Handshake | PollReq::Get => {
                if req == PollReq::Handshake {
                    let sid = body
                        .strip_prefix(b"0")
                        .and_then(|j| serde_json::from_slice::<serde_json::Value>(j).ok())
                        .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_owned));
                    let Some(sid) = sid else {
                        let b = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                        self.close(id, &format!("polling handshake answered {b:?}"));
                        return;
                    };
                    let target = format!(
                        "{}?{}EIO=4&transport=polling&sid={sid}",
                        self.path,
                        if self.args.query.is_empty() {
                            String::new()
                        } else {
                            format!("{}&", self.args.query)
                        }
                    );
                    let host = &self.host;
                    let get = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
                    let post_head = format!(
                        "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "
                    );
                    let p = self.conns[id]
                        .as_mut()
                        .and_then(|c| c.polling.as_mut())
                        .expect("checked");
                    p.get = get.into_bytes();
                    p.post_head = post_head.into_bytes();
                } else if self.conns[id].as_ref().map(|c| c.stage) == Some(Stage::Ready) {
                    self.c.polls += 1;
                }
                for packet in body.split(|&b| b == 0x1e) {
                    if packet == b"1" {
                        self.close(id, "close packet from server");
                        return;
                    }
                    self.on_message(id, packet);
                    if self.conns[id].is_none() {
                        return;
                    }
                }
            }
        }
        // The next request.
        let Some(conn) = self.conns[id].as_mut() else {
            return;
        };
        let p = conn.polling.as_mut().expect("checked");
        if p.outbox.is_empty() {
            conn.wbuf.extend_from_slice(&p.get);
            p.req = PollReq::Get;
        } else {
            conn.wbuf.extend_from_slice(&p.post_head);
            let _ = write!(conn.wbuf, "{}\r\n\r\n", p.outbox.len());
            conn.wbuf.extend_from_slice(&p.outbox);
            p.outbox.clear();
            p.req = PollReq::Post;
        }
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
                    let packet = self.connect_packets[id].clone();
                    self.queue(id, 1, &packet);
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
        if self.until_delivered {
            // This one and any skipped (lost) ones are done for this receiver.
            self.delivered(p, r, expected, s);
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
        let ok = msg.windows(16).any(|w| w == b"\"statusCode\":200");
        if self.until_delivered {
            // A refused broadcast reaches no one: its slot is free at once.
            let p = &mut self.pubs[pi];
            if p.tracks[room].update(seq, |t| {
                t.acked = true;
                if !ok {
                    t.remaining = 0;
                }
            }) {
                p.outstanding -= 1;
            }
        }
        if ok {
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

    /// Receiver got publisher `p`'s message `last` in `room`, after `first..last`
    /// (lost): one receiver less to wait for, for each.
    fn delivered(&mut self, p: usize, room: usize, first: u64, last: u64) {
        let publ = &mut self.pubs[p];
        let tracks = &mut publ.tracks[room];
        // Only tracked sequences can change anything.
        let from = first.max(tracks.base);
        let to = last.min(tracks.base + tracks.q.len() as u64);
        for seq in from..=to {
            if tracks.update(seq, |t| t.remaining = t.remaining.saturating_sub(1)) {
                publ.outstanding -= 1;
            }
        }
    }

    /// Requests of publisher `pi` holding a window slot.
    fn window_used(&self, pi: usize) -> usize {
        let p = &self.pubs[pi];
        if self.until_delivered {
            p.outstanding
        } else {
            p.in_flight.len()
        }
    }

    /// Queues one broadcast from publisher `pi` stamped with `t_ns`.
    fn send_broadcast(&mut self, pi: usize, t_ns: u64, room: usize) {
        let seq = self.pubs[pi].next_seq[room];
        self.pubs[pi].next_seq[room] += 1;
        let ack = self.pubs[pi].next_ack_id;
        self.pubs[pi].next_ack_id += 1;
        self.pubs[pi].in_flight.insert(ack, (room, seq));
        if self.until_delivered {
            let receivers = self.members[room];
            let p = &mut self.pubs[pi];
            p.tracks[room].push(receivers);
            p.outstanding += 1;
        }
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
        let (path, host) = if publisher == usize::MAX {
            (&self.path, &self.host)
        } else {
            (&self.pub_path, &self.pub_host)
        };
        let query = if self.args.query.is_empty() {
            String::new()
        } else {
            format!("{}&", self.args.query)
        };
        let polling = publisher == usize::MAX && self.args.transport == "polling";
        let req = if polling {
            format!("GET {path}?{query}{q}&transport=polling HTTP/1.1\r\nHost: {host}\r\n\r\n")
        } else {
            format!(
                "GET {path}?{query}{q}&transport=websocket HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
        };
        let m = (id as u32).wrapping_mul(2_654_435_761).to_le_bytes();
        self.conns[id] = Some(Conn {
            stream,
            // A polling session's first answer is the open packet.
            stage: if polling {
                Stage::AwaitOpen
            } else {
                Stage::Upgrading
            },
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
            polling: polling.then(|| {
                Box::new(PollState {
                    req: PollReq::Handshake,
                    outbox: Vec::new(),
                    get: Vec::new(),
                    post_head: Vec::new(),
                })
            }),
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
    let (pub_dst, pub_host, pub_path) = match &args.publisher_url {
        Some(u) => parse_url(u)?,
        None => (dst, host.clone(), path.clone()),
    };
    let until_delivered = args.publisher_url.is_some();
    let mut members = vec![0u32; rooms];
    for id in 0..args.clients {
        members[id % rooms] += 1;
    }
    let idle = args.mode == "idle";
    if !idle && args.mode != "broadcast" {
        return Err(err(format!("unknown --mode {}", args.mode)));
    }
    match args.transport.as_str() {
        "websocket" => {}
        "polling" if args.eio3 => {
            return Err(err(
                "--transport polling speaks Engine.IO v4 only (no --eio3)",
            ))
        }
        "polling" => {}
        t => return Err(err(format!("unknown --transport {t}"))),
    }
    let rate = match (args.rate, args.delivery_rate) {
        (Some(r), _) => Some(r),
        (None, Some(d)) => Some(d / room_size),
        _ => None,
    };
    if !idle && rate.is_none() && !args.saturate {
        return Err(err("give --rate, --delivery-rate or --saturate"));
    }
    let proc0 = read_procs(&args.server_pid);
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
        connect_packets: connect_packets(args.jwt_secret.as_deref(), args.clients + pubs)?,
        host,
        path,
        pub_dst,
        pub_host,
        pub_path,
        until_delivered,
        members,
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
            let to = if publisher == usize::MAX {
                dst
            } else {
                run.pub_dst
            };
            run.open_conn(opened, to, publisher)?;
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
    let proc_connected = read_procs(&run.args.server_pid);

    for pi in 0..pubs {
        run.pubs.push(Publisher {
            conn: run.args.clients + pi,
            next_ack_id: 1,
            in_flight: HashMap::new(),
            next_seq: vec![0; rooms],
            acked: vec![0; rooms],
            tracks: (0..rooms).map(|_| Tracks::default()).collect(),
            outstanding: 0,
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
    let redis = run.args.redis_stats.clone().map(|addr| {
        let (from, until) = (start + warm, start + warm + measure);
        std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let a = fetch_redis_counters(&addr);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let b = fetch_redis_counters(&addr);
            Some(b?.delta(a?))
        })
    });
    let mut sched_k: u64 = 0;
    let mut last = (Instant::now(), 0u64);
    loop {
        let now = Instant::now();
        let el = now - start;
        if run.measure_from.is_none() && el >= warm {
            run.measure_from = Some(now);
            proc_measure0 = read_procs(&run.args.server_pid);
        }
        if el >= warm + measure {
            run.measure_until = Some(now);
            break;
        }
        if idle {
            // nothing to send
        } else if run.args.saturate {
            for pi in 0..pubs {
                while run.window_used(pi) < run.args.window {
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
    let proc_measure1 = read_procs(&run.args.server_pid);
    let frames_per_write = metrics.and_then(|h| h.join().ok().flatten());
    let redis = redis.and_then(|h| h.join().ok().flatten());
    let measured_secs = run
        .measure_until
        .zip(run.measure_from)
        .map(|(u, f)| (u - f).as_secs_f64())
        .unwrap_or(0.0);

    // Phase 3: drain outstanding acks and deliveries (bounded).
    let drain_until = Instant::now() + Duration::from_secs_f64(run.args.drain.max(0.0));
    while Instant::now() < drain_until && !idle {
        run.poll_once(&mut events, Duration::from_millis(10))?;
        let pending: usize = run
            .pubs
            .iter()
            .map(|p| p.in_flight.len() + p.outstanding)
            .sum();
        if pending == 0 && run.missing() == 0 {
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
    let per_broadcast =
        |v: u64| (run.c.measured_sent > 0).then(|| v as f64 / run.c.measured_sent as f64);
    let redis_json = match (&run.args.redis_stats, redis) {
        (Some(addr), Some(r)) => json!({
            "addr": addr,
            "broadcasts": run.c.measured_sent,
            "publish_calls": r.publish_calls,
            "net_input_bytes": r.net_input_bytes,
            "net_output_bytes": r.net_output_bytes,
            "publishes_per_broadcast": per_broadcast(r.publish_calls),
            "input_bytes_per_broadcast": per_broadcast(r.net_input_bytes),
            "output_bytes_per_broadcast": per_broadcast(r.net_output_bytes),
        }),
        (Some(addr), None) => json!({ "addr": addr, "error": "INFO failed" }),
        (None, _) => serde_json::Value::Null,
    };
    let result = json!({
        "label": run.args.label,
        "url": run.args.url,
        "publisher_url": run.args.publisher_url,
        "nodes": run.args.nodes,
        "window_frees_on": if run.until_delivered { "delivery" } else { "ack" },
        "redis": redis_json,
        "mode": run.args.mode,
        "eio": if run.args.eio3 { 3 } else { 4 },
        "transport": run.args.transport,
        "polls": (run.args.transport == "polling").then_some(run.c.polls),
        "deliveries_per_poll": (run.args.transport == "polling" && run.c.polls > 0)
            .then(|| run.c.deliveries as f64 / run.c.polls as f64),
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
        "{:<28} {} clients ({}), {} rooms ({room_size:.1}/room), {pubs} publishers, {} B",
        "setup", run.args.clients, run.args.transport, rooms, run.args.payload
    );
    if let Some(u) = &run.args.publisher_url {
        println!(
            "{:<28} {u} (window freed on delivery to every receiver)",
            "publishers on"
        );
    }
    println!(
        "{:<28} {connect_rate:.0} conn/s ({connect_secs:.2} s)",
        "connect"
    );
    if !idle {
        println!("{:<28} {dps:.0}", "deliveries/s");
        println!("{:<28} {mps:.0}", "broadcasts/s");
        if run.args.transport == "polling" && run.c.polls > 0 {
            println!(
                "{:<28} {} ({:.1} deliveries per poll)",
                "polls answered",
                run.c.polls,
                run.c.deliveries as f64 / run.c.polls as f64
            );
        }
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
    if let Some(r) = redis {
        let per = |v: u64| per_broadcast(v).map_or("-".into(), |x| format!("{x:.2}"));
        println!(
            "{:<28} {} PUBLISH, {} B in, {} B out",
            "redis per broadcast",
            per(r.publish_calls),
            per(r.net_input_bytes),
            per(r.net_output_bytes)
        );
    } else if run.args.redis_stats.is_some() {
        println!("{:<28} INFO failed", "redis per broadcast");
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

/// The CONNECT packet of each of `n` clients: `40`, or with `secret` one
/// HS256 token each (`sub`: the client's index, valid for an hour).
fn connect_packets(secret: Option<&str>, n: usize) -> io::Result<Vec<Vec<u8>>> {
    let Some(secret) = secret else {
        return Ok(vec![b"40".to_vec(); n]);
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| err(format!("--jwt-secret: {e}")))?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    (0..n)
        .map(|i| {
            let claims = serde_json::json!({"sub": format!("loadgen-{i}"), "exp": exp});
            let token = jsonwebtoken::encode(&header, &claims, &key)
                .map_err(|e| err(format!("minting a token: {e}")))?;
            Ok(format!("40{{\"token\":\"{token}\"}}").into_bytes())
        })
        .collect()
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
    fn tracks_free_a_slot_once_acked_and_received_by_all() {
        let mut t = Tracks::default();
        t.push(2); // seq 0
        t.push(2); // seq 1
        t.push(1); // seq 2
                   // Received by both before the ack: not done yet.
        assert!(!t.update(0, |t| t.remaining -= 1));
        assert!(!t.update(0, |t| t.remaining -= 1));
        assert!(t.update(0, |t| t.acked = true));
        assert_eq!((t.base, t.q.len()), (1, 2));
        // seq 2 done before seq 1: its slot is free, the front stays.
        assert!(!t.update(2, |t| t.acked = true));
        assert!(t.update(2, |t| t.remaining -= 1));
        assert_eq!((t.base, t.q.len()), (1, 2));
        // Done tracks are not counted twice; unknown sequences change nothing.
        assert!(!t.update(2, |t| t.remaining = 0));
        assert!(!t.update(0, |t| t.acked = true));
        assert!(!t.update(9, |t| t.acked = true));
        assert!(!t.update(1, |t| t.acked = true));
        assert!(t.update(1, |t| t.remaining = 0));
        assert_eq!((t.base, t.q.len()), (3, 0));
    }

    #[test]
    fn parses_redis_info() {
        let info = "# Commandstats\r\ncmdstat_info:calls=3,usec=90,usec_per_call=30.00\r\n\
            cmdstat_publish:calls=12345,usec=5000,usec_per_call=0.41,rejected_calls=0,failed_calls=0\r\n\
            # Stats\r\ntotal_connections_received:4\r\ntotal_net_input_bytes:987654\r\n\
            total_net_output_bytes:1975308\r\ntotal_net_repl_input_bytes:0\r\n";
        let c = RedisCounters::parse(info).expect("parses");
        assert_eq!(
            c,
            RedisCounters {
                publish_calls: 12345,
                net_input_bytes: 987_654,
                net_output_bytes: 1_975_308
            }
        );
        // No PUBLISH yet: 0 calls; no stats section: nothing.
        let none = RedisCounters::parse("total_net_input_bytes:1\r\ntotal_net_output_bytes:2\r\n");
        assert_eq!(none.map(|c| c.publish_calls), Some(0));
        assert_eq!(RedisCounters::parse("cmdstat_publish:calls=1\r\n"), None);
        let d = c.delta(RedisCounters {
            publish_calls: 45,
            net_input_bytes: 654,
            net_output_bytes: 308,
        });
        assert_eq!(
            (d.publish_calls, d.net_input_bytes, d.net_output_bytes),
            (12300, 987_000, 1_975_000)
        );
    }

    #[test]
    fn reads_bulk_replies() {
        let mut r = io::Cursor::new(b"$5\r\nhello\r\n$0\r\n\r\n-ERR x\r\n".to_vec());
        assert_eq!(read_bulk(&mut r).as_deref(), Some("hello"));
        assert_eq!(read_bulk(&mut r).as_deref(), Some(""));
        assert_eq!(read_bulk(&mut r), None);
    }

    #[test]
    fn parses_http_answers() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n2\x1e42[HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let (status, body, used) = parse_http_answer(two).unwrap().unwrap();
        assert_eq!((status, &two[body], used), (200, &b"2\x1e42["[..], 108));
        let (status, body, used) = parse_http_answer(&two[used..]).unwrap().unwrap();
        assert_eq!((status, &two[108..][body], used), (200, &b"ok"[..], 40));
        // Incomplete head or body: not yet.
        assert_eq!(parse_http_answer(&two[..50]), Ok(None));
        assert_eq!(parse_http_answer(&two[..106]), Ok(None));
        assert!(
            parse_http_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err()
        );
        assert!(parse_http_answer(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_http_answer(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn parses_delivery() {
        let m = br#"42["m",{"p":2,"r":7,"s":41,"t":123456,"x":"xx"}]"#;
        assert_eq!(parse_delivery(m), Some((2, 7, 41, 123_456)));
        assert_eq!(parse_delivery(b"42[\"other\",{}]"), None);
    }
}
