//! Faults injected into uploads, controlled by a test: the failures the
//! client must survive without losing or duplicating an event. With an empty
//! plan (always, outside tests) the layer does nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and a JSON error) without storing anything.
    Status(u16),
    /// 429 with `Retry-After: secs`, storing nothing.
    TooManyRequests { retry_after_secs: u64 },
    /// Wait this long before handling (past the client's timeout).
    Delay(Duration),
    /// Store the batch, then break the connection instead of answering.
    DropAfterCommit,
    /// Store the batch, then send only half of the answer.
    TruncateBody,
    /// A bug: the handler panics before storing anything.
    Panic,
}

/// The faults the next uploads meet, in order; each is used once.
#[derive(Clone, Default)]
pub struct FaultPlan {
    queue: Arc<Mutex<VecDeque<Fault>>>,
    seen: Arc<Mutex<u64>>,
}

impl FaultPlan {
    pub fn push(&self, fault: Fault) {
        self.queue.lock().expect("fault plan").push_back(fault);
    }
    pub fn remaining(&self) -> usize {
        self.queue.lock().expect("fault plan").len()
    }
    /// Upload requests that reached the server.
    pub fn uploads_seen(&self) -> u64 {
        *self.seen.lock().expect("fault plan")
    }
}

fn broken_body(first_half: Option<Bytes>, announced: usize) -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = first_half
        .into_iter()
        .map(Ok)
        .chain(std::iter::once(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault",
        ))))
        .collect();
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(announced));
    response
}

pub async fn inject(State(plan): State<FaultPlan>, request: Request, next: Next) -> Response {
    let is_upload = request.method() == Method::POST && request.uri().path() == "/v1/events";
    if !is_upload {
        return next.run(request).await;
    }
    *plan.seen.lock().expect("fault plan") += 1;
    let fault = plan.queue.lock().expect("fault plan").pop_front();
    match fault {
        None => next.run(request).await,
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = serde_json::json!({ "error": "internal", "message": "injected fault" });
            (status, axum::Json(body)).into_response()
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let body = serde_json::json!({ "error": "rate_limited", "message": "slow down" });
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                axum::Json(body),
            )
                .into_response()
        }
        Some(Fault::Panic) => panic!("injected fault: a handler panics"),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::DropAfterCommit) => {
            let response = next.run(request).await;
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            broken_body(None, 1024)
        }
        Some(Fault::TruncateBody) => {
            let response = next.run(request).await;
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            broken_body(Some(half), bytes.len())
        }
    }
}
