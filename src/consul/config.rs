//! How to reach Consul: the settings of Consul's own API client (`CONSUL_HTTP_ADDR`,
//! `CONSUL_HTTP_TOKEN`, `CONSUL_CACERT`, ...), with the same meaning and precedence.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::error::ConsulError;
use super::retry::RetryPolicy;

/// Environment variables read by [`ConsulConfig::from_env`] (the Go client's names).
pub mod env {
    pub const HTTP_ADDR: &str = "CONSUL_HTTP_ADDR";
    pub const HTTP_TOKEN: &str = "CONSUL_HTTP_TOKEN";
    pub const HTTP_TOKEN_FILE: &str = "CONSUL_HTTP_TOKEN_FILE";
    pub const HTTP_SSL: &str = "CONSUL_HTTP_SSL";
    pub const HTTP_SSL_VERIFY: &str = "CONSUL_HTTP_SSL_VERIFY";
    pub const CACERT: &str = "CONSUL_CACERT";
    pub const CAPATH: &str = "CONSUL_CAPATH";
    pub const CLIENT_CERT: &str = "CONSUL_CLIENT_CERT";
    pub const CLIENT_KEY: &str = "CONSUL_CLIENT_KEY";
    pub const TLS_SERVER_NAME: &str = "CONSUL_TLS_SERVER_NAME";
    pub const PARTITION: &str = "CONSUL_PARTITION";
}

/// The default address, as in Consul's client.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8500";

/// A Consul ACL token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AclToken(String);

impl AclToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// For command-line parsing (clap builds values with `From<String>`).
impl From<String> for AclToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for AclToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AclToken(<redacted>)")
    }
}

/// Settings of the Consul client.
#[derive(Clone, Debug)]
pub struct ConsulConfig {
    /// `host:port`, `http://host:port[/prefix]` or `https://host:port[/prefix]`.
    pub address: String,
    /// Use HTTPS for an address without a scheme (`CONSUL_HTTP_SSL=true`). An `http://` address
    /// stays HTTPS when this is set, as in Consul's client.
    pub https: bool,
    /// ACL token sent as `X-Consul-Token`.
    pub token: Option<AclToken>,
    /// File holding the ACL token. When set and non-empty it wins over `token` (as in Consul's
    /// client); it is read again whenever it changes.
    pub token_file: Option<PathBuf>,
    /// PEM bundle of the CAs that sign Consul's HTTPS certificate (replaces the system roots).
    pub ca_file: Option<PathBuf>,
    /// Directory of PEM CA certificates (added to `ca_file`'s).
    pub ca_path: Option<PathBuf>,
    /// Client certificate and key (PEM), for Consul's `verify_incoming`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name Consul's certificate is verified against, instead of the address's host
    /// (a port, if given, is ignored).
    pub tls_server_name: Option<String>,
    /// Skip verifying Consul's certificate (`CONSUL_HTTP_SSL_VERIFY=false`). For tests only.
    pub tls_skip_verify: bool,
    /// Admin partition: added as `?partition=` to every request (Consul Enterprise).
    pub partition: Option<String>,
    pub connect_timeout: Duration,
    /// Per request; a blocking list adds its wait time to it.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ConsulConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            https: false,
            token: None,
            token_file: None,
            ca_file: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_skip_verify: false,
            partition: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

impl ConsulConfig {
    /// The defaults, overridden by the `CONSUL_*` environment variables (see [`env`]).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the environment given as a function; empty values
    /// count as unset, as in Consul's client.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let path = |name: &str| get(name).map(PathBuf::from);
        let mut config = Self::default();
        if let Some(address) = get(env::HTTP_ADDR) {
            config.address = address;
        }
        config.token = get(env::HTTP_TOKEN).map(AclToken::new);
        config.token_file = path(env::HTTP_TOKEN_FILE);
        // Unparsable booleans are ignored, as Consul's client does (it only logs a warning).
        config.https = get(env::HTTP_SSL).and_then(|v| parse_go_bool(&v)) == Some(true);
        config.tls_skip_verify =
            get(env::HTTP_SSL_VERIFY).and_then(|v| parse_go_bool(&v)) == Some(false);
        config.ca_file = path(env::CACERT);
        config.ca_path = path(env::CAPATH);
        config.client_cert = path(env::CLIENT_CERT);
        config.client_key = path(env::CLIENT_KEY);
        config.tls_server_name = get(env::TLS_SERVER_NAME);
        config.partition = get(env::PARTITION);
        config
    }

