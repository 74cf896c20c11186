//! What keeps the server up under hostile or broken clients (issue #12):
//! a connection limit, header, request and body timeouts, a concurrency
//! limit, per-token rate limiting (429 with `Retry-After`), a panic caught
//! as a 500, request tracing without personal data, and every error body in
//! the contract's JSON shape, whoever produced it (axum's own rejections,
//! 405, a timeout).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::storage::Refusal;

/// The limits, from [`crate::ServerConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// A request (headers, body and handler) must be answered within it.
    pub request_timeout: Duration,
    /// Most requests handled at once.
    pub max_in_flight: usize,
}

/// Every error the server sends is the contract's JSON problem body
/// (`{"error": ..., "message": ...}`): the handlers' own already are; this
/// rewrites what axum and the layers produce as plain text or empty (a
/// rejected query or path, 405, 413 from the body limit), keeping the
/// status and headers (`Allow`, `Retry-After`).
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => default_message(status).to_string(),
        t => t.chars().take(300).collect(),
    };
    let body = serde_json::json!({ "error": error_code(status), "message": message });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The contract's error codes, by status.
pub(crate) fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "broken_chain",
        429 => "rate_limited",
        503 => "unavailable",
        _ if status.is_client_error() => "bad_request",
        _ => "internal",
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        405 => "this endpoint does not take that method (see the Allow header)",
        408 => "the request was not complete in time",
        413 => "the body is too large",
        _ => status.canonical_reason().unwrap_or("the request failed"),
    }
}

/// A request that takes longer than [`Limits::request_timeout`], headers
/// to answer (a body announced and never sent, a handler stuck), is
/// answered 408 and its connection closed.
pub(crate) async fn request_timeout(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = crate::refusal(Refusal::new(
                408,
                "timeout",
                format!(
                    "the request was not complete within {} s: send the whole body at once",
                    limits.request_timeout.as_secs()
                ),
            ));
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Token buckets, one per access token the server knows (unknown tokens
/// are refused with 401 before they cost anything, and get no bucket, so
/// the map is bounded by the configured tokens).
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket at `now`: `Ok` or the whole
    /// seconds to wait for the next one.
    pub(crate) fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Per-token rate limiting: 429 with `Retry-After` (whole seconds) when a
/// known token's bucket is empty. The client waits as told; nothing is lost.
pub(crate) async fn rate_limit(
    State(state): State<Arc<crate::AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = crate::bearer_token(request.headers());
    let known = token
        .filter(|t| state.tokens.contains_key(*t) || state.admin_tokens.iter().any(|a| a == t));
    if let Some(token) = known {
        if let Err(wait) = state.rate_limiter.take(token, Instant::now()) {
            let mut response = crate::refusal(Refusal::new(
                429,
                "rate_limited",
                format!("too many requests for this token: try again in {wait} s"),
            ));
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&wait.to_string()).expect("digits"),
            );
            return response;
        }
    }
    next.run(request).await
}

/// A request's span: the method and the route's template (never the path
/// itself, whose admin routes name a subject), no headers, no body.
pub(crate) fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    tracing::info_span!("request", method = %request.method(), route = %route)
}

/// A panic in a handler is a bug: answered 500 in the contract's shape,
/// and the server goes on.
pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    crate::refusal(Refusal::new(
        500,
        "internal",
        "the request failed inside the server; try again later",
    ))
    .into_response()
}

/// Accepts at most `permits` connections at a time: one over that is closed
/// at once (before TLS), so that slow or idle clients cannot take every
/// connection the process can hold.
/// A connection that neither sends nor receives a byte for `idle` (a client
/// that connects and says nothing, an idle keep-alive) is closed too.
#[derive(Clone)]
pub(crate) struct ConnectionLimit<A> {
    inner: A,
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl<A> ConnectionLimit<A> {
    pub(crate) fn new(inner: A, max_connections: usize, idle: Duration) -> Self {
        ConnectionLimit {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            idle,
        }
    }
}

impl<A, I, S> Accept<I, S> for ConnectionLimit<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        let idle = self.idle;
        Box::pin(async move {
            let permit = permit.map_err(|_| {
                tracing::warn!("connection refused: the connection limit is reached");
                io::Error::other("the connection limit is reached")
            })?;
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((
                Counted {
                    inner: stream,
                    _permit: permit,
                    idle,
                    deadline: Box::pin(tokio::time::sleep(idle)),
                },
                service,
            ))
        })
    }
}

/// A connection that holds its place under the limit until it closes, and
/// is closed when idle for too long.
pub(crate) struct Counted<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Counted<S> {
    /// Bytes moved: the idle clock starts again.
    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                self.touch();
                Poll::Ready(result)
            }
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the connection was idle too long",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if written.is_ready() {
            self.touch();
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_says_how_long_to_wait() {
        let limiter = RateLimiter::new(2, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("a", start), Ok(()));
        }
        assert_eq!(limiter.take("a", start), Err(1));
        // Another token has its own bucket.
        assert_eq!(limiter.take("b", start), Ok(()));
        // Half a second later (2/s): one more.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.take("a", later), Ok(()));
        assert_eq!(limiter.take("a", later), Err(1));
    }

    #[test]
    fn error_codes_follow_the_contract() {
        assert_eq!(
            error_code(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(error_code(StatusCode::PAYLOAD_TOO_LARGE), "too_large");
        assert_eq!(error_code(StatusCode::INTERNAL_SERVER_ERROR), "internal");
    }
}
