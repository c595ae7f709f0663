//! Just enough HTTP/1.1 for one port that serves WebSocket upgrades, health, metrics
//! and the dashboard: read a request head (bounded in size and time), answer simply.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Default)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// A header's value (first occurrence, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Does a comma-separated header contain `token` (case-insensitive)?
    pub fn header_has(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// A query parameter, percent-decoded (the relay core's parser).
    pub fn query_param(&self, name: &str) -> Option<String> {
        ibws_shared::relay::admission::query_param(&self.query, name)
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET" && self.header_has("connection", "upgrade") && self.header_has("upgrade", "websocket")
    }
}

/// Why a request head could not be read.
#[derive(Debug)]
#[allow(dead_code)] // the io::Error is read through Debug in logs
pub enum HeadError {
    Io(std::io::Error),
    TooLarge,
    Malformed,
    Timeout,
    Closed,
}

/// Parses a request head from the bytes received so far: `Ok(None)` while it is
/// incomplete (and still under [`MAX_HEAD`]). Pure, so it is fuzzed on its own.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    Ok(parse_head_len(buf)?.map(|(head, _)| head))
}

/// [`parse_head`], with the length of the head (the body, if any, starts there).
pub fn parse_head_len(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            Ok(Some((
                RequestHead {
                    method: req.method.unwrap_or("").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                },
                len,
            )))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Ok(None),
        Ok(httparse::Status::Partial) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// Reads one request head, and returns with it the bytes read after it (the start of a
/// body; a WebSocket client sends nothing more before our answer).
pub async fn read_head<S: AsyncRead + Unpin>(
    s: &mut S,
    timeout: Duration,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let fut = async {
        loop {
            let n = s.read(&mut chunk).await.map_err(HeadError::Io)?;
            if n == 0 {
                return Err(HeadError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some((head, len)) = parse_head_len(&buf)? {
                return Ok((head, buf.split_off(len)));
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| HeadError::Timeout)?
}

/// The status line text for the statuses a refusal uses.
pub fn status_line(status: u16) -> &'static str {
    match status {
        403 => "403 Forbidden",
        404 => "404 Not Found",
        426 => "426 Upgrade Required",
        _ => "400 Bad Request",
    }
}

/// Writes a complete response and closes the exchange.
pub async fn respond<S: AsyncWrite + Unpin>(
    s: &mut S,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    s.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query() {
        let h = RequestHead { query: "client_id=my%20client&x=1".into(), ..Default::default() };
        assert_eq!(h.query_param("client_id").as_deref(), Some("my client"));
        let bad = RequestHead { query: "x=%zz%4&y=a+b".into(), ..Default::default() };
        assert_eq!(bad.query_param("x").as_deref(), Some("%zz%4"));
        assert_eq!(bad.query_param("y").as_deref(), Some("a b"));
    }
}