    /// The base URL of Consul's API, resolved like Consul's client does: an explicit scheme
    /// wins, except that `http://` never downgrades a requested HTTPS; a path after the
    /// authority is a reverse-proxy prefix.
    pub fn base_url(&self) -> Result<Url, ConsulError> {
        let (mut scheme, rest) = match self.address.split_once("://") {
            Some(("http", rest)) => ("http", rest),
            Some(("https", rest)) => ("https", rest),
            Some(("unix", _)) => {
                return Err(ConsulError::InvalidConfig(
                    "unix socket addresses are not supported; use http:// or https://".into(),
                ));
            }
            Some((other, _)) => {
                return Err(ConsulError::InvalidConfig(format!(
                    "Unknown protocol scheme: {other}"
                )));
            }
            None => ("http", self.address.as_str()),
        };
        if self.https {
            scheme = "https";
        }
        let (authority, prefix) = match rest.split_once('/') {
            Some((authority, prefix)) => (authority, prefix.trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(ConsulError::InvalidConfig(format!(
                "invalid Consul address {:?}: no host",
                self.address
            )));
        }
        let url = if prefix.is_empty() {
            format!("{scheme}://{authority}/")
        } else {
            format!("{scheme}://{authority}/{prefix}/")
        };
        Url::parse(&url).map_err(|err| {
            ConsulError::InvalidConfig(format!("invalid Consul address {:?}: {err}", self.address))
        })
    }

    /// The name to verify Consul's certificate against, when it differs from the URL's host.
    pub(crate) fn verify_name(&self) -> Option<&str> {
        let name = self.tls_server_name.as_deref()?;
        // Like Go's SetupTLSConfig: a trailing port is dropped ("host:port", "[v6]:port").
        let host = match name.rsplit_once(':') {
            Some((host, _)) if name.rfind(':') > name.rfind(']') => {
                if host.contains(':') && !host.starts_with('[') {
                    name // a bare IPv6 address, no port
                } else {
                    host
                }
            }
            _ => name,
        };
        Some(host.trim_start_matches('[').trim_end_matches(']'))
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(address: &str, https: bool) -> ConsulConfig {
        ConsulConfig {
            address: address.into(),
            https,
            ..Default::default()
        }
    }

    #[test]
    fn addresses_resolve_like_consuls_client() {
        let cases = [
            ("127.0.0.1:8500", false, "http://127.0.0.1:8500/"),
            ("127.0.0.1:8501", true, "https://127.0.0.1:8501/"),
            ("http://consul:8500", false, "http://consul:8500/"),
            ("http://consul:8500", true, "https://consul:8500/"),
            ("https://consul:8501", false, "https://consul:8501/"),
            (
                "https://gw.example.com/consul/",
                false,
                "https://gw.example.com/consul/",
            ),
            ("http://[::1]:8500", false, "http://[::1]:8500/"),
        ];
        for (address, https, expected) in cases {
            assert_eq!(
                with(address, https).base_url().unwrap().as_str(),
                expected,
                "{address}"
            );
        }
        assert_eq!(
            with("ftp://consul", false)
                .base_url()
                .unwrap_err()
                .to_string(),
            "Unknown protocol scheme: ftp"
        );
        assert!(
            with("unix:///var/run/consul.sock", false)
                .base_url()
                .is_err()
        );
        assert!(with("http://", false).base_url().is_err());
        assert!(with("http://bad host:1", false).base_url().is_err());
    }

    #[test]
    fn environment_like_consuls_client() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let config = ConsulConfig::from_lookup(env(&[
            ("CONSUL_HTTP_ADDR", "consul.example:8501"),
            ("CONSUL_HTTP_SSL", "true"),
            ("CONSUL_HTTP_TOKEN", "t0ken"),
            ("CONSUL_HTTP_TOKEN_FILE", "/var/run/token"),
            ("CONSUL_CACERT", "/etc/ca.pem"),
            ("CONSUL_CLIENT_CERT", "/etc/c.pem"),
            ("CONSUL_CLIENT_KEY", "/etc/k.pem"),
            ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
            ("CONSUL_PARTITION", "team"),
        ]));
        assert_eq!(
            config.base_url().unwrap().as_str(),
            "https://consul.example:8501/"
        );
        assert_eq!(config.token, Some(AclToken::new("t0ken")));
        assert_eq!(config.token_file, Some("/var/run/token".into()));
        assert_eq!(config.ca_file, Some("/etc/ca.pem".into()));
        assert_eq!(config.client_key, Some("/etc/k.pem".into()));
        assert_eq!(config.verify_name(), Some("server.dc1.consul"));
        assert_eq!(config.partition.as_deref(), Some("team"));
        assert!(!config.tls_skip_verify);

        let defaults = ConsulConfig::from_lookup(env(&[
            ("CONSUL_HTTP_ADDR", ""),
            ("CONSUL_HTTP_SSL", "yes"),
            ("CONSUL_HTTP_SSL_VERIFY", "0"),
        ]));
        assert_eq!(
            defaults.base_url().unwrap().as_str(),
            "http://127.0.0.1:8500/"
        );
        assert_eq!(defaults.token, None);
        assert!(defaults.tls_skip_verify);
    }

    #[test]
    fn tls_server_name_drops_a_port() {
        let name = |n: &str| {
            ConsulConfig {
                tls_server_name: Some(n.into()),
                ..Default::default()
            }
            .verify_name()
            .map(str::to_owned)
        };
        assert_eq!(name("server.dc1.consul"), Some("server.dc1.consul".into()));
        assert_eq!(
            name("server.dc1.consul:8501"),
            Some("server.dc1.consul".into())
        );
        assert_eq!(name("[::1]:8501"), Some("::1".into()));
        assert_eq!(name("::1"), Some("::1".into()));
    }

    #[test]
    fn acl_token_debug_is_redacted() {
        let config = ConsulConfig {
            token: Some(AclToken::new("9d6fa3b5-secret")),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("9d6fa3b5-secret"));
    }
}
