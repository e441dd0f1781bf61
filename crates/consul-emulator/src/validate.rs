//! Consul's validation of peer names, meta tags and peering tokens, with its messages.

use std::collections::BTreeMap;

use crate::token::PeeringToken;

/// `validatePeerName`: an RFC 1123 label in lower case, at most 63 characters.
pub fn peer_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let inner_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let edge_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !b.is_empty()
        && b.len() <= 63
        && edge_ok(&b[0])
        && edge_ok(&b[b.len() - 1])
        && b.iter().all(inner_ok);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name} is not a valid peer name: a valid peering name must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        ))
    }
}

/// `structs.ValidateMetaTags` wrapped as the peering service wraps it. Go walks the map in
/// random order; the emulator reports the first bad pair in key order.
pub fn meta(meta: &BTreeMap<String, String>) -> Result<(), String> {
    let wrap = |e: String| format!("meta tags failed validation: {e}");
    if meta.len() > 64 {
        return Err(wrap(
            "Node metadata cannot contain more than 64 key/value pairs".into(),
        ));
    }
    for (key, value) in meta {
        let problem = if key.is_empty() {
            Some("Key cannot be blank".to_string())
        } else if !key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            Some("Key contains invalid characters".to_string())
        } else if key.len() > 128 {
            Some("Key is too long (limit: 128 characters)".to_string())
        } else if key.starts_with("consul-") {
            Some("Key prefix 'consul-' is reserved for internal use".to_string())
        } else if value.len() > 512 {
            Some("Value is too long (limit: 512 characters)".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(wrap(format!(
                "Couldn't load metadata pair ('{key}', '{value}'): {problem}"
            )));
        }
    }
    Ok(())
}

/// `validatePeeringToken`, in Consul's order.
pub fn token(tok: &PeeringToken) -> Result<(), String> {
    for pem in tok.ca.iter().flatten() {
        parse_cert(pem).map_err(|e| format!("peering token invalid CA: {e}"))?;
    }
    let manual = tok.manual_server_addresses.as_deref().unwrap_or_default();
    let servers = tok.server_addresses.as_deref().unwrap_or_default();
    if manual.is_empty() && servers.is_empty() {
        return Err("peering token server addresses value is empty".into());
    }
    for addr in manual.iter().chain(servers) {
        if !server_address(addr) {
            return Err(format!("{addr} is not a valid peering server address"));
        }
    }
    if tok.ca.as_ref().is_some_and(|ca| !ca.is_empty()) && tok.server_name.is_empty() {
        return Err("peering token server name value is empty".into());
    }
    if tok.peer_id.is_empty() {
        return Err("peering token peer ID value is empty".into());
    }
    Ok(())
}

/// `net.SplitHostPort` followed by `strconv.Atoi` and the 1–65535 range check.
pub fn server_address(addr: &str) -> bool {
    let Some(port) = split_host_port(addr) else {
        return false;
    };
    go_atoi(port).is_some_and(|p| (1..=65535).contains(&p))
}

/// The port part of Go's `net.SplitHostPort`, `None` where it errors.
fn split_host_port(hostport: &str) -> Option<&str> {
    let b = hostport.as_bytes();
    let i = hostport.rfind(':')?;
    let (j, k);
    if b[0] == b'[' {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (j, k) = (1, end + 1);
    } else {
        if hostport[..i].contains(':') {
            return None;
        }
        (j, k) = (0, 0);
    }
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some(&hostport[i + 1..])
}

/// Go's `strconv.Atoi` for base 10 (an optional sign, then digits).
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// `connect.ParseCert`: the first PEM block must be a parseable X.509 certificate.
pub fn parse_cert(pem: &str) -> Result<(), String> {
    let (kind, der) =
        first_pem_block(pem).ok_or_else(|| "no PEM-encoded data found".to_string())?;
    if kind != "CERTIFICATE" {
        return Err("first PEM-block should be CERTIFICATE type".into());
    }
    match x509_parser::parse_x509_certificate(&der) {
        Ok(([], _)) => Ok(()),
        Ok(_) => Err("x509: trailing data".into()),
        Err(_) => Err("x509: malformed certificate".into()),
    }
}

/// The first decodable PEM block (Go's `pem.Decode` skips blocks it cannot decode).
fn first_pem_block(text: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let Some(kind) = after[..line_end]
            .trim_end_matches('\r')
            .strip_suffix("-----")
        else {
            rest = after;
            continue;
        };
        let body_start = (line_end + 1).min(after.len());
        let end_marker = format!("-----END {kind}-----");
        let Some(end) = after[body_start..].find(&end_marker) else {
            rest = after;
            continue;
        };
        let body: String = after[body_start..body_start + end]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
            return Some((kind.to_string(), der));
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names() {
        for ok in ["a", "peer-1", "0", &"a".repeat(63)] {
            assert!(peer_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Peer", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(peer_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn meta_rules() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(meta(&one("env", "prod")).is_ok());
        assert_eq!(
            meta(&one("", "v")).unwrap_err(),
            "meta tags failed validation: Couldn't load metadata pair ('', 'v'): Key cannot be blank"
        );
        assert!(
            meta(&one("a b", "v"))
                .unwrap_err()
                .ends_with("Key contains invalid characters")
        );
        assert!(
            meta(&one(&"k".repeat(129), "v"))
                .unwrap_err()
                .ends_with("(limit: 128 characters)")
        );
        assert!(
            meta(&one("consul-x", "v"))
                .unwrap_err()
                .ends_with("reserved for internal use")
        );
        assert!(
            meta(&one("k", &"v".repeat(513)))
                .unwrap_err()
                .ends_with("(limit: 512 characters)")
        );
        let many: BTreeMap<_, _> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(
            meta(&many).unwrap_err(),
            "meta tags failed validation: Node metadata cannot contain more than 64 key/value pairs"
        );
    }

    #[test]
    fn server_addresses() {
        for ok in ["127.0.0.1:8503", "host:1", "[::1]:65535", "h:+80", ":80"] {
            assert!(server_address(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "h:0",
            "h:65536",
            "h:x",
            "::1:80",
            "[::1]80",
            "h:",
            "h:-1",
        ] {
            assert!(!server_address(bad), "{bad}");
        }
    }

    #[test]
    fn certificates() {
        assert_eq!(parse_cert("junk").unwrap_err(), "no PEM-encoded data found");
        assert_eq!(
            parse_cert("-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n").unwrap_err(),
            "first PEM-block should be CERTIFICATE type"
        );
        assert_eq!(
            parse_cert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .unwrap_err(),
            "x509: malformed certificate"
        );
        let pki = emulator_common::Pki::new("test");
        assert!(parse_cert(pki.ca_pem()).is_ok());
    }
}
