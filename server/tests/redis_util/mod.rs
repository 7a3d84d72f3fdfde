//! A real `redis-server` (the Debian package) for the cluster tests: started on
//! a free loopback port, without persistence, stopped by its own pid on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// Starts redis-server on a free port and waits until it answers.
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// Starts redis-server on `port` (e.g. again after [`kill`](Self::kill)).
    pub fn start_on(port: u16) -> Redis {
        let mut r = Redis { port, child: None };
        r.restart();
        r
    }

    /// (Re)starts the server on its port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if self
                .command(&["PING"])
                .is_some_and(|r| r.starts_with("+PONG"))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends one command; returns the raw reply (None if Redis is not there).
    pub fn command(&self, args: &[&str]) -> Option<String> {
        self.command_bytes(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
    }

    /// As [`command`](Self::command) with binary arguments.
    pub fn command_bytes(&self, args: &[&[u8]]) -> Option<String> {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        s.write_all(&out).ok()?;
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// `PUBLISH channel payload`; returns the number of receivers.
    pub fn publish(&self, channel: &str, payload: &[u8]) -> i64 {
        let r = self
            .command_bytes(&[b"PUBLISH", channel.as_bytes(), payload])
            .expect("redis answers");
        r.trim().trim_start_matches(':').parse().expect(&r)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
