//! The client side of the wire, written from the protocol notes and nothing of
//! roomcast's: TCP, HTTP/1.1 exchanges, WebSocket frames (masked as a client must,
//! or deliberately malformed), Engine.IO/Socket.IO packets and virtual requests.
//!
//! Everything blocks with a deadline: a read never waits past the deadline it is
//! given, so no attack can hang the tool.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The largest server frame the tool accepts (a guard against a broken length).
const MAX_SERVER_FRAME: usize = 64 << 20;

/// A fixed mask: the server must unmask whatever the key is.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// The `Sec-WebSocket-Accept` for the key in [`UPGRADE_HEADERS`] (RFC 6455 §1.3).
pub const UPGRADE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Opens a TCP connection (blocking, Nagle off).
pub fn tcp(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    Ok(s)
}

/// Closes `s` with a TCP reset (SO_LINGER 0) instead of a FIN.
pub fn reset(s: TcpStream) {
    let sock = socket2::Socket::from(s);
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

/// Appends a frame: `first` is the whole first byte (FIN, RSV bits, opcode); the
/// payload is masked with `mask` when given.
pub fn put_frame(out: &mut Vec<u8>, first: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(first);
    put_len(out, payload.len() as u64, mask.is_some());
    if let Some(m) = mask {
        out.extend_from_slice(&m);
        let start = out.len();
        out.extend_from_slice(payload);
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= m[i & 3];
        }
    } else {
        out.extend_from_slice(payload);
    }
}

/// The length field of a frame header (7-bit, 16-bit or 64-bit form).
pub fn put_len(out: &mut Vec<u8>, n: u64, masked: bool) {
    let m = if masked { 0x80 } else { 0 };
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A complete masked frame with FIN set.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 14);
    put_frame(&mut v, 0x80 | opcode, payload, Some(MASK));
    v
}

/// A close frame's payload: the code and a reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A frame the server sent.
#[derive(Debug, Clone)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn is_data(&self) -> bool {
        matches!(self.opcode, OP_TEXT | OP_BINARY | OP_CONT)
    }

    pub fn text(&self) -> Option<&str> {
        if self.opcode == OP_TEXT {
            std::str::from_utf8(&self.payload).ok()
        } else {
            None
        }
    }

    /// The close code (1005 "no status" for an empty close payload).
    pub fn close_code(&self) -> u16 {
        match self.payload.get(..2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => 1005,
        }
    }

    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }
}

/// Parses one server frame from the front of `buf`: `Ok(None)` if incomplete.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut off) = match buf[1] & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (
                u64::from_be_bytes(b.try_into().map_err(|_| "length".to_string())?),
                10,
            ),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_SERVER_FRAME as u64 {
        return Err(format!("server frame of {len} bytes"));
    }
    let mut mask = [0u8; 4];
    if masked {
        match buf.get(off..off + 4) {
            Some(m) => mask.copy_from_slice(m),
            None => return Ok(None),
        }
        off += 4;
    }
    let end = off + len as usize;
    let Some(p) = buf.get(off..end) else {
        return Ok(None);
    };
    let mut payload = p.to_vec();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
    }
    Ok(Some((
        Frame {
            fin: buf[0] & 0x80 != 0,
            rsv: (buf[0] >> 4) & 0x7,
            opcode: buf[0] & 0x0F,
            masked,
            payload,
        },
        end,
    )))
}

/// What waiting for the next frame gave.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    /// The server closed the TCP connection (FIN).
    Eof,
    /// The TCP connection was reset or failed.
    Error(String),
    Timeout,
}

/// How a connection ended, read to its end (see [`Conn::read_until_closed`]).
#[derive(Debug, Default, Clone)]
pub struct Ending {
    /// The server's close frame: code and reason.
    pub close: Option<(u16, String)>,
    /// Text messages seen before the close frame (pings excluded).
    pub texts: Vec<String>,
    /// Data frames that came after the close frame (RFC 6455 §5.5.1 forbids them).
    pub data_after_close: usize,
    /// `eof`, `reset: …` or `timeout`.
    pub end: String,
    /// When the close frame (or else the end) was seen.
    pub at: Option<Instant>,
}

impl Ending {
    pub fn code(&self) -> Option<u16> {
        self.close.as_ref().map(|c| c.0)
    }

