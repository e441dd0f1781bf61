//! The standard Consul API flags of Consul's CLI (`-http-addr`, `-token`, ...). Unset flags
//! fall back to the `CONSUL_*` environment variables, as in Consul (the token's value is never
//! shown in `--help`).

use std::path::PathBuf;

use clap::Args;

use crate::consul::{AclToken, ConsulConfig};

#[derive(Args, Clone, Debug, Default)]
pub struct ConsulArgs {
    /// The address and port of the Consul HTTP agent (`host:port`, `http://…` or `https://…`).
    /// Also CONSUL_HTTP_ADDR; default 127.0.0.1:8500. CONSUL_HTTP_SSL=true selects HTTPS for a
    /// bare host:port.
    #[arg(long = "http-addr", value_name = "ADDRESS")]
    pub http_addr: Option<String>,
    /// ACL token to use in the request. Also CONSUL_HTTP_TOKEN.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<AclToken>,
    /// File containing the ACL token; it wins over -token and is re-read when it changes. Also
    /// CONSUL_HTTP_TOKEN_FILE.
    #[arg(long = "token-file", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Path to a CA file to use for TLS when communicating with Consul. Also CONSUL_CACERT.
    #[arg(long = "ca-file", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Path to a directory of CA certificates to use for TLS when communicating with Consul.
    /// Also CONSUL_CAPATH.
    #[arg(long = "ca-path", value_name = "PATH")]
    pub ca_path: Option<PathBuf>,
    /// Path to a client certificate file for TLS when Consul verifies clients. Also
    /// CONSUL_CLIENT_CERT.
    #[arg(long = "client-cert", value_name = "PATH")]
    pub client_cert: Option<PathBuf>,
    /// Path to the client certificate's key file. Also CONSUL_CLIENT_KEY.
    #[arg(long = "client-key", value_name = "PATH")]
    pub client_key: Option<PathBuf>,
    /// The server name to verify Consul's certificate against. Also CONSUL_TLS_SERVER_NAME.
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

impl ConsulArgs {
    /// The client configuration: the environment (as [`ConsulConfig::from_env`]), overridden by
    /// the flags that were given.
    pub fn to_config(&self) -> ConsulConfig {
        self.apply(ConsulConfig::from_env())
    }

    /// `config` overridden by the flags that were given.
    pub fn apply(&self, mut config: ConsulConfig) -> ConsulConfig {
        if let Some(address) = &self.http_addr {
            config.address = address.clone();
        }
        if let Some(token) = &self.token {
            config.token = Some(token.clone());
        }
        let paths = [
            (&self.token_file, &mut config.token_file),
            (&self.ca_file, &mut config.ca_file),
            (&self.ca_path, &mut config.ca_path),
            (&self.client_cert, &mut config.client_cert),
            (&self.client_key, &mut config.client_key),
        ];
        for (flag, setting) in paths {
            if let Some(path) = flag {
                *setting = Some(path.clone());
            }
        }
        if let Some(name) = &self.tls_server_name {
            config.tls_server_name = Some(name.clone());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_environment() {
        let env = ConsulConfig::from_lookup(|name| match name {
            "CONSUL_HTTP_ADDR" => Some("env-host:8500".into()),
            "CONSUL_HTTP_TOKEN" => Some("env-token".into()),
            "CONSUL_CACERT" => Some("/env/ca.pem".into()),
            _ => None,
        });
        let args = ConsulArgs {
            http_addr: Some("https://flag-host:8501".into()),
            token: Some(AclToken::new("flag-token")),
            client_cert: Some("/flag/cert.pem".into()),
            ..Default::default()
        };
        let config = args.apply(env);
        assert_eq!(config.address, "https://flag-host:8501");
        assert_eq!(config.token, Some(AclToken::new("flag-token")));
        assert_eq!(config.ca_file, Some("/env/ca.pem".into()));
        assert_eq!(config.client_cert, Some("/flag/cert.pem".into()));
        assert_eq!(config.tls_server_name, None);
        assert!(!format!("{args:?}").contains("flag-token"));
    }
}
