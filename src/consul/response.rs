//! What a response from Consul's address may be, and what the client makes of it: the body is
//! read up to a bound (a misbehaving server cannot make the operator hold gigabytes), an error
//! body is kept as Consul's plain text but shortened (it goes into conditions and Events, which
//! the API server bounds), an HTML page from a proxy in front of Consul is named by its title,
//! and a 200 that is not JSON says what it was.

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;

use super::error::ConsulError;

/// The largest body read: far above a list of thousands of peerings.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The most of an error body an error keeps, in bytes (Consul's own are far shorter).
pub const MAX_ERROR_BYTES: usize = 512;

/// Reads the body of `response`; `None` when it is larger than [`MAX_BODY_BYTES`] (the rest is
/// not read).
pub async fn read_bounded(
    mut response: reqwest::Response,
) -> Result<Option<Bytes>, reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// The error of a response larger than [`MAX_BODY_BYTES`].
pub fn too_large(path: &str, status: u16) -> ConsulError {
    ConsulError::Decode(format!(
        "the response from {path} (status {status}) is larger than {} MiB; it was not read",
        MAX_BODY_BYTES / (1024 * 1024)
    ))
}

/// The text an error keeps of a body answered with an error status.
pub fn error_text(body: &[u8], content_type: Option<&str>) -> String {
    let Ok(text) = std::str::from_utf8(body) else {
        return format!("{} bytes that are not text", body.len());
    };
    let text = text.trim();
    if content_type.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html")) {
        return match html_title(text) {
            Some(title) => format!(
                "an HTML page titled {:?} ({} bytes), not Consul's answer: is a proxy in front of Consul?",
                shorten(title, 120),
                body.len()
            ),
            None => format!(
                "an HTML page ({} bytes), not Consul's answer: is a proxy in front of Consul?",
                body.len()
            ),
        };
    }
    shorten(text, MAX_ERROR_BYTES)
}

/// `text` cut to at most `max` bytes (on a character boundary), saying how long it was when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// The text of an HTML page's `<title>`, if it has one.
fn html_title(page: &str) -> Option<&str> {
    // ASCII lower-casing keeps byte offsets, so they index `page` too.
    let lower = page.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    Some(page[start..end].trim())
}

/// Decodes a 200's JSON body; `content_type` makes the error say what came instead.
pub fn decode<T: DeserializeOwned>(
    body: &[u8],
    content_type: Option<&str>,
    endpoint: &str,
) -> Result<T, ConsulError> {
    serde_json::from_slice(body).map_err(|err| {
        let not_json = content_type.filter(|t| !t.to_ascii_lowercase().contains("json"));
        ConsulError::Decode(match not_json {
            Some(t) => format!(
                "unexpected response from {endpoint}: {t:?} ({} bytes) instead of JSON; is the \
                 address Consul's HTTP API?",
                body.len()
            ),
            None => format!(
                "unexpected response from {endpoint}: {:?} error at line {} column {}",
                err.classify(),
                err.line(),
                err.column()
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consuls_own_error_text_is_kept_as_it_is() {
        let text = "rpc error: code = Unknown desc = a new peering token must be generated";
        assert_eq!(
            error_text(format!("{text}\n").as_bytes(), Some("text/plain")),
            text
        );
        assert_eq!(error_text(b"", None), "");
    }

    #[test]
    fn a_long_body_is_cut_and_an_html_page_named_by_its_title() {
        let long = "x".repeat(5000);
        let cut = error_text(long.as_bytes(), Some("text/plain"));
        assert!(cut.len() < MAX_ERROR_BYTES + 40, "{cut}");
        assert!(cut.ends_with("(5000 bytes in all)"), "{cut}");
        // Cut on a character boundary.
        let wide = "é".repeat(1000);
        assert!(error_text(wide.as_bytes(), None).starts_with("éé"));
        assert_eq!(
            error_text(&[0xff, 0xfe, 0], None),
            "3 bytes that are not text"
        );

        let page = "<!DOCTYPE html><html><head><TITLE>502 Bad Gateway</TITLE></head>\
                    <body><h1>502 Bad Gateway</h1><hr>nginx</body></html>";
        assert_eq!(
            error_text(page.as_bytes(), Some("text/html; charset=utf-8")),
            format!(
                "an HTML page titled \"502 Bad Gateway\" ({} bytes), not Consul's answer: is a \
                 proxy in front of Consul?",
                page.len()
            )
        );
        let untitled = error_text(b"<html><body>no</body></html>", Some("text/html"));
        assert!(
            untitled.starts_with("an HTML page (28 bytes)"),
            "{untitled}"
        );
    }

    #[test]
    fn a_200_that_is_not_json_says_what_it_was() {
        let err = decode::<Vec<u32>>(b"<html></html>", Some("text/html"), "/v1/peerings")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"text/html\" (13 bytes) instead of JSON"),
            "{err}"
        );
        let err = decode::<Vec<u32>>(b"[1, 2", Some("application/json"), "/v1/peerings")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unexpected response from /v1/peerings: Eof error at line 1 column 5"
        );
    }

    #[test]
    fn a_body_over_the_bound_is_an_error_that_says_so() {
        let err = too_large("/v1/peerings", 200).to_string();
        assert_eq!(
            err,
            "the response from /v1/peerings (status 200) is larger than 32 MiB; it was not read"
        );
    }
}
