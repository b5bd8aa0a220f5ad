//! Framing of the TWS socket protocol (server side).
//!
//! The client opens with `API\0` followed by one length-prefixed ASCII frame
//! `v<min>..<max>`. The server answers with one length-prefixed frame
//! `<version>\0<YYYYMMDD HH:MM:SS TZ>\0`. Every later frame in both directions
//! is `[u32 BE length][i32 BE message id + 200][protobuf body]`.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::proto::{MAX_FRAME_LEN, PROTOBUF_ID_OFFSET};
use crate::FakeError;

/// Reads one length-prefixed frame body.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, FakeError> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FakeError::Protocol(format!(
            "frame of {len} bytes is over the 16 MiB cap"
        )));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(body)
}

/// Reads the client's opening: `API\0` then `v<min>..<max>`. Returns `(min, max)`.
pub async fn read_client_hello<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<(i32, i32), FakeError> {
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).await?;
    if &magic != b"API\0" {
        return Err(FakeError::Protocol("missing API\\0 prefix".into()));
    }
    let body = read_frame(reader).await?;
    let text = String::from_utf8_lossy(&body);
    parse_version_range(&text)
        .ok_or_else(|| FakeError::Protocol(format!("bad version range {text:?}")))
}

/// Parses `v213..226` (also a single `v213`).
pub fn parse_version_range(text: &str) -> Option<(i32, i32)> {
    let rest = text.trim_end_matches('\0').strip_prefix('v')?;
    match rest.split_once("..") {
        Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
        None => {
            let v = rest.parse().ok()?;
            Some((v, v))
        }
    }
}

/// The server's handshake reply, length-prefixed.
pub fn server_hello(version: i32, time_text: &str) -> Vec<u8> {
    let body = format!("{version}\0{time_text}\0");
    length_prefixed(body.as_bytes())
}

/// `[u32 BE len][body]`.
pub fn length_prefixed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A complete outbound frame for protobuf message `id` (before the offset).
pub fn encode_message<M: prost::Message>(id: i32, message: &M) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + message.encoded_len());
    body.extend_from_slice(&(id + PROTOBUF_ID_OFFSET).to_be_bytes());
    message.encode_raw(&mut body);
    length_prefixed(&body)
}

/// Splits a frame body into `(message id without offset, payload)`. Text
/// (non-protobuf) frames are reported with `protobuf = false`.
pub fn split_body(body: &[u8]) -> Option<(i32, bool, &[u8])> {
    let (head, payload) = body.split_first_chunk::<4>()?;
    let raw = i32::from_be_bytes(*head);
    if raw > PROTOBUF_ID_OFFSET {
        Some((raw - PROTOBUF_ID_OFFSET, true, payload))
    } else {
        Some((raw, false, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_range_parses() {
        assert_eq!(parse_version_range("v213..226"), Some((213, 226)));
        assert_eq!(parse_version_range("v100"), Some((100, 100)));
        assert_eq!(parse_version_range("213..226"), None);
        assert_eq!(parse_version_range("vX..1"), None);
    }

    #[test]
    fn message_frame_round_trips() {
        let msg = crate::proto::NextValidId { order_id: Some(7) };
        let frame = encode_message(crate::proto::incoming::NEXT_VALID_ID, &msg);
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        let (id, proto, payload) = split_body(&frame[4..]).unwrap();
        assert_eq!(id, crate::proto::incoming::NEXT_VALID_ID);
        assert!(proto);
        let back: crate::proto::NextValidId = prost::Message::decode(payload).unwrap();
        assert_eq!(back.order_id, Some(7));
    }
}
