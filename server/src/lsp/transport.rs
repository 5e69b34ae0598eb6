//! A guard in front of the JSON-RPC reader. tower-lsp-server stops reading for good after a
//! message it cannot decode, so malformed input would silently kill the server. Every frame is
//! checked here first: well-formed messages pass through unchanged; a malformed one is replaced
//! by a message the server answers with a clear error (an `invalid request` response when it
//! carried an id, a log message otherwise), and reading goes on.

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Larger messages are skipped (a whole Kubernetes file is far smaller).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Method of the replacement notification for malformed input without an id.
pub const MALFORMED_NOTIFICATION: &str = "usher/malformedMessage";
/// Method of the replacement request for malformed input with an id.
pub const MALFORMED_REQUEST: &str = "usher/malformedRequest";

/// Why a frame's body is not a JSON-RPC message, and the id it carried if any.
pub fn check_message(body: &[u8]) -> Result<(), (String, Option<Json>)> {
    let value: Json =
        serde_json::from_slice(body).map_err(|e| (format!("invalid JSON: {e}"), None))?;
    let Json::Object(map) = &value else {
        return Err(("a JSON-RPC message must be a JSON object".into(), None));
    };
    let id = map
        .get("id")
        .cloned()
        .filter(|i| i.is_string() || i.is_number());
    if map.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return Err((
            "missing or wrong `jsonrpc` member (must be \"2.0\")".into(),
            id,
        ));
    }
    match map.get("method") {
        Some(Json::String(_)) => {
            if let Some(p) = map.get("params")
                && !(p.is_object() || p.is_array() || p.is_null())
            {
                return Err(("`params` must be an object or an array".into(), id));
            }
            if let Some(raw) = map.get("id")
                && !(raw.is_string() || raw.is_number() || raw.is_null())
            {
                return Err(("`id` must be a number or a string".into(), None));
            }
            Ok(())
        }
        Some(_) => Err(("`method` must be a string".into(), id)),
        None if map.contains_key("id")
            && (map.contains_key("result") || map.contains_key("error")) =>
        {
            Ok(())
        }
        None => Err((
            "neither a request, a notification nor a response".into(),
            id,
        )),
    }
}

fn replacement(reason: String, id: Option<Json>) -> Vec<u8> {
    let msg = match id {
        Some(id) => {
            json!({"jsonrpc": "2.0", "id": id, "method": MALFORMED_REQUEST, "params": {"reason": reason}})
        }
        None => {
            json!({"jsonrpc": "2.0", "method": MALFORMED_NOTIFICATION, "params": {"reason": reason}})
        }
    };
    frame(&serde_json::to_vec(&msg).unwrap_or_default())
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Copies framed messages from `input` to `output`, replacing malformed ones.
pub async fn guard<R, W>(input: R, mut output: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        // Headers.
        let mut length: Option<Result<usize, String>> = None;
        let mut saw_header = false;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                if saw_header {
                    break;
                }
                continue;
            }
            saw_header = true;
            if let Some((name, value)) = text.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| format!("invalid Content-Length `{}`", value.trim())),
                    );
                }
            } else if length.is_none() {
                // Not a header at all: garbage between messages.
                let reason = format!(
                    "expected a `Content-Length` header, found `{}`",
                    truncate(text, 60)
                );
                if output.write_all(&replacement(reason, None)).await.is_err() {
                    return;
                }
                saw_header = false;
            }
        }
        let len = match length {
            Some(Ok(n)) => n,
            Some(Err(reason)) => {
                if output.write_all(&replacement(reason, None)).await.is_err() {
                    return;
                }
                continue;
            }
            None => {
                let reason = "message without a Content-Length header".to_string();
                if output.write_all(&replacement(reason, None)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if len > MAX_MESSAGE_BYTES {
            // Skip the body without holding it.
            let mut left = len as u64;
            let mut sink = tokio::io::sink();
            let mut take = (&mut reader).take(left);
            match tokio::io::copy(&mut take, &mut sink).await {
                Ok(n) => left -= n,
                Err(_) => return,
            }
            if left > 0 {
                return;
            }
            let reason = format!(
                "message of {len} bytes is larger than the limit of {MAX_MESSAGE_BYTES}; skipped"
            );
            if output.write_all(&replacement(reason, None)).await.is_err() {
                return;
            }
            continue;
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let out = match check_message(&body) {
            Ok(()) => frame(&body),
            Err((reason, id)) => replacement(reason, id),
        };
        if output.write_all(&out).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked() {
        assert!(check_message(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#).is_ok());
        assert!(check_message(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).is_ok());
        let (reason, id) = check_message(b"{bad").unwrap_err();
        assert!(reason.starts_with("invalid JSON"), "{reason}");
        assert_eq!(id, None);
        let (_, id) = check_message(br#"{"id":7,"method":"x"}"#).unwrap_err();
        assert_eq!(id, Some(json!(7)));
        assert!(check_message(br#"[1,2]"#).is_err());
        assert!(check_message(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#).is_err());
    }

    #[tokio::test]
    async fn garbage_is_replaced_and_reading_goes_on() {
        let good = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let mut input = Vec::new();
        input.extend_from_slice(b"hello\r\n");
        input.extend_from_slice(&frame(b"{bad}"));
        input.extend_from_slice(&frame(good));
        let mut out = Vec::new();
        guard(&input[..], &mut out).await;
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches(MALFORMED_NOTIFICATION).count(), 2, "{text}");
        assert!(text.ends_with(std::str::from_utf8(good).unwrap()), "{text}");
    }
}
