//! A Lambda Runtime API for tests: the endpoints a function calls
//! (`GET /2018-06-01/runtime/invocation/next`, `POST
//! .../invocation/{id}/response`, `POST .../invocation/{id}/error`, `POST
//! /2018-06-01/runtime/init/error`), over plain HTTP/1.1 with keep-alive, as
//! Lambda serves them. Unlike cargo-lambda's emulator, each invocation gets
//! the real `Lambda-Runtime-Deadline-Ms` the test asks for, and the server
//! records when each call arrived.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How the function answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `POST .../response`.
    Response,
    /// `POST .../error`.
    Error,
    /// `POST /runtime/init/error`.
    InitError,
}

/// One answer, with the time it arrived.
#[derive(Clone, Debug)]
pub struct Answer {
    pub kind: Kind,
    /// The `Lambda-Runtime-Function-Error-Type` header, if any.
    pub error_type_header: Option<String>,
    pub body: Value,
    pub at: SystemTime,
}

struct Pending {
    request_id: String,
    deadline_ms: u64,
    payload: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    answers: HashMap<String, Answer>,
    init_error: Option<Answer>,
    next_calls: Vec<Instant>,
    invocations: u64,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The server; its threads live until the test process ends.
pub struct RuntimeApi {
    port: u16,
    shared: Shared,
}

pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

impl RuntimeApi {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared: Shared = Arc::default();
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = accept.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { port, shared }
    }

    /// `AWS_LAMBDA_RUNTIME_API` as Lambda sets it: host:port.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues an invocation; returns its request id.
    pub fn invoke(&self, payload: &Value, deadline: SystemTime) -> String {
        let (lock, cvar) = &*self.shared;
        let mut state = lock.lock().expect("lock");
        state.invocations += 1;
        let request_id = format!("req-{}", state.invocations);
        state.queue.push_back(Pending {
            request_id: request_id.clone(),
            deadline_ms: epoch_ms(deadline),
            payload: payload.to_string(),
        });
        cvar.notify_all();
        request_id
    }

    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut found: impl FnMut(&State) -> Option<T>,
    ) -> T {
        let (lock, cvar) = &*self.shared;
        let until = Instant::now() + timeout;
        let mut state = lock.lock().expect("lock");
        loop {
            if let Some(t) = found(&state) {
                return t;
            }
            let left = until
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no {what} within {timeout:?}"));
            state = cvar.wait_timeout(state, left).expect("lock").0;
        }
    }

    /// The answer to an invocation.
    pub fn answer(&self, request_id: &str, timeout: Duration) -> Answer {
        self.wait(timeout, "answer", |s| s.answers.get(request_id).cloned())
    }

    /// When the function's `n`th `GET .../next` (from 1) arrived.
    pub fn next_call(&self, n: usize, timeout: Duration) -> Instant {
        self.wait(timeout, "GET /next", |s| s.next_calls.get(n - 1).copied())
    }

    /// The init error the function reported.
    pub fn init_error(&self, timeout: Duration) -> Answer {
        self.wait(timeout, "init error", |s| s.init_error.clone())
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length") {
        body.resize(n.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(out: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> bool {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    out.write_all(&bytes).and_then(|()| out.flush()).is_ok()
}

fn serve(stream: TcpStream, shared: &Shared) {
    let mut out = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    let (lock, cvar) = &**shared;
    while let Some(req) = read_request(&mut reader) {
        const BASE: &str = "/2018-06-01/runtime";
        let rest = req.path.strip_prefix(BASE).unwrap_or("");
        let accepted = br#"{"status":"OK"}"#;
        let ok = match (req.method.as_str(), rest) {
            ("GET", "/invocation/next") => {
                let mut state = lock.lock().expect("lock");
                state.next_calls.push(Instant::now());
                cvar.notify_all();
                while state.queue.is_empty() {
                    state = cvar.wait(state).expect("lock");
                }
                let next = state.queue.pop_front().expect("not empty");
                drop(state);
                respond(
                    &mut out,
                    "200 OK",
                    &[
                        ("Content-Type", "application/json".into()),
                        ("Lambda-Runtime-Aws-Request-Id", next.request_id),
                        ("Lambda-Runtime-Deadline-Ms", next.deadline_ms.to_string()),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:eu-west-1:123456789012:function:loader-test".into(),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
                        ),
                    ],
                    next.payload.as_bytes(),
                )
            }
            ("POST", path) => {
                let answer = |kind| Answer {
                    kind,
                    error_type_header: req
                        .headers
                        .get("lambda-runtime-function-error-type")
                        .cloned(),
                    body: serde_json::from_slice(&req.body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&req.body).into_owned())
                    }),
                    at: SystemTime::now(),
                };
                let mut state = lock.lock().expect("lock");
                if path == "/init/error" {
                    state.init_error = Some(answer(Kind::InitError));
                } else if let Some(id) = path
                    .strip_prefix("/invocation/")
                    .and_then(|p| p.strip_suffix("/response"))
                {
                    state.answers.insert(id.to_string(), answer(Kind::Response));
                } else if let Some(id) = path
                    .strip_prefix("/invocation/")
                    .and_then(|p| p.strip_suffix("/error"))
                {
                    state.answers.insert(id.to_string(), answer(Kind::Error));
                } else {
                    drop(state);
                    respond(&mut out, "404 Not Found", &[], b"");
                    continue;
                }
                cvar.notify_all();
                drop(state);
                respond(&mut out, "202 Accepted", &[], accepted)
            }
            _ => respond(&mut out, "404 Not Found", &[], b""),
        };
        if !ok {
            return;
        }
    }
}