    pub fn describe(&self) -> String {
        let close = match &self.close {
            Some((c, r)) => format!("close {c} {r:?}"),
            None => "no close frame".to_string(),
        };
        let mut s = format!("{close}, then {}", self.end);
        if self.data_after_close > 0 {
            s.push_str(&format!(
                ", {} data frame(s) after the close",
                self.data_after_close
            ));
        }
        s
    }
}

/// A WebSocket client connection (after the upgrade).
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// The Engine.IO version spoken (3 or 4): who pings whom.
    pub eio: u8,
    /// The Socket.IO id (`40{"sid":…}`, or the engine sid for v3).
    pub sid: String,
    /// Text messages read while waiting for something else.
    pub backlog: Vec<String>,
    /// Answer Engine.IO v4 pings (`2`) with `3` while reading.
    pub auto_pong: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, leftover: Vec<u8>, eio: u8) -> Conn {
        Conn {
            stream,
            buf: leftover,
            scratch: vec![0; 64 * 1024],
            eio,
            sid: String::new(),
            backlog: Vec::new(),
            auto_pong: true,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    pub fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        self.send_raw(&frame(opcode, payload))
    }

    pub fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.send_frame(OP_TEXT, text.as_bytes())
    }

    /// The next frame, answering WebSocket pings (and, with `auto_pong`, v4
    /// Engine.IO pings) on the way only when asked through [`Conn::next_text`].
    pub fn next_frame(&mut self, deadline: Instant) -> Next {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((f, used))) => {
                    self.buf.drain(..used);
                    // RFC 6455 §5.1-5.2: a server never masks, and no extension
                    // was negotiated that would give the RSV bits a meaning.
                    if f.masked || f.rsv != 0 {
                        return Next::Error(format!(
                            "server frame breaks RFC 6455 (masked {}, RSV {:#05b})",
                            f.masked, f.rsv
                        ));
                    }
                    if !f.fin && f.opcode >= OP_CLOSE {
                        return Next::Error("fragmented control frame from the server".into());
                    }
                    return Next::Frame(f);
                }
                Ok(None) => {}
                Err(e) => return Next::Error(e),
            }
            let wait = left(deadline);
            if wait.is_zero() {
                return Next::Timeout;
            }
            let _ = self
                .stream
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
            match self.stream.read(&mut self.scratch) {
                Ok(0) => return Next::Eof,
                Ok(n) => self.buf.extend_from_slice(&self.scratch[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Next::Timeout;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Error(e.to_string()),
            }
        }
    }

    /// The next text message, answering pings; a close frame, binary frame, EOF or
    /// timeout is an error naming it.
    pub fn next_text(&mut self, deadline: Instant) -> Result<String, String> {
        if !self.backlog.is_empty() {
            return Ok(self.backlog.remove(0));
        }
        loop {
            match self.next_frame(deadline) {
                Next::Frame(f) => match f.opcode {
                    OP_TEXT => {
                        let t = String::from_utf8(f.payload)
                            .map_err(|_| "server sent invalid UTF-8 text".to_string())?;
                        if self.auto_pong && self.eio == 4 && t == "2" {
                            self.send_text("3")?;
                            continue;
                        }
                        return Ok(t);
                    }
                    OP_PING => self.send_frame(OP_PONG, &f.payload)?,
                    OP_PONG => {}
                    OP_CLOSE => {
                        return Err(format!(
                            "closed by the server: {} {:?}",
                            f.close_code(),
                            f.close_reason()
                        ))
                    }
                    op => return Err(format!("unexpected frame opcode {op}")),
                },
                Next::Eof => return Err("connection closed (EOF)".into()),
                Next::Error(e) => return Err(format!("connection failed: {e}")),
                Next::Timeout => return Err("timed out waiting for a message".into()),
            }
        }
    }

    /// Reads until the server ends the connection or `deadline`: records its close
    /// frame, echoes it (as a client does), counts data frames after it.
    pub fn read_until_closed(&mut self, deadline: Instant, echo_close: bool) -> Ending {
        let mut e = Ending::default();
        for t in self.backlog.drain(..) {
            e.texts.push(t);
        }
        loop {
            match self.next_frame(deadline) {
                Next::Frame(f) => {
                    if e.close.is_some() {
                        if f.is_data() {
                            e.data_after_close += 1;
                        }
                        continue;
                    }
                    match f.opcode {
                        OP_CLOSE => {
                            e.close = Some((f.close_code(), f.close_reason()));
                            e.at = Some(Instant::now());
                            if echo_close {
                                let _ =
                                    self.send_frame(OP_CLOSE, &f.payload[..f.payload.len().min(2)]);
                            }
                        }
                        OP_TEXT => {
                            let t = String::from_utf8_lossy(&f.payload).into_owned();
                            if self.auto_pong && self.eio == 4 && t == "2" {
                                let _ = self.send_text("3");
                            } else if e.texts.len() < 100_000 {
                                e.texts.push(t);
                            }
                        }
                        OP_PING => {
                            let _ = self.send_frame(OP_PONG, &f.payload);
                        }
                        _ => {}
                    }
                }
                Next::Eof => {
                    e.end = "eof".into();
                    break;
                }
                Next::Error(err) => {
                    e.end = format!("reset ({err})");
                    break;
                }
                Next::Timeout => {
                    e.end = "timeout".into();
                    break;
                }
            }
        }
        e.at.get_or_insert_with(Instant::now);
        e
    }

    /// Sends a virtual request with ack id `id` and waits for its ack.
    pub fn request(
        &mut self,
        id: u64,
        method: &str,
        url: &str,
        data: Value,
        deadline: Instant,
    ) -> Result<Ack, String> {
        self.send_text(&request_packet(id, method, url, data))?;
        self.wait_ack(id, deadline)
    }

    /// Reads until the ack `43<id>[…]`; other texts go to the backlog.
    pub fn wait_ack(&mut self, id: u64, deadline: Instant) -> Result<Ack, String> {
        let prefix = format!("43{id}[");
        let mut before = Vec::new();
        for (i, t) in self.backlog.iter().enumerate() {
            if t.starts_with(&prefix) {
                let t = self.backlog.remove(i);
                return parse_ack(&t, id);
            }
        }
        let saved = std::mem::take(&mut self.backlog);
        let r = loop {
            match self.next_text(deadline) {
                Ok(t) if t.starts_with(&prefix) => break parse_ack(&t, id),
                Ok(t) => {
                    if before.len() < 100_000 {
                        before.push(t);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.backlog = saved;
        self.backlog.extend(before);
        r
    }

    /// Proves the connection is alive and in sync: a `GET /sockets/id` round trip.
    pub fn alive(&mut self, id: u64) -> Result<(), String> {
        let ack = self.request(
            id,
            "get",
            "/sockets/id",
            Value::Null,
            Instant::now() + Duration::from_secs(5),
        )?;
        if ack.status == 200 {
            Ok(())
        } else {
            Err(format!("GET /sockets/id answered {}", ack.status))
        }
    }
}

/// The shard (= worker) and slot a socket id names: its 24 characters are the
/// URL-safe base64 of 18 bytes, node u32, shard u8, slot u24, generation u16,
/// token u64 (docs/SPEC.md, "Socket ids"). `None` if `id` is not that.
pub fn id_parts(id: &str) -> Option<(u16, u32)> {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    (b.len() == 18).then(|| (u16::from(b[4]), u32::from_be_bytes([0, b[5], b[6], b[7]])))
}

/// `42<id>["<method>",{"method","url","data","headers"}]`.
pub fn request_packet(id: u64, method: &str, url: &str, data: Value) -> String {
    let req = json!([method, {"method": method, "url": url, "data": data, "headers": {}}]);
    format!("42{id}{req}")
}

/// A virtual request's answer: `43<id>[{"body","headers","statusCode"}]`.
#[derive(Debug, Clone)]
pub struct Ack {
    pub status: u64,
    pub body: Value,
    pub raw: String,
}

impl Ack {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    pub fn brief(&self) -> String {
        let mut s = self.raw.clone();
        if s.len() > 200 {
            let mut end = 200;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push('…');
        }
        s
    }
}

pub fn parse_ack(text: &str, id: u64) -> Result<Ack, String> {
    let json = text
        .strip_prefix(&format!("43{id}"))
        .ok_or_else(|| format!("not the ack {id}: {text}"))?;
    let v: Value = serde_json::from_str(json).map_err(|e| format!("ack not JSON ({e}): {text}"))?;
    let obj = &v[0];
    Ok(Ack {
        status: obj["statusCode"].as_u64().unwrap_or(0),
        body: obj["body"].clone(),
        raw: text.to_string(),
    })
}

/// An HTTP response read off the wire.
#[derive(Debug, Clone, Default)]
pub struct HttpResp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn brief(&self) -> String {
        let line = self.head.lines().next().unwrap_or("");
        let b = self.body_str();
        let b: String = b.chars().take(120).collect();
        format!("{line} {b}")
    }
}

/// Reads one HTTP response from `s` (`buf` holds bytes already read and keeps
/// what follows the response). `Err("closed without a response")` if the
/// connection ends before a status line.
pub fn read_http_response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<HttpResp, String> {
    let mut scratch = [0u8; 16 * 1024];
    let mut eof = false;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let mut r = HttpResp {
                status,
                head,
                body: Vec::new(),
            };
            let body_start = end + 4;
            if status == 101 {
                buf.drain(..body_start);
                return Ok(r);
            }
            let cl: Option<usize> = r.header("content-length").and_then(|v| v.parse().ok());
            loop {
                let have = buf.len() - body_start;
                match cl {
                    Some(n) if have >= n => {
                        r.body = buf[body_start..body_start + n].to_vec();
                        buf.drain(..body_start + n);
                        return Ok(r);
                    }
                    _ if eof => {
                        r.body = buf[body_start..].to_vec();
                        buf.clear();
                        return Ok(r);
                    }
                    _ => {}
                }
                match read_some(s, &mut scratch, deadline) {
                    Ok(0) => eof = true,
                    Ok(n) => buf.extend_from_slice(&scratch[..n]),
                    Err(e) => {
                        if cl.is_none() {
                            eof = true;
                        } else {
                            return Err(format!("response body incomplete: {e}"));
                        }
                    }
                }
            }
        }
        if eof {
            return if buf.is_empty() {
                Err("closed without a response".into())
            } else {
                Err(format!(
                    "closed after a partial response: {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(80)])
                ))
            };
        }
        match read_some(s, &mut scratch, deadline) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e) => {
                if buf.is_empty() {
                    return Err(e);
                }
                eof = true;
            }
        }
    }
}

