//! `rawfanout`: the floor for roomcast's fanout.
//!
//! Accepts the same WebSocket connections as roomcast, speaks just enough
//! Engine.IO/Socket.IO to look like a server to `loadgen` (open packet,
//! `40{"sid":…}`, acks for `POST /sockets/join` and `POST /sockets/broadcast`)
//! and, for each broadcast, builds the server frame `42["m",<data>]` once and
//! writes it to each member socket with one `write` per socket. No heartbeat,
//! no queues beyond a per-socket leftover when the kernel buffer is full.
//!
//! With `--coalesce` it instead appends each frame to the socket's output
//! buffer and writes every socket that got something once per event-loop
//! iteration (what roomcast's per-tick palette does), optionally capped at
//! `--max-frames-per-write K` frames per write: the floor *at a given number
//! of frames per write*.
//!
//! `GET /metrics` answers `roomcast_deliveries_total` (frames queued to
//! sockets) and `roomcast_writes_total` (write calls) with roomcast's names,
//! so `loadgen --metrics-url` reports frames per write for both.
//!
//! ```text
//! rawfanout --port 1338 [--coalesce [--max-frames-per-write K]]
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use base64::Engine as _;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sha1::{Digest, Sha1};

const LISTENER: Token = Token(usize::MAX);

#[derive(Debug)]
struct Client {
    stream: TcpStream,
    upgraded: bool,
    eio3: bool,
    rbuf: Vec<u8>,
    /// Bytes the kernel did not take yet.
    pending: Vec<u8>,
    /// `--coalesce`: frames of this loop iteration, written at its end.
    out: Vec<u8>,
    out_frames: usize,
    dirty: bool,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        Client {
            stream,
            upgraded: false,
            eio3: false,
            rbuf: Vec::new(),
            pending: Vec::new(),
            out: Vec::new(),
            out_frames: 0,
            dirty: false,
        }
    }
}

/// Appends an unmasked server text frame.
fn server_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x81);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Parses one masked client frame: `(opcode, unmasked payload, bytes used)`.
fn client_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut off) = match buf[1] & 0x7F {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = if masked {
        let m = buf.get(off..off + 4)?.try_into().ok()?;
        off += 4;
        m
    } else {
        [0; 4]
    };
    let data = buf.get(off..off + len)?;
    let payload = data
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i & 3])
        .collect();
    Some((opcode, payload, off + len))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[derive(Debug, Default)]
struct Server {
    clients: HashMap<usize, Client>,
    rooms: HashMap<String, Vec<usize>>,
    next_sid: u64,
    /// Frames queued to sockets (`roomcast_deliveries_total`).
    frames: u64,
    /// Write calls (`roomcast_writes_total`).
    writes: u64,
    coalesce: bool,
    /// `--max-frames-per-write` (0: no cap).
    max_batch: usize,
    /// Sockets with coalesced output waiting for the end of the iteration.
    dirty: Vec<usize>,
}

