//! `consul-peering-operator generate-token`: what `consul peering generate-token` does, with its
//! flags, output, error messages and exit codes, so scripts written for it keep working.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;

use super::consul_args::ConsulArgs;
use crate::consul::{Client, GenerateTokenRequest, GenerateTokenResponse, RetryPolicy};

/// The subcommand's name.
pub const COMMAND: &str = "generate-token";

/// Help shown above the flags (Consul's wording).
pub const ABOUT: &str = "Generate a peering token";
pub const LONG_ABOUT: &str = "\
Generate a peering token. The name provided will be used locally by this cluster to refer to the
peering connection. Re-generating a token for a given name will not interrupt any active
connection, but will invalidate any unused token for that name.

Flags use Go's syntax, as in Consul's CLI: -name x, -name=x, --name x and --name=x.

Example:

    $ consul-peering-operator generate-token -name west-dc

Example using a load balancer in front of Consul servers:

    $ consul-peering-operator generate-token -name west-dc \\
        -server-external-addresses load-balancer.elb.us-west-1.amazonaws.com:8502";

#[derive(Args, Clone, Debug)]
#[command(args_override_self = true)]
pub struct GenerateTokenArgs {
    /// (Required) The local name assigned to the peer cluster.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "",
        hide_default_value = true
    )]
    pub name: String,
    /// Metadata to associate with the peering, formatted as key=value. May be given several
    /// times.
    #[arg(long, value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// A comma-separated list of addresses (host:port) to put into the token instead of the
    /// server addresses Consul knows, e.g. load balancers in front of the servers.
    #[arg(
        long = "server-external-addresses",
        value_name = "ADDRESSES",
        default_value = "",
        hide_default_value = true
    )]
    pub server_external_addresses: String,
    /// Output format {json|pretty}.
    #[arg(long, value_name = "FORMAT", default_value = "pretty")]
    pub format: String,
    /// The admin partition (Consul Enterprise). Also CONSUL_PARTITION.
    #[arg(long, value_name = "PARTITION")]
    pub partition: Option<String>,
    #[command(flatten)]
    pub consul: ConsulArgs,
}

/// Go's `FlagMapValue.Set`: `-meta` needs a `=`; used while the flags are parsed, as in Go.
pub fn check_flag_value(flag: &str, value: &str) -> Result<(), String> {
    if flag == "meta" && !value.contains('=') {
        return Err(format!("Missing \"=\" value in argument: {value}"));
    }
    Ok(())
}

/// Runs the command; returns the exit code (0 or 1, as Consul's CLI).
pub async fn run(args: &GenerateTokenArgs, stdout: &mut impl Write, stderr: &mut impl Write) -> u8 {
    // Output errors (a closed pipe) cannot be reported anywhere better than the exit code.
    let mut fail = |message: String| {
        let _ = writeln!(stderr, "{message}");
        1
    };
    if args.name.is_empty() {
        return fail("Missing the required -name flag".into());
    }
    if args.format != "pretty" && args.format != "json" {
        return fail("Invalid format, valid formats are {json|pretty}".into());
    }

    let mut config = args.consul.to_config();
    if let Some(partition) = &args.partition {
        config.partition = Some(partition.clone());
    }
    // Like Consul's CLI: one attempt, the answer as it is.
    config.retry = RetryPolicy::never();
    let client = match Client::new(&config) {
        Ok(client) => client,
        Err(err) => return fail(format!("Error connect to Consul agent: {err}")),
    };

    let request = GenerateTokenRequest {
        peer_name: args.name.clone(),
        partition: args.partition.clone().unwrap_or_default(),
        meta: parse_meta(&args.meta),
        server_external_addresses: if args.server_external_addresses.is_empty() {
            vec![]
        } else {
            args.server_external_addresses
                .split(',')
                .map(str::to_owned)
                .collect()
        },
    };
    let token = match client.generate_token(&request).await {
        Ok(token) => token,
        Err(err) => {
            return fail(format!(
                "Error generating peering token for {}: {err}",
                request.peer_name
            ));
        }
    };

    let written = if args.format == "json" {
        let response = GenerateTokenResponse {
            peering_token: token,
        };
        serde_json::to_string(&response)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(stdout, "{json}"))
    } else {
        writeln!(stdout, "{}", token.expose())
    };
    match written.and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(err) => fail(format!("Error writing the token: {err}")),
    }
}

/// `key=value` pairs split at the first `=`; a later pair for the same key wins, as in Go.
fn parse_meta(pairs: &[String]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_pairs() {
        let pairs = ["a=1", "b==2", "a=3", "c="].map(String::from);
        let meta = parse_meta(&pairs);
        assert_eq!(
            meta,
            BTreeMap::from([
                ("a".to_string(), "3".to_string()),
                ("b".to_string(), "=2".to_string()),
                ("c".to_string(), String::new()),
            ])
        );
        assert_eq!(
            check_flag_value("meta", "novalue"),
            Err("Missing \"=\" value in argument: novalue".into())
        );
        assert_eq!(check_flag_value("name", "novalue"), Ok(()));
    }
}
