//! The rules a spec must satisfy, as regular expressions shared by the CRD schema (where the
//! apiserver enforces them) and by `validate()` (where the controller reports what the schema
//! cannot express as an `InvalidSpec` condition). The limits are Consul's (peer names, Meta) and
//! Kubernetes' (Secret names and keys, namespaces).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// A Consul peer name: an RFC 1123 label in lower case, at most 63 characters.
pub const PEER_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// The longest Consul peer name.
pub const PEER_NAME_MAX_LENGTH: usize = 63;

/// A Consul Meta key.
pub const META_KEY_PATTERN: &str = "^[a-zA-Z0-9_-]+$";
/// Consul's Meta limits: pairs, key length, value length (bytes).
pub const META_MAX_PAIRS: usize = 64;
pub const META_KEY_MAX_LENGTH: usize = 128;
pub const META_VALUE_MAX_LENGTH: usize = 512;
/// Meta keys with this prefix are reserved by Consul.
pub const CONSUL_META_PREFIX: &str = "consul-";
/// The prefix of the Meta keys the operator itself writes on a dialer's Consul peering (the
/// token fingerprint, rotation version and establish time): a dialer's `spec.meta` may not use it.
pub const OPERATOR_META_PREFIX: &str = "consulpeering-";

/// `host:port` with a DNS name, IPv4 address or bracketed IPv6 address, and a port 1–65535
/// (what Consul checks at establish time, plus a non-empty host).
pub const SERVER_ADDRESS_PATTERN: &str = concat!(
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)",
    ":([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
);
pub const SERVER_ADDRESS_MAX_LENGTH: usize = 261;
pub const SERVER_ADDRESSES_MAX_ITEMS: usize = 32;

/// A Consul admin partition name.
pub const PARTITION_PATTERN: &str = "^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$";
pub const PARTITION_MAX_LENGTH: usize = 63;

/// A Kubernetes object name (DNS-1123 subdomain), e.g. a Secret name.
pub const OBJECT_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
pub const OBJECT_NAME_MAX_LENGTH: usize = 253;

/// A key in a Secret's `data`.
pub const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
pub const SECRET_KEY_MAX_LENGTH: usize = 253;

/// A Kubernetes namespace name (DNS-1123 label).
pub const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
pub const NAMESPACE_MAX_LENGTH: usize = 63;

/// The most delivery targets one acceptor may have.
pub const DELIVERY_MAX_ITEMS: usize = 16;

fn compiled(pattern: &'static str) -> Regex {
    Regex::new(pattern).expect("the pattern constants are valid regular expressions")
}

static PEER_NAME: LazyLock<Regex> = LazyLock::new(|| compiled(PEER_NAME_PATTERN));
static META_KEY: LazyLock<Regex> = LazyLock::new(|| compiled(META_KEY_PATTERN));
static SERVER_ADDRESS: LazyLock<Regex> = LazyLock::new(|| compiled(SERVER_ADDRESS_PATTERN));
static PARTITION: LazyLock<Regex> = LazyLock::new(|| compiled(PARTITION_PATTERN));
static OBJECT_NAME: LazyLock<Regex> = LazyLock::new(|| compiled(OBJECT_NAME_PATTERN));
static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| compiled(SECRET_KEY_PATTERN));
static NAMESPACE: LazyLock<Regex> = LazyLock::new(|| compiled(NAMESPACE_PATTERN));

/// Checks `value` against a pattern and a length limit; the error names the field.
fn matches(
    field: &str,
    value: &str,
    regex: &Regex,
    max_length: usize,
    what: &str,
) -> Result<(), String> {
    if value.len() > max_length {
        return Err(format!(
            "{field}: {value:?} is longer than {max_length} characters"
        ));
    }
    if !regex.is_match(value) {
        return Err(format!("{field}: {value:?} is not {what}"));
    }
    Ok(())
}

