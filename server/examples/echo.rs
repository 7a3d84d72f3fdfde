//! A plain WebSocket echo server on the `roomcast_server::protocol::ws` codec, for the
//! Autobahn|Testsuite fuzzingclient (`scripts/autobahn.sh`).
//!
//! ```text
//! cargo run --release -p roomcast-server --example echo -- --port 9001
//! ```
//!
//! One thread, one `mio::Poll`, edge-triggered: every readiness event runs
//! [`Conn::drive`], which writes queued output and reads until `WouldBlock`.
//! Each connection has an outbound buffer; when the kernel takes only part of it,
//! `WRITABLE` interest is added until it drains, and reading pauses while more than
//! [`HIGH_WATER`] bytes wait (a client that does not read cannot grow our memory
//! without bound). The HTTP upgrade uses `httparse` and [`ws::accept_key`]. Once
//! the WebSocket is done ([`WsSession::should_close_tcp`]) and the output is
//! written, writing is shut down and the input is drained until the peer closes
//! (or [`LINGER`] passes), so the peer reads our close frame rather than a reset.
//! Binds 127.0.0.1 only.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use roomcast::wire::{put_frame_header, OP_BINARY, OP_TEXT};
use roomcast_server::protocol::ws::{self, WsConfig, WsEvent, WsSession};

/// The listener's token; connections get 1, 2, ...
const LISTENER: Token = Token(0);
/// Autobahn 9.* sends messages of up to 16 MiB.
const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// The largest HTTP upgrade request head accepted.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Reading pauses while this many output bytes wait for the kernel.
const HIGH_WATER: usize = 8 << 20;
/// How long a closing connection may take to close its side.
const LINGER: Duration = Duration::from_secs(2);

/// Where a connection is.
enum Phase {
    /// Waiting for the complete HTTP upgrade request.
    Handshake,
    /// Upgraded: WebSocket frames flow.
    Open(WsSession),
    /// The upgrade was refused: close once the HTTP answer is written.
    Refused,
    /// Our side is shut down for writing; input is discarded until EOF.
    Lingering { since: Instant },
}

/// One client connection and its buffers.
struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// Bytes read and not yet consumed by the handshake parser or the session.
    input: BytesMut,
    /// Bytes to write; `WRITABLE` interest is on while non-empty after a flush.
    output: BytesMut,
    /// Whether the registration currently includes `WRITABLE`.
    wants_writable: bool,
}

/// What [`Conn::drive`] concluded.
enum Verdict {
    Keep,
    Drop,
}

