//! The backend's API, sans I/O: the requests the app sends (built here,
//! performed by an [`HttpTransport`](super::http::HttpTransport)) and what
//! an answer to a policy or restore request means. Uploads are judged by the
//! [`engine`](super::engine).

use reqwest::Url;
use serde::de::DeserializeOwned;

use super::http::{HttpFailure, HttpRequest, HttpResponse, Method};
use super::wire::ApiError;
use super::SyncError;

/// The backend at one base URL.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: Url,
}

impl Api {
    /// `https://...`, or `http://` to loopback (development).
    pub(crate) fn new(base_url: &str) -> Result<Self, SyncError> {
        Ok(Api {
            base: super::http::check_url(base_url)?,
        })
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("API paths are relative URLs")
    }

    fn auth(token: &str) -> (String, String) {
        ("authorization".into(), format!("Bearer {token}"))
    }

    /// `POST /v1/events`: a batch (the JSON of an `UploadBatch`).
    pub(crate) fn upload(&self, token: &str, body: Vec<u8>) -> HttpRequest {
        HttpRequest {
            method: Method::Post,
            url: self.url("v1/events").to_string(),
            headers: vec![
                Self::auth(token),
                ("content-type".into(), "application/json".into()),
            ],
            body,
        }
    }

    /// `GET /v1/policies/{id}?locale=`, conditional on the ETag we hold.
    pub(crate) fn policy(
        &self,
        token: &str,
        policy_id: &str,
        locale: &str,
        etag: Option<&str>,
    ) -> HttpRequest {
        let mut url = self.url(&format!("v1/policies/{policy_id}"));
        url.query_pairs_mut().append_pair("locale", locale);
        let mut headers = vec![Self::auth(token)];
        if let Some(etag) = etag {
            headers.push(("if-none-match".into(), etag.to_string()));
        }
        HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// `POST /v1/reports`: a compromise report (the JSON of a
    /// `ReportUpload`), ahead of the ledger's upload.
    pub(crate) fn report(&self, token: &str, body: Vec<u8>) -> HttpRequest {
        HttpRequest {
            method: Method::Post,
            url: self.url("v1/reports").to_string(),
            headers: vec![
                Self::auth(token),
                ("content-type".into(), "application/json".into()),
            ],
            body,
        }
    }

    /// `GET /v1/access`: whether access is blocked, and unblock decisions.
    pub(crate) fn access(&self, token: &str) -> HttpRequest {
        self.get(token, "v1/access")
    }

    /// `GET /v1/statements`: receipts of delivered statements.
    pub(crate) fn statement_receipts(&self, token: &str) -> HttpRequest {
        self.get(token, "v1/statements")
    }

    fn get(&self, token: &str, path: &str) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: self.url(path).to_string(),
            headers: vec![Self::auth(token)],
            body: Vec::new(),
        }
    }

    /// `GET /v1/events`: the subject's events and receipts (restore).
    /// `GET /v1/events`, one page of at most `limit` events after the
    /// cursor `after` (a server without paging answers everything at once).
    pub(crate) fn events(&self, token: &str, limit: usize, after: Option<&str>) -> HttpRequest {
        let mut url = self.url("v1/events");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &limit.to_string());
            if let Some(after) = after {
                query.append_pair("after", after);
            }
        }
        HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            headers: vec![Self::auth(token)],
            body: Vec::new(),
        }
    }
}

/// What an answer to a policy or restore request means.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// 2xx with the body the API promises, and the ETag if any.
    Done(T, Option<String>),
    /// 304: the copy we have is current.
    NotModified,
    /// 5xx, 408, 429, a timeout, a reset, a truncated or unreadable body:
    /// try again later (these requests are not retried within a call, so
    /// `Retry-After` is not read).
    Retry { reason: String },
    /// 401: the token was refused.
    Unauthorized,
    /// Any other 4xx: this request can never succeed as it is.
    Rejected { status: u16, error: ApiError },
    /// TLS failed (wrong certificate, pin mismatch): nothing was sent.
    Insecure(String),
}

/// Reads an answer as `T`.
pub(crate) fn read<T: DeserializeOwned>(answer: Result<HttpResponse, HttpFailure>) -> Outcome<T> {
    let response = match answer {
        Ok(response) => response,
        Err(HttpFailure::Insecure(why)) => return Outcome::Insecure(why),
        Err(HttpFailure::Network(reason)) => return Outcome::Retry { reason },
    };
    let status = response.status;
    match status {
        200..=299 => match serde_json::from_slice(&response.body) {
            Ok(value) => Outcome::Done(value, response.header("etag").map(str::to_string)),
            Err(e) => Outcome::Retry {
                reason: format!("the server's answer is not what the API promises: {e}"),
            },
        },
        304 => Outcome::NotModified,
        401 => Outcome::Unauthorized,
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("the server answered {status}"),
        },
        code => Outcome::Rejected {
            status: code,
            error: serde_json::from_slice::<ApiError>(&response.body).unwrap_or_else(|_| {
                ApiError {
                    error: "bad_request".into(),
                    message: format!("the server answered {status}"),
                    event_id: None,
                    seq: None,
                }
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::wire::EventsPage;

    fn answer(
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<HttpResponse, HttpFailure> {
        HttpResponse::canned(status, headers, body.as_bytes())
    }

    #[test]
    fn requests_carry_the_token_and_the_etag() {
        let api = Api::new("https://consent.example/base/").unwrap();
        let r = api.policy("t0k", "altyncoin-privacy", "ru", Some("\"v2\""));
        assert_eq!(
            r.url,
            "https://consent.example/base/v1/policies/altyncoin-privacy?locale=ru"
        );
        assert!(r
            .headers
            .contains(&("authorization".into(), "Bearer t0k".into())));
        assert!(r
            .headers
            .contains(&("if-none-match".into(), "\"v2\"".into())));
        assert_eq!(api.upload("t", b"{}".to_vec()).method, Method::Post);
        assert!(Api::new("http://consent.example/").is_err());
    }

    #[test]
    fn answers_are_read_by_status_class() {
        let page = r#"{"events":[],"receipts":[]}"#;
        assert!(
            matches!(read::<EventsPage>(answer(200, &[("ETag", "x")], page)), Outcome::Done(_, Some(e)) if e == "x")
        );
        assert!(matches!(
            read::<EventsPage>(answer(200, &[], &page[..10])),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            read::<EventsPage>(answer(304, &[], "")),
            Outcome::NotModified
        ));
        assert!(matches!(
            read::<EventsPage>(answer(401, &[], "")),
            Outcome::Unauthorized
        ));
        assert!(matches!(
            read::<EventsPage>(answer(503, &[("retry-after", "4")], "")),
            Outcome::Retry { reason } if reason.contains("503")
        ));
        assert!(matches!(
            read::<EventsPage>(answer(403, &[], "nope")),
            Outcome::Rejected { status: 403, .. }
        ));
        assert!(matches!(
            read::<EventsPage>(Err(HttpFailure::Insecure("pin".into()))),
            Outcome::Insecure(_)
        ));
    }
}