/// One read with the deadline as timeout: `Ok(0)` at EOF, `Err` on timeout or error.
pub fn read_some(
    s: &mut TcpStream,
    scratch: &mut [u8],
    deadline: Instant,
) -> Result<usize, String> {
    loop {
        let wait = left(deadline);
        if wait.is_zero() {
            return Err("timeout".into());
        }
        let _ = s.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match s.read(scratch) {
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reset ({e})")),
        }
    }
}

/// Writes `raw` on a fresh connection and reads one response.
pub fn http_exchange(addr: SocketAddr, raw: &[u8], timeout: Duration) -> Result<HttpResp, String> {
    let deadline = Instant::now() + timeout;
    let mut s = tcp(addr, timeout)?;
    // A server may answer and close before reading everything: ignore write errors.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    read_http_response(&mut s, &mut buf, deadline)
}

/// `GET target` with `Connection: close`.
pub fn http_get(addr: SocketAddr, target: &str, timeout: Duration) -> Result<HttpResp, String> {
    http_exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        timeout,
    )
}

/// One admin API call: status and JSON body.
pub fn admin(
    addr: SocketAddr,
    token: &str,
    method: &str,
    target: &str,
    body: &str,
) -> Result<(u16, Value), String> {
    let r = http_exchange(
        addr,
        admin_request(token, method, target, body, true).as_bytes(),
        Duration::from_secs(30),
    )?;
    Ok((r.status, r.json()))
}