/// A Consul peer name (Consul refuses anything else with a 500).
pub fn validate_peer_name(field: &str, name: &str) -> Result<(), String> {
    matches(
        field,
        name,
        &PEER_NAME,
        PEER_NAME_MAX_LENGTH,
        "a valid Consul peer name: lower case alphanumeric characters or '-', starting and ending \
         with an alphanumeric character, at most 63 characters (set spec.peerName when \
         metadata.name does not qualify)",
    )
}

/// Consul's Meta rules (agent/structs ValidateMetadata), with the same limits.
pub fn validate_meta(field: &str, meta: &BTreeMap<String, String>) -> Result<(), String> {
    if meta.len() > META_MAX_PAIRS {
        return Err(format!(
            "{field}: {} entries, Consul allows at most {META_MAX_PAIRS}",
            meta.len()
        ));
    }
    for (key, value) in meta {
        if key.is_empty() {
            return Err(format!("{field}: keys must not be empty"));
        }
        if key.len() > META_KEY_MAX_LENGTH {
            return Err(format!(
                "{field}: key {key:?} is longer than {META_KEY_MAX_LENGTH} characters"
            ));
        }
        if !META_KEY.is_match(key) {
            return Err(format!(
                "{field}: key {key:?} may contain only letters, digits, '_' and '-'"
            ));
        }
        if key.starts_with(CONSUL_META_PREFIX) {
            return Err(format!(
                "{field}: key {key:?} must not start with {CONSUL_META_PREFIX:?} (reserved by Consul)"
            ));
        }
        if value.len() > META_VALUE_MAX_LENGTH {
            return Err(format!(
                "{field}: the value of {key:?} is longer than {META_VALUE_MAX_LENGTH} bytes"
            ));
        }
    }
    Ok(())
}

/// A dialer's Meta: Consul's rules, and none of the keys the operator writes itself on the
/// peering it establishes (they would be overwritten, or worse, taken for the operator's own).
pub fn validate_dialer_meta(field: &str, meta: &BTreeMap<String, String>) -> Result<(), String> {
    validate_meta(field, meta)?;
    match meta.keys().find(|k| k.starts_with(OPERATOR_META_PREFIX)) {
        Some(key) => Err(format!(
            "{field}: key {key:?} must not start with {OPERATOR_META_PREFIX:?} (the operator \
             writes those keys on the dialer's peering)"
        )),
        None => Ok(()),
    }
}

/// `host:port` addresses for the token's `ManualServerAddresses`.
pub fn validate_server_addresses(field: &str, addresses: &[String]) -> Result<(), String> {
    if addresses.len() > SERVER_ADDRESSES_MAX_ITEMS {
        return Err(format!(
            "{field}: {} addresses, at most {SERVER_ADDRESSES_MAX_ITEMS} are allowed",
            addresses.len()
        ));
    }
    for (index, address) in addresses.iter().enumerate() {
        matches(
            &format!("{field}[{index}]"),
            address,
            &SERVER_ADDRESS,
            SERVER_ADDRESS_MAX_LENGTH,
            "host:port with a port from 1 to 65535",
        )?;
    }
    Ok(())
}

pub fn validate_partition(field: &str, partition: &str) -> Result<(), String> {
    matches(
        field,
        partition,
        &PARTITION,
        PARTITION_MAX_LENGTH,
        "a valid Consul partition name",
    )
}

/// A Kubernetes object name such as a Secret's.
pub fn validate_object_name(field: &str, name: &str) -> Result<(), String> {
    matches(
        field,
        name,
        &OBJECT_NAME,
        OBJECT_NAME_MAX_LENGTH,
        "a valid Kubernetes object name (lower case alphanumeric characters, '-' or '.')",
    )
}

pub fn validate_secret_key(field: &str, key: &str) -> Result<(), String> {
    matches(
        field,
        key,
        &SECRET_KEY,
        SECRET_KEY_MAX_LENGTH,
        "a valid Secret key (alphanumeric characters, '-', '_' or '.')",
    )
}

