//! A minimal HTTP/1.1 client for load generation: it costs far less than
//! the servers it measures.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Sends one keep-alive `GET path` on `conn` and reads the answer; returns
/// the status line's code and the `Set-Cookie` value, if any. A minimal
/// HTTP/1.1 client, so that the load generator costs far less than the
/// servers it measures.
pub async fn request(
    conn: &mut BufReader<TcpStream>,
    path: &str,
    cookie: Option<&str>,
    buf: &mut Vec<u8>,
) -> (u16, Option<String>) {
    buf.clear();
    buf.extend_from_slice(b"GET ");
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(b" HTTP/1.1\r\nHost: bench\r\n");
    if let Some(c) = cookie {
        buf.extend_from_slice(b"Cookie: ");
        buf.extend_from_slice(c.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    conn.get_mut().write_all(buf).await.unwrap();
    let mut status = 0;
    let mut length = 0usize;
    let mut set_cookie = None;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().unwrap();
        } else if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            } else if name.eq_ignore_ascii_case("set-cookie") {
                set_cookie = value.trim().split(';').next().map(str::to_owned);
            }
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.unwrap();
    (status, set_cookie)
}