impl Conn {
    /// Writes until done or `WouldBlock`.
    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.output.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.output.is_empty() {
            // Reclaim the buffer from the front.
            self.output.clear();
        }
        Ok(())
    }

    /// Runs the connection as far as it can go without blocking.
    fn drive(&mut self, registry: &mio::Registry, token: Token, scratch: &mut [u8]) -> Verdict {
        match self.drive_io(scratch) {
            Ok(Verdict::Keep) => {}
            Ok(Verdict::Drop) | Err(_) => return Verdict::Drop,
        }
        let wants_writable = !self.output.is_empty();
        if wants_writable != self.wants_writable {
            let interest = if wants_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut self.stream, token, interest)
                .is_err()
            {
                return Verdict::Drop;
            }
            self.wants_writable = wants_writable;
        }
        Verdict::Keep
    }

    fn drive_io(&mut self, scratch: &mut [u8]) -> io::Result<Verdict> {
        loop {
            self.flush()?;
            if let Phase::Lingering { .. } = self.phase {
                // Discard input until the peer closes its side.
                loop {
                    match self.stream.read(scratch) {
                        Ok(0) => return Ok(Verdict::Drop),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Verdict::Keep)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let done = match &self.phase {
                Phase::Open(session) => session.should_close_tcp(),
                Phase::Refused => true,
                Phase::Handshake | Phase::Lingering { .. } => false,
            };
            if done {
                if !self.output.is_empty() {
                    return Ok(Verdict::Keep); // wait for WRITABLE
                }
                self.stream.shutdown(Shutdown::Write)?;
                self.phase = Phase::Lingering {
                    since: Instant::now(),
                };
                continue;
            }
            if self.output.len() >= HIGH_WATER {
                // The flush hit WouldBlock: WRITABLE will wake us to read again.
                return Ok(Verdict::Keep);
            }
            match self.stream.read(scratch) {
                // The peer went away without (finishing) a close handshake.
                Ok(0) => return Ok(Verdict::Drop),
                Ok(n) => {
                    self.input.extend_from_slice(&scratch[..n]);
                    self.process_input();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Verdict::Keep),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Feeds the input to the handshake parser or the session.
    fn process_input(&mut self) {
        if let Phase::Handshake = self.phase {
            match upgrade(&self.input) {
                Upgrade::Partial if self.input.len() <= MAX_REQUEST_HEAD => return,
                Upgrade::Partial => self.refuse("431 Request Header Fields Too Large"),
                Upgrade::Refused(status) => self.refuse(status),
                Upgrade::Accepted { head_len, response } => {
                    self.output.extend_from_slice(response.as_bytes());
                    self.input.advance(head_len);
                    self.phase = Phase::Open(WsSession::new(WsConfig {
                        max_message_size: MAX_MESSAGE_SIZE,
                    }));
                }
            }
        }
        let Phase::Open(session) = &mut self.phase else {
            return;
        };
        while let Some(event) = session.poll_event(&mut self.input) {
            // Protocol frames first, so a pong precedes the echo of a message
            // whose fragments surrounded the ping.
            while let Some(frame) = session.poll_transmit() {
                self.output.extend_from_slice(&frame);
            }
            let (opcode, payload) = match &event {
                WsEvent::Text(text) => (OP_TEXT, text.as_bytes()),
                WsEvent::Binary(bin) => (OP_BINARY, &bin[..]),
                _ => continue,
            };
            put_frame_header(&mut self.output, opcode, payload.len());
            self.output.extend_from_slice(payload);
        }
        while let Some(frame) = session.poll_transmit() {
            self.output.extend_from_slice(&frame);
        }
    }

    /// Answers a bad upgrade request with `status` and closes after writing it.
    fn refuse(&mut self, status: &str) {
        self.output.extend_from_slice(
            format!(
                "HTTP/1.1 {status}\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        );
        self.input.clear();
        self.phase = Phase::Refused;
    }
}

/// The outcome of parsing the upgrade request.
enum Upgrade {
    Partial,
    Refused(&'static str),
    Accepted { head_len: usize, response: String },
}

/// Parses the HTTP upgrade request at the start of `input` (RFC 6455 §4.2.1).
fn upgrade(input: &[u8]) -> Upgrade {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Upgrade::Partial,
        Err(_) => return Upgrade::Refused("400 Bad Request"),
    };
    if req.method != Some("GET") {
        return Upgrade::Refused("405 Method Not Allowed");
    }
    let path = req.path.unwrap_or("");
    if path != "/" && !path.starts_with("/?") {
        return Upgrade::Refused("404 Not Found");
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("Upgrade", "websocket") || !has_token("Connection", "upgrade") {
        return Upgrade::Refused("400 Bad Request");
    }
    if header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        return Upgrade::Refused("426 Upgrade Required");
    }
    let Some(key) = header("Sec-WebSocket-Key") else {
        return Upgrade::Refused("400 Bad Request");
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        ws::accept_key(key)
    );
    Upgrade::Accepted { head_len, response }
}

fn parse_port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 9001;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|e| format!("bad port {value:?}: {e}"))?;
            }
            "--help" | "-h" => return Err("usage: echo [--port N]   (default 9001)".into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: echo [--port N]"
                ))
            }
        }
    }
    Ok(port)
}

fn main() -> io::Result<()> {
    let port = match parse_port() {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("echo: listening on ws://{}/", listener.local_addr()?);

    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = 1usize;
    let mut scratch = vec![0u8; 256 * 1024];
    loop {
        match poll.poll(&mut events, Some(Duration::from_millis(500))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let token = Token(next_token);
                            next_token += 1;
                            stream.set_nodelay(true)?;
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE)?;
                            let mut conn = Conn {
                                stream,
                                phase: Phase::Handshake,
                                input: BytesMut::new(),
                                output: BytesMut::new(),
                                wants_writable: false,
                            };
                            // Data may already be there (edge-triggered).
                            if let Verdict::Keep = conn.drive(poll.registry(), token, &mut scratch)
                            {
                                conns.insert(token, conn);
                            } else {
                                let _ = poll.registry().deregister(&mut conn.stream);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("echo: accept failed: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let token = event.token();
            // Spurious wake-ups are fine: drive stops at WouldBlock.
            let verdict = match conns.get_mut(&token) {
                Some(conn) => conn.drive(poll.registry(), token, &mut scratch),
                None => continue,
            };
            if let Verdict::Drop = verdict {
                if let Some(mut conn) = conns.remove(&token) {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
        // Reap lingering connections whose peer never closed.
        let now = Instant::now();
        let expired: Vec<Token> = conns
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Lingering { since } if now - since > LINGER))
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            if let Some(mut conn) = conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