pub fn validate_namespace(field: &str, namespace: &str) -> Result<(), String> {
    matches(
        field,
        namespace,
        &NAMESPACE,
        NAMESPACE_MAX_LENGTH,
        "a valid namespace name",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names() {
        for ok in ["a", "dc2", "west-dc", "0", &"a".repeat(63)] {
            assert_eq!(validate_peer_name("spec.peerName", ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "a-", "Dc2", "dc.2", "dc_2", &"a".repeat(64)] {
            let err = validate_peer_name("spec.peerName", bad).unwrap_err();
            assert!(err.starts_with("spec.peerName: "), "{err}");
        }
    }

    #[test]
    fn meta_rules() {
        let meta = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            validate_meta("spec.meta", &meta(&[("env", "prod"), ("a_b-C9", "")])),
            Ok(())
        );
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(513);
        for (bad, needle) in [
            (meta(&[("", "x")]), "empty"),
            (meta(&[("a.b", "x")]), "letters"),
            (meta(&[("consul-x", "x")]), "consul-"),
            (meta(&[(&long_key, "x")]), "128"),
            (meta(&[("k", &long_value)]), "512"),
        ] {
            let err = validate_meta("spec.meta", &bad).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let too_many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(
            validate_meta("spec.meta", &too_many)
                .unwrap_err()
                .contains("64")
        );
        let just_enough: BTreeMap<String, String> =
            (0..64).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(validate_meta("spec.meta", &just_enough), Ok(()));
    }

    #[test]
    fn dialer_meta_rules() {
        let meta = |key: &str| BTreeMap::from([(key.to_string(), "v".to_string())]);
        assert_eq!(validate_dialer_meta("spec.meta", &meta("env")), Ok(()));
        // A key that merely contains the operator's prefix is the user's.
        assert_eq!(
            validate_dialer_meta("spec.meta", &meta("my-consulpeering-x")),
            Ok(())
        );
        let err = validate_dialer_meta("spec.meta", &meta("consulpeering-token-fingerprint"))
            .unwrap_err();
        assert_eq!(
            err,
            "spec.meta: key \"consulpeering-token-fingerprint\" must not start with \
             \"consulpeering-\" (the operator writes those keys on the dialer's peering)"
        );
        // Consul's own rules still apply, first.
        let err = validate_dialer_meta("spec.meta", &meta("consul-x")).unwrap_err();
        assert!(err.contains("reserved by Consul"), "{err}");
        // The acceptor's Meta may use the prefix: the operator writes nothing there.
        assert_eq!(validate_meta("spec.meta", &meta("consulpeering-x")), Ok(()));
    }

    #[test]
    fn server_addresses() {
        let ok = [
            "10.0.0.1:8502",
            "lb.example.com:443",
            "[::1]:8503",
            "a:1",
            "h:65535",
        ];
        let owned: Vec<String> = ok.iter().map(|s| s.to_string()).collect();
        assert_eq!(validate_server_addresses("s", &owned), Ok(()));
        for bad in [
            "10.0.0.1", ":8502", "h:0", "h:65536", "h:08502", "h:port", "-h:1", "::1:8502",
        ] {
            let err = validate_server_addresses("s", &[bad.to_string()]).unwrap_err();
            assert!(err.starts_with("s[0]: "), "{err}");
        }
        let many = vec!["h:1".to_string(); 33];
        assert!(
            validate_server_addresses("s", &many)
                .unwrap_err()
                .contains("32")
        );
    }

    #[test]
    fn kubernetes_names() {
        assert_eq!(validate_object_name("n", "peering-token.v1"), Ok(()));
        assert!(validate_object_name("n", "Token").is_err());
        assert!(validate_object_name("n", &"a".repeat(254)).is_err());
        assert_eq!(validate_secret_key("k", "data"), Ok(()));
        assert_eq!(validate_secret_key("k", ".token_v-1"), Ok(()));
        assert!(validate_secret_key("k", "a/b").is_err());
        assert_eq!(validate_namespace("ns", "consul"), Ok(()));
        assert!(validate_namespace("ns", "a.b").is_err());
        assert_eq!(validate_partition("p", "default"), Ok(()));
        assert!(validate_partition("p", "-x").is_err());
    }
}
