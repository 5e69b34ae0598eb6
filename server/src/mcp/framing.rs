//! Line framing in front of the MCP service: every line on standard input is checked to be a
//! JSON-RPC message before the SDK sees it. What is not (not JSON, binary, a batch, a request
//! whose `params` is not an object, a line beyond the size limit) is answered with the JSON-RPC
//! error the specification names (-32700 parse error, -32600 invalid request, -32602 invalid
//! params; with the request's id when it has one) and noted on stderr; the server goes on.

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Longest accepted line (a 1 MiB manifest escaped in JSON fits many times over).
pub const MAX_LINE: usize = 64 << 20;

/// Why a line is not passed on, as the JSON-RPC error to answer with.
fn problem(line: &[u8]) -> Option<Json> {
    let err = |id: Json, code: i64, message: String| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let value: Json = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            let what = if std::str::from_utf8(line).is_err() {
                "not UTF-8 text".to_string()
            } else {
                e.to_string()
            };
            return Some(err(Json::Null, -32700, format!("Parse error: {what}")));
        }
    };
    let Json::Object(m) = &value else {
        let what = if value.is_array() {
            "batches are not supported by MCP; send one message per line"
        } else {
            "a message is a JSON object"
        };
        return Some(err(Json::Null, -32600, format!("Invalid Request: {what}")));
    };
    let id = m.get("id").cloned();
    let id_ok = id
        .as_ref()
        .is_none_or(|i| i.is_string() || i.is_i64() || i.is_u64());
    let reply_id = id.clone().filter(|_| id_ok).unwrap_or(Json::Null);
    if m.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return Some(err(
            reply_id,
            -32600,
            "Invalid Request: `jsonrpc` must be \"2.0\"".into(),
        ));
    }
    if !id_ok {
        return Some(err(
            Json::Null,
            -32600,
            "Invalid Request: `id` must be a string or an integer".into(),
        ));
    }
    match m.get("method") {
        Some(Json::String(_)) => {
            if m.get("params").is_some_and(|p| !p.is_object()) {
                return Some(err(
                    reply_id,
                    -32602,
                    "Invalid params: `params` must be an object".into(),
                ));
            }
            None
        }
        Some(_) => Some(err(
            reply_id,
            -32600,
            "Invalid Request: `method` must be a string".into(),
        )),
        // A response to one of the server's requests.
        None if id.is_some() && (m.contains_key("result") || m.contains_key("error")) => None,
        None => Some(err(
            reply_id,
            -32600,
            "Invalid Request: no `method`, and not a response".into(),
        )),
    }
}

/// Copies `input` to `to_service` line by line, answering malformed lines on `replies`.
pub async fn filter_input<R, W>(input: R, mut to_service: W, replies: mpsc::Sender<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = match read_line_limited(&mut reader, &mut line).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("usher mcp: cannot read standard input: {e}");
                break;
            }
        };
        if n == 0 {
            break;
        }
        number += 1;
        let too_long = line.len() > MAX_LINE;
        let body = trim(&line);
        if body.is_empty() {
            continue;
        }
        let answer = if too_long {
            Some(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600,
                "message": format!("Invalid Request: message longer than {} MiB", MAX_LINE >> 20)}}),
            )
        } else {
            problem(body)
        };
        match answer {
            Some(reply) => {
                eprintln!(
                    "usher mcp: message {number} on standard input is not valid JSON-RPC ({}); answered with an error",
                    reply["error"]["message"].as_str().unwrap_or("")
                );
                let mut bytes = reply.to_string().into_bytes();
                bytes.push(b'\n');
                if replies.send(bytes).await.is_err() {
                    break;
                }
            }
            None => {
                let ok = async {
                    to_service.write_all(body).await?;
                    to_service.write_all(b"\n").await?;
                    to_service.flush().await
                }
                .await;
                if ok.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_service.shutdown().await;
}

/// Reads one line (up to and including `\n`); beyond [`MAX_LINE`] bytes the rest of the line
/// is read and dropped, and `line` is left one byte longer than the limit to say so.
async fn read_line_limited<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let len = chunk.len();
        if line.len() <= MAX_LINE {
            let room = MAX_LINE + 1 - line.len();
            line.extend_from_slice(&chunk[..len.min(room)]);
        }
        reader.consume(len);
        total += len;
        if done {
            return Ok(total);
        }
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Copies the service's output lines and the error replies to `out`, one whole line at a time.
pub async fn write_output<R, W>(from_service: R, mut replies: mpsc::Receiver<Vec<u8>>, mut out: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = BufReader::new(from_service);
    let mut buf = Vec::new();
    let mut service_open = true;
    loop {
        tokio::select! {
            n = lines.read_until(b'\n', &mut buf), if service_open => {
                match n {
                    Ok(0) | Err(_) => service_open = false,
                    Ok(_) => {
                        if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
                            return;
                        }
                        buf.clear();
                    }
                }
            }
            reply = replies.recv() => {
                match reply {
                    Some(bytes) => {
                        if out.write_all(&bytes).await.is_err() || out.flush().await.is_err() {
                            return;
                        }
                    }
                    None if !service_open => return,
                    None => {
                        // No more replies; drain the service.
                        while let Ok(n) = lines.read_until(b'\n', &mut buf).await {
                            if n == 0 || out.write_all(&buf).await.is_err() {
                                break;
                            }
                            buf.clear();
                            let _ = out.flush().await;
                        }
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> Option<(i64, Json)> {
        problem(line.as_bytes()).map(|r| (r["error"]["code"].as_i64().unwrap(), r["id"].clone()))
    }

    #[test]
    fn malformed_lines_get_the_errors_the_specification_names() {
        assert_eq!(code("not json"), Some((-32700, Json::Null)));
        assert_eq!(code("[1,2]"), Some((-32600, Json::Null)));
        assert_eq!(code("42"), Some((-32600, Json::Null)));
        assert_eq!(code(r#"{"id":5}"#), Some((-32600, json!(5))));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":[1]}"#),
            Some((-32602, json!("a")))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":{"x":1},"method":"x"}"#),
            Some((-32600, Json::Null))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            Some((-32600, json!(1)))
        );
        assert!(
            problem(b"\xff\xfe").unwrap()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("UTF-8")
        );
        // Passed on: requests, notifications, responses.
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            None
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), None);
    }

    #[tokio::test]
    async fn good_lines_pass_bad_ones_are_answered_and_long_ones_cut() {
        let mut input = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\nnope\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\n{\"jsonrpc\":\"2.0\",\"method\":\"n\"}");
        let (tx, mut rx) = mpsc::channel(8);
        let mut passed = Vec::new();
        filter_input(&input[..], &mut passed, tx).await;
        assert_eq!(
            String::from_utf8(passed).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n"
        );
        let first: Json = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(first["error"]["code"], -32700);
        let second: Json = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert!(
            second["error"]["message"]
                .as_str()
                .unwrap()
                .contains("longer than")
        );
        assert!(rx.recv().await.is_none());
    }
}