pub fn admin_request(token: &str, method: &str, target: &str, body: &str, close: bool) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\n{}Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        if close { "Connection: close\r\n" } else { "" },
        body.len()
    )
}

/// A complete, valid EIO4 upgrade request.
pub fn upgrade_bytes() -> Vec<u8> {
    format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n"
    )
    .into_bytes()
}

/// Writes an upgrade request for `query` (e.g. `EIO=4&transport=websocket`) and
/// reads the response head; on a 101 returns the connection.
pub fn ws_open(addr: SocketAddr, query: &str, eio: u8, deadline: Instant) -> Result<Conn, String> {
    let mut s = tcp(addr, left(deadline).max(Duration::from_millis(50)))?;
    let req = format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: x\r\n{UPGRADE_HEADERS}\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let r = read_http_response(&mut s, &mut buf, deadline)?;
    if r.status != 101 {
        return Err(format!("upgrade refused: {}", r.brief()));
    }
    Ok(Conn::new(s, buf, eio))
}

/// A Socket.IO v5 client (EIO4 over WebSocket) connected to `/`.
pub fn sio_connect(addr: SocketAddr, deadline: Instant) -> Result<Conn, String> {
    let mut c = ws_open(addr, "EIO=4&transport=websocket", 4, deadline)?;
    let open = c.next_text(deadline)?;
    if !open.starts_with("0{") {
        return Err(format!("expected the open packet, got {open:?}"));
    }
    c.send_text("40")?;
    let ok = c.next_text(deadline)?;
    let v: Value = ok
        .strip_prefix("40")
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| format!("expected 40{{sid}}, got {ok:?}"))?;
    c.sid = v["sid"].as_str().unwrap_or_default().to_string();
    Ok(c)
}

