//! Raw requests through a kube::Client, for what its typed API does not
//! show: response headers, media types, bodies it would refuse to send.

use http_body_util::BodyExt;
use serde_json::Value;

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Every `Warning` header, in order, as sent.
    pub warnings: Vec<String>,
    pub content_type: String,
    pub body: Value,
}

/// Sends `method path` with a body of `content_type` (none when empty) and
/// an `Accept` header (none when empty); the answer must be JSON.
pub async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: &str,
) -> Answer {
    let mut req = http::Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    if !accept.is_empty() {
        req = req.header("accept", accept);
    }
    let req = req
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let warnings = header("warning");
    let content_type = header("content-type").join(",");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: {status} answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        status,
        warnings,
        content_type,
        body,
    }
}

/// Sends `method path` with a JSON body.
pub async fn send_json(client: &kube::Client, method: &str, path: &str, body: &str) -> Answer {
    send(client, method, path, "application/json", "", body).await
}

/// Sends `method path` without a body, accepting `accept` (anything when
/// empty).
pub async fn bodiless(client: &kube::Client, method: &str, path: &str, accept: &str) -> Answer {
    send(client, method, path, "", accept, "").await
}

/// A `Warning` header as kube-apiserver writes one: code 299, no agent,
/// and the text as a quoted string.
pub fn warning(text: &str) -> String {
    format!(
        "299 - \"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    )
}