/// One write of `bytes` (after any leftover): leftovers kept for later.
fn write_now(c: &mut Client, writes: &mut u64, bytes: &[u8]) {
    if !c.pending.is_empty() {
        c.pending.extend_from_slice(bytes);
        return;
    }
    *writes += 1;
    match c.stream.write(bytes) {
        Ok(n) if n == bytes.len() => {}
        Ok(n) => c.pending.extend_from_slice(&bytes[n..]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.pending.extend_from_slice(bytes),
        Err(_) => {}
    }
}

impl Server {
    /// Sends one frame (or handshake bytes) to client `id`: written at once, or
    /// with `--coalesce` at the end of this loop iteration.
    fn send(&mut self, id: usize, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        self.frames += 1;
        if !self.coalesce {
            write_now(c, &mut self.writes, bytes);
            return;
        }
        c.out.extend_from_slice(bytes);
        c.out_frames += 1;
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
        if self.max_batch > 0 && c.out_frames >= self.max_batch {
            Self::write_out(c, &mut self.writes);
        }
    }

    fn write_out(c: &mut Client, writes: &mut u64) {
        if !c.out.is_empty() {
            let out = std::mem::take(&mut c.out);
            write_now(c, writes, &out);
            c.out = out;
            c.out.clear();
        }
        c.out_frames = 0;
    }

    /// End of a loop iteration: one write per socket that got frames.
    fn flush_dirty(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.clients.get_mut(&id) {
                c.dirty = false;
                Self::write_out(c, &mut self.writes);
            }
        }
    }

    fn flush_pending(&mut self, id: usize) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        while !c.pending.is_empty() {
            self.writes += 1;
            match c.stream.write(&c.pending) {
                Ok(0) => break,
                Ok(n) => {
                    c.pending.drain(..n);
                }
                Err(_) => break,
            }
        }
    }

    fn on_readable(&mut self, id: usize, scratch: &mut [u8]) {
        loop {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            match c.stream.read(scratch) {
                Ok(0) => {
                    self.drop_client(id);
                    return;
                }
                Ok(n) => c.rbuf.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_client(id);
                    return;
                }
            }
        }
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let mut buf = std::mem::take(&mut c.rbuf);
        let mut off = 0;
        if !c.upgraded {
            let Some(end) = find(&buf, b"\r\n\r\n") else {
                c.rbuf = buf;
                return;
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            if head.starts_with("GET /metrics") {
                let body = format!(
                    "roomcast_deliveries_total {}\nroomcast_writes_total {}\n",
                    self.frames, self.writes
                );
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.stream.write_all(reply.as_bytes());
                self.drop_client(id);
                return;
            }
            let key = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default();
            let mut sha = Sha1::new();
            sha.update(key.as_bytes());
            sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
            c.upgraded = true;
            c.eio3 = head.contains("EIO=3");
            off = end + 4;
            let mut out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .into_bytes();
            self.next_sid += 1;
            let open = format!(
                "0{{\"sid\":\"raw{:017}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}",
                self.next_sid
            );
            server_frame(&mut out, open.as_bytes());
            if c.eio3 {
                server_frame(&mut out, b"40");
            }
            self.send(id, &out);
        }
        while let Some((opcode, payload, used)) = client_frame(&buf[off..]) {
            off += used;
            match opcode {
                8 => {
                    self.drop_client(id);
                    return;
                }
                1 => self.on_message(id, &payload),
                _ => {}
            }
        }
        buf.drain(..off);
        if let Some(c) = self.clients.get_mut(&id) {
            c.rbuf = buf;
        }
    }

    fn on_message(&mut self, id: usize, msg: &[u8]) {
        let eio3 = self.clients.get(&id).is_some_and(|c| c.eio3);
        if msg == b"40" {
            let mut out = Vec::new();
            server_frame(&mut out, format!("40{{\"sid\":\"s{id}\"}}").as_bytes());
            self.send(id, &out);
            return;
        }
        if msg == b"2" && eio3 {
            let mut out = Vec::new();
            server_frame(&mut out, b"3");
            self.send(id, &out);
            return;
        }
        if !msg.starts_with(b"42") {
            return;
        }
        let digits = msg[2..].iter().take_while(|b| b.is_ascii_digit()).count();
        let ack = &msg[2..2 + digits];
        let Ok(serde_json::Value::Array(v)) =
            serde_json::from_slice::<serde_json::Value>(&msg[2 + digits..])
        else {
            return;
        };
        let Some(req) = v.get(1) else { return };
        let url = req.get("url").and_then(|u| u.as_str()).unwrap_or("");
        let data = req.get("data").cloned().unwrap_or_default();
        match url {
            "/sockets/join" => {
                if let Some(room) = data.get("room").and_then(|r| r.as_str()) {
                    self.rooms.entry(room.to_string()).or_default().push(id);
                }
            }
            "/sockets/broadcast" => {
                let event = data
                    .get("event")
                    .and_then(|e| e.as_str())
                    .unwrap_or("message");
                let body = data.get("data").cloned().unwrap_or_default();
                let mut frame = Vec::new();
                server_frame(
                    &mut frame,
                    format!("42[{},{}]", serde_json::Value::from(event), body).as_bytes(),
                );
                let rooms: Vec<String> = match data.get("rooms") {
                    Some(serde_json::Value::String(s)) => vec![s.clone()],
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                for room in rooms {
                    let members = self.rooms.get(&room).cloned().unwrap_or_default();
                    for m in members {
                        self.send(m, &frame);
                    }
                }
            }
            _ => {}
        }
        if !ack.is_empty() {
            let mut out = Vec::new();
            let reply = format!(
                "43{}[{{\"body\":{{\"ok\":true}},\"headers\":{{}},\"statusCode\":200}}]",
                String::from_utf8_lossy(ack)
            );
            server_frame(&mut out, reply.as_bytes());
            self.send(id, &out);
        }
    }

    fn drop_client(&mut self, id: usize) {
        self.clients.remove(&id);
        for members in self.rooms.values_mut() {
            members.retain(|&m| m != id);
        }
    }
}

fn main() -> io::Result<()> {
    let mut port = 1338u16;
    let mut server = Server::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(port),
            "--coalesce" => server.coalesce = true,
            "--max-frames-per-write" => {
                server.max_batch = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            }
            _ => {
                eprintln!("usage: rawfanout [--port N] [--coalesce [--max-frames-per-write K]]");
                std::process::exit(2);
            }
        }
    }
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // The same accept backlog as roomcast's default (mio's bind asks for 1024).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    let mut listener = TcpListener::from_std(socket.into());
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("rawfanout listening on {addr}");
    let mut events = Events::with_capacity(4096);
    let mut scratch = vec![0u8; 1 << 16];
    let mut next_id = 0usize;
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let id = next_id;
                            next_id += 1;
                            poll.registry().register(
                                &mut stream,
                                Token(id),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            server.clients.insert(id, Client::new(stream));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let id = ev.token().0;
            if ev.is_writable() {
                server.flush_pending(id);
            }
            if ev.is_readable() || ev.is_read_closed() {
                server.on_readable(id, &mut scratch);
            }
        }
        server.flush_dirty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frame_unmasks() {
        let mask = [9, 8, 7, 6];
        let mut f = vec![0x81, 0x82];
        f.extend_from_slice(&mask);
        f.extend(b"40".iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        assert_eq!(client_frame(&f), Some((1, b"40".to_vec(), 8)));
        assert_eq!(client_frame(&f[..5]), None);
    }
}