/// A Socket.IO v4 client (EIO3): the server sends `40` after the open packet.
pub fn sio_connect_v3(addr: SocketAddr, deadline: Instant) -> Result<Conn, String> {
    let mut c = ws_open(addr, "EIO=3&transport=websocket", 3, deadline)?;
    let open = c.next_text(deadline)?;
    let v: Value = open
        .strip_prefix('0')
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| format!("expected the open packet, got {open:?}"))?;
    c.sid = v["sid"].as_str().unwrap_or_default().to_string();
    let ok = c.next_text(deadline)?;
    if ok != "40" {
        return Err(format!("expected 40, got {ok:?}"));
    }
    Ok(c)
}

/// Connects and joins `room`.
pub fn sio_join(addr: SocketAddr, room: &str, deadline: Instant) -> Result<Conn, String> {
    let mut c = sio_connect(addr, deadline)?;
    let ack = c.request(
        1,
        "post",
        "/sockets/join",
        json!({ "room": room }),
        deadline,
    )?;
    if ack.status != 200 {
        return Err(format!("join refused: {}", ack.brief()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_roundtrip_and_lengths() {
        for n in [0usize, 5, 125, 126, 65_535, 65_536, 200_000] {
            let payload = vec![7u8; n];
            let mut out = Vec::new();
            put_frame(&mut out, 0x81, &payload, Some(MASK));
            let (f, used) = parse_frame(&out).unwrap().unwrap();
            assert_eq!(used, out.len());
            assert!(f.fin && f.masked && f.opcode == OP_TEXT);
            assert_eq!(f.payload, payload);
            assert!(parse_frame(&out[..out.len() - 1]).unwrap().is_none());
        }
        let close = [0x88u8, 0x04, 0x03, 0xE9, b'o', b'k'];
        let (f, _) = parse_frame(&close).unwrap().unwrap();
        assert_eq!((f.close_code(), f.close_reason().as_str()), (1001, "ok"));
        let (f, _) = parse_frame(&[0x88, 0x00]).unwrap().unwrap();
        assert_eq!(f.close_code(), 1005);
    }

    #[test]
    fn socket_id_parts() {
        // node 9, shard 1, slot 42, generation 7, token 0x1234_5678_9abc_def0.
        let mut b = vec![0u8, 0, 0, 9, 1, 0, 0, 42, 0, 7];
        b.extend_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
        use base64::Engine as _;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
        assert_eq!(id.len(), 24);
        assert_eq!(id_parts(&id), Some((1, 42)));
        assert_eq!(id_parts("not-a-socket-id"), None);
    }

    #[test]
    fn parses_acks() {
        let a = parse_ack(
            r#"437[{"body":{"ok":true},"headers":{},"statusCode":200}]"#,
            7,
        )
        .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body["ok"], true);
        assert!(parse_ack("437[", 7).is_err());
        assert!(parse_ack("438[]", 7).is_err());
    }
}
