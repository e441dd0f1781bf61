//! The Consul peering API client: one `reqwest` client per Consul, the ACL token from the token
//! source on every request, `?partition=` when configured, bounded retries, and errors that keep
//! Consul's answer. Requests are logged by method, path, status and duration only: bodies (which
//! carry tokens) and headers (the ACL token) never reach a log line or an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::ConsulConfig;
use super::error::ConsulError;
use super::response;
use super::retry::{Idempotency, RetryPolicy};
use super::tls;
use super::token::PeeringToken;
use super::token_source::TokenSource;
use super::types::{EstablishRequest, GenerateTokenRequest, GenerateTokenResponse, Peering};

/// Consul adds up to wait/16 of jitter to a blocking query's wait.
const BLOCKING_JITTER_DIVISOR: u32 = 16;

/// Called after every HTTP exchange with the endpoint's label (`peering_token`,
/// `peering_establish`, `peering_read`, `peering_delete`, `peerings_list`), the status code
/// (`None` when no response arrived) and the time it took: the operator's metrics hook.
#[derive(Clone)]
pub struct RequestObserver(Arc<dyn Fn(&'static str, Option<u16>, Duration) + Send + Sync>);

impl RequestObserver {
    pub fn new(f: impl Fn(&'static str, Option<u16>, Duration) + Send + Sync + 'static) -> Self {
        RequestObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestObserver")
    }
}

/// A client for one Consul's peering API. Cheap to clone (shared connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    observer: Option<RequestObserver>,
    http: reqwest::Client,
    base: Url,
    token: Arc<TokenSource>,
    partition: Option<String>,
    request_timeout: Duration,
    retry: RetryPolicy,
}

/// One HTTP exchange to make (and maybe repeat).
struct Call<'a> {
    /// The endpoint's label for metrics.
    endpoint: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    idempotency: Idempotency,
    timeout: Duration,
    /// Statuses the caller handles itself (besides 200).
    also_ok: &'a [StatusCode],
}

/// Consul's answer to a call.
struct Reply {
    status: StatusCode,
    index: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl Client {
    pub fn new(config: &ConsulConfig) -> Result<Self, ConsulError> {
        let base = config.base_url()?;
        let token = Arc::new(TokenSource::new(
            config.token.clone(),
            config.token_file.clone(),
        )?);
        let tls = tls::client_config(config, base.scheme() == "https")?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!(
                "consul-peering-operator/",
                env!("CARGO_PKG_VERSION")
            ))
            .tls_backend_preconfigured(tls)
            // Consul does not redirect; following one could send the ACL token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ConsulError::InvalidConfig(format!("HTTP client: {err}")))?;
        Ok(Self {
            observer: None,
            http,
            base,
            token,
            partition: config.partition.clone().filter(|p| !p.is_empty()),
            request_timeout: config.request_timeout,
            retry: config.retry,
        })
    }

    /// This client, reporting every exchange to `observer`.
    pub fn with_observer(mut self, observer: RequestObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The base URL requests go to (for logs and messages; it holds no credentials).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/peering/token`: a new token for `request.peer_name` (any earlier unused token
    /// for that name stops working).
    pub async fn generate_token(
        &self,
        request: &GenerateTokenRequest,
    ) -> Result<PeeringToken, ConsulError> {
        if request.peer_name.is_empty() {
            return Err(ConsulError::InvalidRequest(
                "peer name cannot be empty".into(),
            ));
        }
        let reply = self
            .send(Call {
                endpoint: "peering_token",
                method: Method::POST,
                url: self.url(&["v1", "peering", "token"]),
                body: Some(json_body(request)?),
                idempotency: Idempotency::Idempotent,
                timeout: self.request_timeout,
                also_ok: &[],
            })
            .await?;
        let response: GenerateTokenResponse = decode(&reply, "/v1/peering/token")?;
        Ok(response.peering_token)
    }

    /// `POST /v1/peering/establish`: dial the peer with its token (which this consumes).
    pub async fn establish(&self, request: &EstablishRequest) -> Result<(), ConsulError> {
        self.send(Call {
            endpoint: "peering_establish",
            method: Method::POST,
            url: self.url(&["v1", "peering", "establish"]),
            body: Some(json_body(request)?),
            idempotency: Idempotency::ConsumesToken,
            timeout: self.request_timeout,
            also_ok: &[],
        })
        .await?;
        Ok(())
    }

    /// `GET /v1/peering/:name`; `None` when Consul has no such peering (404).
    pub async fn read(&self, name: &str) -> Result<Option<Peering>, ConsulError> {
        let reply = self
            .send(Call {
                endpoint: "peering_read",
                method: Method::GET,
                url: self.peering_url(name)?,
                body: None,
                idempotency: Idempotency::Idempotent,
                timeout: self.request_timeout,
                also_ok: &[StatusCode::NOT_FOUND],
            })
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(&reply, "/v1/peering/:name").map(Some)
    }

    /// `DELETE /v1/peering/:name`: marks the peering for deletion (a no-op when it is unknown).
    pub async fn delete(&self, name: &str) -> Result<(), ConsulError> {
        self.send(Call {
            endpoint: "peering_delete",
            method: Method::DELETE,
            url: self.peering_url(name)?,
            body: None,
            idempotency: Idempotency::Idempotent,
            timeout: self.request_timeout,
            also_ok: &[],
        })
        .await?;
        Ok(())
    }

    /// `GET /v1/peerings`, with the `X-Consul-Index` of the answer (0 when absent).
    ///
    /// With `blocking = Some((index, wait))` Consul holds the request until its index passes
    /// `index` or `wait` elapses (plus up to wait/16 of jitter), then answers with the current
    /// list either way. Callers should reset `index` to 0 when the returned index goes backwards.
    pub async fn list(
        &self,
        blocking: Option<(u64, Duration)>,
    ) -> Result<(Vec<Peering>, u64), ConsulError> {
        let mut url = self.url(&["v1", "peerings"]);
        let mut timeout = self.request_timeout;
        if let Some((index, wait)) = blocking {
            url.query_pairs_mut()
                .append_pair("index", &index.to_string())
                .append_pair("wait", &go_duration_ms(wait));
            timeout += wait + wait / BLOCKING_JITTER_DIVISOR;
        }
        let reply = self
            .send(Call {
                endpoint: "peerings_list",
                method: Method::GET,
                url,
                body: None,
                idempotency: Idempotency::Idempotent,
                timeout,
                also_ok: &[],
            })
            .await?;
        let index = match &reply.index {
            None => 0,
            Some(raw) => raw.parse().map_err(|err| {
                ConsulError::Decode(format!("Failed to parse X-Consul-Index: {err}"))
            })?,
        };
        // Consul answers `[]` for none; a `null` would be a nil slice.
        let peerings: Option<Vec<Peering>> = decode(&reply, "/v1/peerings")?;
        Ok((peerings.unwrap_or_default(), index))
    }

    /// The API URL of `segments` (percent-encoded), with `?partition=` when configured.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(segments);
        if let Some(partition) = &self.partition {
            url.query_pairs_mut().append_pair("partition", partition);
        }
        url
    }

    fn peering_url(&self, name: &str) -> Result<Url, ConsulError> {
        if name.is_empty() {
            return Err(ConsulError::InvalidRequest(
                "peering name cannot be empty".into(),
            ));
        }
        Ok(self.url(&["v1", "peering", name]))
    }

    /// Makes the call, repeating it as the retry policy allows.
    async fn send(&self, call: Call<'_>) -> Result<Reply, ConsulError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let result = self.attempt(&call).await;
            let elapsed = started.elapsed();
            if let Some(observer) = &self.observer {
                let status = match &result {
                    Ok(reply) => Some(reply.status.as_u16()),
                    Err(error) => error.status(),
                };
                (observer.0)(call.endpoint, status, elapsed);
            }
            let elapsed_ms = elapsed.as_millis() as u64;
            match result {
                Ok(reply) => {
                    tracing::debug!(method = %call.method, path = call.url.path(), status = reply.status.as_u16(), elapsed_ms, attempts, "Consul request");
                    return Ok(reply);
                }
                Err(error) => {
                    let retry = self.retry.should_retry(attempts, &error, call.idempotency);
                    tracing::debug!(method = %call.method, path = call.url.path(), status = error.status(), elapsed_ms, attempts, retry, %error, "Consul request failed");
                    if !retry {
                        return Err(error);
                    }
                    tokio::time::sleep(self.retry.backoff(attempts - 1)).await;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, ConsulError> {
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .timeout(call.timeout);
        if let Some(token) = self.token.current() {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                ConsulError::InvalidConfig(
                    "the ACL token contains characters not allowed in an HTTP header".into(),
                )
            })?;
            value.set_sensitive(true);
            request = request.header("X-Consul-Token", value);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(&call.method, &call.url, &err))?;
        let status = response.status();
        let header = |name| {
            let value = response.headers().get(name)?;
            value.to_str().ok().map(str::to_owned)
        };
        let index = header("X-Consul-Index");
        let content_type = header(CONTENT_TYPE.as_str());
        let body = response::read_bounded(response)
            .await
            .map_err(|err| transport_error(&call.method, &call.url, &err))?
            .ok_or_else(|| response::too_large(call.url.path(), status.as_u16()))?;
        if status != StatusCode::OK && !call.also_ok.contains(&status) {
            return Err(ConsulError::Api {
                status: status.as_u16(),
                body: response::error_text(&body, content_type.as_deref()),
            });
        }
        Ok(Reply {
            status,
            index,
            content_type,
            body,
        })
    }
}

fn json_body(value: &impl Serialize) -> Result<Vec<u8>, ConsulError> {
    // Serialising these types cannot fail; the error text would not include values anyway.
    serde_json::to_vec(value)
        .map_err(|err| ConsulError::InvalidRequest(format!("encoding the request: {err}")))
}

fn decode<T: DeserializeOwned>(reply: &Reply, endpoint: &str) -> Result<T, ConsulError> {
    response::decode(&reply.body, reply.content_type.as_deref(), endpoint)
}

/// Go's `durToMsec`: whole milliseconds, at least 1 for a positive duration.
fn go_duration_ms(wait: Duration) -> String {
    let ms = wait.as_millis();
    let ms = if ms == 0 && !wait.is_zero() { 1 } else { ms };
    format!("{ms}ms")
}

/// A failed exchange, worded like Go's `*url.Error` (`Post "http://…/v1/peering/token": dial
/// tcp 127.0.0.1:8500: connect: connection refused`), which the CLI prints.
fn transport_error(method: &Method, url: &Url, err: &reqwest::Error) -> ConsulError {
    let method = method.as_str();
    let op = format!("{}{}", &method[..1], method[1..].to_ascii_lowercase());
    let prefix = format!("{op} {:?}", url.as_str());
    if err.is_timeout() {
        return ConsulError::Timeout(format!(
            "{prefix}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ));
    }
    if let Some(tls) = find_tls_error(err) {
        return ConsulError::Tls(format!("{prefix}: tls: {tls}"));
    }
    let authority = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) if host.contains(':') => format!("[{host}]:{port}"),
        (Some(host), Some(port)) => format!("{host}:{port}"),
        _ => String::new(),
    };
    if err.is_connect() {
        let detail = match find_io_error(err).map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => "connect: connection refused".to_owned(),
            _ => innermost(err),
        };
        return ConsulError::Connect(format!("{prefix}: dial tcp {authority}: {detail}"));
    }
    ConsulError::Transport(format!("{prefix}: {}", innermost(err)))
}

/// The errors behind `err`, outermost first, looking through `io::Error` wrappers (whose
/// `source()` skips the wrapped error).
fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = vec![];
    let mut next = Some(err);
    while let Some(current) = next {
        out.push(current);
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    out
}

fn find_tls_error(err: &reqwest::Error) -> Option<&rustls::Error> {
    chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
}

fn find_io_error(err: &reqwest::Error) -> Option<&std::io::Error> {
    chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
}

fn innermost(err: &reqwest::Error) -> String {
    chain(err)
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_format() {
        assert_eq!(go_duration_ms(Duration::from_secs(300)), "300000ms");
        assert_eq!(go_duration_ms(Duration::from_micros(10)), "1ms");
        assert_eq!(go_duration_ms(Duration::ZERO), "0ms");
    }

    #[test]
    fn urls_escape_names_and_carry_the_partition() {
        let config = ConsulConfig {
            address: "http://127.0.0.1:8500/proxy".into(),
            partition: Some("team a".into()),
            ..Default::default()
        };
        let client = Client::new(&config).unwrap();
        assert_eq!(
            client.peering_url("dc/2").unwrap().as_str(),
            "http://127.0.0.1:8500/proxy/v1/peering/dc%2F2?partition=team+a"
        );
        assert_eq!(
            client.url(&["v1", "peerings"]).as_str(),
            "http://127.0.0.1:8500/proxy/v1/peerings?partition=team+a"
        );
        assert!(matches!(
            client.peering_url(""),
            Err(ConsulError::InvalidRequest(_))
        ));
    }
}
