//! The connect webhook's callers: a few threads of their own (never a
//! worker) POSTing connects to `--connect-webhook` with `ureq`, at most
//! [`THREADS`] at a time and [`QUEUE`] waiting; beyond that a connect is
//! refused at once ("server busy") rather than queued without bound. Each
//! call's decision goes back through a callback (to the worker that owns
//! the socket, `session_events`).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::access::webhook::{decide, Decision, MAX_ANSWER_BYTES};

/// Webhook calls in flight at most.
pub(crate) const THREADS: usize = 16;
/// Connects waiting for a caller at most.
pub(crate) const QUEUE: usize = 4096;

type Reply = Box<dyn FnOnce(Decision) + Send>;

struct Job {
    body: Vec<u8>,
    reply: Reply,
}

/// See the module docs. Dropping it lets the threads finish what they hold
/// and exit.
pub(crate) struct WebhookPool {
    tx: Sender<Job>,
}

impl std::fmt::Debug for WebhookPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookPool").finish_non_exhaustive()
    }
}

impl WebhookPool {
    /// Starts the callers of `url` with `timeout` per call.
    pub(crate) fn start(url: &str, timeout: Duration) -> std::io::Result<WebhookPool> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(THREADS)
            .build()
            .into();
        let url: Arc<str> = url.into();
        for i in 0..THREADS {
            let (rx, agent, url) = (rx.clone(), agent.clone(), Arc::clone(&url));
            std::thread::Builder::new()
                .name(format!("roomcast-webhook-{i}"))
                .spawn(move || caller(&rx, &agent, &url))?;
        }
        Ok(WebhookPool { tx })
    }

    /// Queues a call with `body`; `reply` gets the decision (from a webhook
    /// thread).
    ///
    /// # Errors
    ///
    /// All callers busy and the queue full: the decision is "server busy",
    /// at once (and `reply` is dropped).
    pub(crate) fn call(
        &self,
        body: Vec<u8>,
        reply: impl FnOnce(Decision) + Send + 'static,
    ) -> Result<(), Decision> {
        let job = Job {
            body,
            reply: Box::new(reply),
        };
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Decision::failed(
                "webhook_busy",
                "server busy: too many connects waiting for the connect webhook",
            )),
        }
    }
}

fn caller(rx: &Receiver<Job>, agent: &ureq::Agent, url: &str) {
    while let Ok(job) = rx.recv() {
        let decision = post(agent, url, &job.body);
        (job.reply)(decision);
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Decision {
    let result = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body);
    let mut response = match result {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    let status = response.status().as_u16();
    match response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
    {
        Ok(bytes) => decide(status, &bytes),
        Err(e) => failure(&e),
    }
}

fn failure(e: &ureq::Error) -> Decision {
    match e {
        ureq::Error::Timeout(_) => {
            tracing::warn!("connect webhook timed out: connect refused");
            Decision::failed("webhook_timeout", "connect webhook timed out")
        }
        other => {
            tracing::warn!("connect webhook failed: {other}: connect refused");
            Decision::failed("webhook_error", "connect webhook unavailable")
        }
    }
}
