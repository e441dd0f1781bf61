//! The `/v1` HTTP API as Consul's agent serves it (`agent/http.go`, `peering_endpoint.go`):
//! Go `ServeMux` routing, the `wrap` method checks, request decoding, query options, blocking
//! queries and plain-text errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::dc::{Datacenter, EstablishArgs, GenerateArgs};
use crate::errors::ApiError;
use crate::gojson::{self, FieldsExt, StructTy, Ty};
use crate::model::Peering;
use crate::{control, counters, goduration};
use emulator_common::gofmt;
use emulator_common::gojson::marshal;

/// Consul's default and maximum blocking query waits.
const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
const MAX_WAIT: Duration = Duration::from_secs(10 * 60);
const BODY_LIMIT: usize = 32 * 1024 * 1024;

static GENERATE_REQUEST: StructTy = StructTy {
    qualified: "api.PeeringGenerateTokenRequest",
    name: "PeeringGenerateTokenRequest",
    fields: &[
        ("PeerName", Ty::Str),
        ("Partition", Ty::Str),
        ("Meta", Ty::StrMap),
        ("ServerExternalAddresses", Ty::StrSlice),
    ],
};

static ESTABLISH_REQUEST: StructTy = StructTy {
    qualified: "api.PeeringEstablishRequest",
    name: "PeeringEstablishRequest",
    fields: &[
        ("PeerName", Ty::Str),
        ("PeeringToken", Ty::Str),
        ("Partition", Ty::Str),
        ("Meta", Ty::StrMap),
    ],
};

/// Entry point of every request on the API listener.
pub async fn handle(State(dc): State<Arc<Datacenter>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/emulator" || path.starts_with("/emulator/") {
        return control::handle(dc, req).await;
    }
    let method = req.method().to_string();
    if let Some(delay) = dc.faults.delay() {
        tokio::time::sleep(delay).await;
    }
    let response = match dc.faults.take_failure() {
        Some(failure) => text(failure.status, &failure.body, HeaderMap::new()),
        None => route(&dc, req).await,
    };
    let endpoint = counters::endpoint_of(&percent_decode(&path).unwrap_or(path));
    dc.counters
        .record(&method, &endpoint, response.status().as_u16());
    response
}

/// Go's `ServeMux` plus the handlers Consul registers on it.
async fn route(dc: &Arc<Datacenter>, req: Request) -> Response {
    let Some(path) = percent_decode(req.uri().path()) else {
        return text(400, "400 Bad Request", HeaderMap::new());
    };
    // cleanhttp.PrintablePathCheckHandler
    if path.chars().any(|c| !gofmt::is_printable(c)) {
        return empty(StatusCode::BAD_REQUEST, HeaderMap::new());
    }
    let clean = clean_path(&path);
    if clean != path {
        return redirect(&req, &clean);
    }
    let endpoint = match path.as_str() {
        "/v1/peering/token" => Endpoint::Token,
        "/v1/peering/establish" => Endpoint::Establish,
        "/v1/peerings" => Endpoint::List,
        "/v1/peering" => return redirect(&req, "/v1/peering/"),
        p if p.starts_with("/v1/peering/") => Endpoint::One(p["/v1/peering/".len()..].to_string()),
        "/" => {
            return text(
                200,
                "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.",
                HeaderMap::new(),
            );
        }
        p if p.contains("/v1/") => {
            return text(
                404,
                "Invalid URL path: not a recognized HTTP API endpoint\n",
                HeaderMap::new(),
            );
        }
        _ => {
            return text(
                404,
                "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n",
                HeaderMap::new(),
            );
        }
    };
    wrap(dc, endpoint, req).await
}

enum Endpoint {
    Token,
    Establish,
    List,
    One(String),
}

impl Endpoint {
    fn methods(&self) -> &'static [&'static str] {
        match self {
            Endpoint::Token | Endpoint::Establish => &["POST"],
            Endpoint::List => &["GET"],
            Endpoint::One(_) => &["GET", "DELETE"],
        }
    }
}

/// A successful answer before `wrap` writes it.
enum Reply {
    Json { body: Vec<u8>, meta: Option<u64> },
    Empty,
}

/// Consul's `wrap`: common headers, query check, OPTIONS, method check, error rendering.
async fn wrap(dc: &Arc<Datacenter>, endpoint: Endpoint, req: Request) -> Response {
    let mut headers = HeaderMap::new();
    let policy = if dc.acl.enabled() { "deny" } else { "allow" };
    headers.insert(
        "X-Consul-Default-ACL-Policy",
        HeaderValue::from_static(policy),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let Some(query) = Query::parse(req.uri().query().unwrap_or("")) else {
        return empty(StatusCode::INTERNAL_SERVER_ERROR, headers);
    };
    let allowed = endpoint.methods();
    if req.method() == Method::OPTIONS {
        headers.insert(header::ALLOW, allow_header(allowed));
        return empty(StatusCode::OK, headers);
    }
    if !allowed.contains(&req.method().as_str()) {
        headers.insert(header::ALLOW, allow_header(allowed));
        return text(
            405,
            &format!("method {} not allowed", req.method()),
            headers,
        );
    }
    let pretty = query.has("pretty");
    let (parts, body) = req.into_parts();
    let result = match endpoint {
        Endpoint::Token => generate(dc, &parts.headers, &query, body)
            .await
            .map(|r| (None, r)),
        Endpoint::Establish => establish(dc, &parts.headers, &query, body)
            .await
            .map(|r| (None, r)),
        Endpoint::List => list(dc, &parts.headers, &query, pretty).await,
        Endpoint::One(name) if name.is_empty() => {
            Err(ApiError::bad_request("Must specify a name to fetch."))
        }
        Endpoint::One(name) if parts.method == Method::GET => {
            read(dc, &parts.headers, &query, &name, pretty).await
        }
        Endpoint::One(name) => delete(dc, &parts.headers, &query, &name).map(|r| (None, r)),
    };
    let (early, outcome) = match result {
        Ok((early, reply)) => (early, Ok(reply)),
        Err(e) => (None, Err(e)),
    };
    render(early, outcome, headers)
}

fn render(
    early: Option<String>,
    outcome: Result<Reply, ApiError>,
    mut headers: HeaderMap,
) -> Response {
    // A query option Consul's `parse` refused: it already wrote a 400 and its text, and the
    // rest of the answer is appended to that body (headers set later are lost).
    if let Some(early) = early {
        let rest = match outcome {
            Ok(Reply::Json { body, .. }) => body,
            Ok(Reply::Empty) => Vec::new(),
            Err(e) => e.body().into_bytes(),
        };
        let mut body = early.into_bytes();
        body.extend(rest);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return build(StatusCode::BAD_REQUEST, headers, body);
    }
    match outcome {
        Ok(Reply::Json { body, meta }) => {
            if let Some(index) = meta {
                headers.insert("X-Consul-Index", HeaderValue::from(index.max(1)));
                headers.insert("X-Consul-KnownLeader", HeaderValue::from_static("true"));
                headers.insert("X-Consul-LastContact", HeaderValue::from_static("0"));
            }
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            build(StatusCode::OK, headers, body)
        }
        Ok(Reply::Empty) => empty(StatusCode::OK, headers),
        Err(e) => text(e.status(), &e.body(), headers),
    }
}

fn allow_header(methods: &[&str]) -> HeaderValue {
    let mut all = vec!["OPTIONS"];
    all.extend_from_slice(methods);
    HeaderValue::from_str(&all.join(",")).expect("method names are header-safe")
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| ApiError::bad_request(format!("Body decoding failed: {e}")))
}

fn decode(body: &[u8], ty: &'static StructTy) -> Result<gojson::Fields, ApiError> {
    gojson::decode_body(body, ty)
        .map_err(|e| ApiError::bad_request(format!("Body decoding failed: {e}")))
}

async fn generate(
    dc: &Arc<Datacenter>,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Reply, ApiError> {
    let fields = decode(&read_body(body).await?, &GENERATE_REQUEST)?;
    let peer_name = fields.string("PeerName");
    if peer_name.is_empty() {
        return Err(ApiError::bad_request(
            "PeerName is required in the payload when generating a new peering token.",
        ));
    }
    let request_partition = ent_partition(dc, headers, query)?;
    let mut partition = fields.string("Partition");
    if partition.is_empty() {
        partition = request_partition;
    }
    let args = GenerateArgs {
        peer_name,
        partition,
        meta: fields.map("Meta").unwrap_or_default(),
        server_external_addresses: fields.list("ServerExternalAddresses").unwrap_or_default(),
    };
    let token = dc.generate_token(args, &request_token(headers, query))?;
    #[derive(serde::Serialize)]
    struct Out {
        #[serde(rename = "PeeringToken")]
        peering_token: String,
    }
    Ok(Reply::Json {
        body: marshal(
            &Out {
                peering_token: token,
            },
            query.has("pretty"),
        ),
        meta: None,
    })
}

async fn establish(
    dc: &Arc<Datacenter>,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Reply, ApiError> {
    let fields = decode(&read_body(body).await?, &ESTABLISH_REQUEST)?;
    let peer_name = fields.string("PeerName");
    if peer_name.is_empty() {
        return Err(ApiError::bad_request(
            "PeerName is required in the payload when establishing a peering.",
        ));
    }
    let peering_token = fields.string("PeeringToken");
    if peering_token.is_empty() {
        return Err(ApiError::bad_request(
            "PeeringToken is required in the payload when establishing a peering.",
        ));
    }
    let request_partition = ent_partition(dc, headers, query)?;
    let mut partition = fields.string("Partition");
    if partition.is_empty() {
        partition = request_partition;
    }
    let args = EstablishArgs {
        peer_name,
        partition,
        peering_token,
        meta: fields.map("Meta").unwrap_or_default(),
    };
    dc.establish(args, &request_token(headers, query)).await?;
    let empty: BTreeMap<String, String> = BTreeMap::new();
    Ok(Reply::Json {
        body: marshal(&empty, query.has("pretty")),
        meta: None,
    })
}

async fn read(
    dc: &Arc<Datacenter>,
    headers: &HeaderMap,
    query: &Query,
    name: &str,
    pretty: bool,
) -> Result<(Option<String>, Reply), ApiError> {
    let partition = ent_partition(dc, headers, query)?;
    let (early, opts) = QueryOptions::parse(headers, query);
    let outcome = async {
        dc.authorize_read(&partition, &request_token(headers, query))?;
        let record_partition = dc.record_partition(&partition);
        let (index, found) = blocking(dc, &opts, || {
            let s = dc.store();
            match s.get(&record_partition, name) {
                Some(r) => (r.modify_index, Some(s.view(r))),
                None => (s.partition_index(&record_partition), None),
            }
        })
        .await;
        match found {
            Some(view) => Ok(Reply::Json {
                body: marshal(&view, pretty),
                meta: Some(index),
            }),
            None => Err(ApiError::Http {
                status: 404,
                reason: format!("Peering not found for {}", gofmt::quote(name)),
            }),
        }
    }
    .await;
    with_early(early, outcome)
}

async fn list(
    dc: &Arc<Datacenter>,
    headers: &HeaderMap,
    query: &Query,
    pretty: bool,
) -> Result<(Option<String>, Reply), ApiError> {
    let partition = ent_partition(dc, headers, query)?;
    let (early, opts) = QueryOptions::parse(headers, query);
    let outcome = async {
        dc.authorize_read(&partition, &request_token(headers, query))?;
        let record_partition = dc.record_partition(&partition);
        let (index, views) = blocking(dc, &opts, || {
            let s = dc.store();
            let views: Vec<Peering> = s
                .list(&record_partition)
                .into_iter()
                .map(|r| s.view(r))
                .collect();
            (s.partition_index(&record_partition), views)
        })
        .await;
        Ok(Reply::Json {
            body: marshal(&views, pretty),
            meta: Some(index),
        })
    }
    .await;
    with_early(early, outcome)
}

/// Joins a refused query option with the rest of the answer (see [`render`]).
fn with_early(
    early: Option<String>,
    outcome: Result<Reply, ApiError>,
) -> Result<(Option<String>, Reply), ApiError> {
    match (early, outcome) {
        (None, outcome) => outcome.map(|r| (None, r)),
        (Some(early), Ok(reply)) => Ok((Some(early), reply)),
        (Some(early), Err(e)) => Ok((Some(format!("{early}{}", e.body())), Reply::Empty)),
    }
}

fn delete(
    dc: &Arc<Datacenter>,
    headers: &HeaderMap,
    query: &Query,
    name: &str,
) -> Result<Reply, ApiError> {
    let partition = ent_partition(dc, headers, query)?;
    dc.delete(name, &partition, &request_token(headers, query))?;
    Ok(Reply::Empty)
}

/// Runs `compute` as a Consul blocking query: returns at once without `index`, else as soon
/// as the index passes it or the wait (plus jitter) runs out.
async fn blocking<T>(
    dc: &Datacenter,
    opts: &QueryOptions,
    compute: impl Fn() -> (u64, T),
) -> (u64, T) {
    let mut changes = dc.changes.subscribe();
    let mut result = compute();
    if opts.min_index == 0 {
        return result;
    }
    let deadline = tokio::time::Instant::now() + opts.timeout();
    while result.0.max(1) <= opts.min_index {
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
        }
        result = compute();
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Request options

/// Go's `url.ParseQuery` result (first value wins for `Get`).
pub struct Query(Vec<(String, String)>);

impl Query {
    /// `None` where Go's `ParseQuery` fails (bad escapes, semicolons): Consul answers 500.
    pub fn parse(raw: &str) -> Option<Query> {
        let mut pairs = Vec::new();
        for part in raw.split('&') {
            if part.is_empty() {
                continue;
            }
            if part.contains(';') {
                return None;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((query_unescape(k)?, query_unescape(v)?));
        }
        Some(Query(pairs))
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

fn query_unescape(s: &str) -> Option<String> {
    percent_decode_with(&s.replace('+', " "))
}

/// Decodes `%XX` escapes of a URL path; `None` on a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_decode_with(s)
}

fn percent_decode_with(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The ACL token: `?token=`, else `X-Consul-Token`, else `Authorization: Bearer`.
fn request_token(headers: &HeaderMap, query: &Query) -> String {
    let from_query = query.get("token");
    if !from_query.is_empty() {
        return from_query.to_string();
    }
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let consul = header_text("X-Consul-Token");
    if !consul.is_empty() {
        return consul.to_string();
    }
    let auth = header_text("Authorization");
    let parts: Vec<&str> = auth.split(' ').collect();
    if parts.len() > 1 && parts[0].eq_ignore_ascii_case("bearer") {
        let value = parts[1..].join(" ");
        return value
            .trim()
            .split(' ')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
    }
    String::new()
}

/// `parseEntMetaPartition`: Community Edition refuses the header, then the query parameter;
/// Enterprise takes the query parameter, then the header.
fn ent_partition(dc: &Datacenter, headers: &HeaderMap, query: &Query) -> Result<String, ApiError> {
    let header_value = headers
        .get("X-Consul-Partition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query_value = query.get("partition");
    if dc.enterprise() {
        return Ok(if query_value.is_empty() {
            header_value
        } else {
            query_value
        }
        .to_string());
    }
    if !header_value.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid header: \"X-Consul-Partition\" - Partitions are a Consul Enterprise feature",
        ));
    }
    if !query_value.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise feature",
        ));
    }
    Ok(String::new())
}

/// The blocking-query options of Consul's `parse`.
struct QueryOptions {
    min_index: u64,
    wait: Option<i64>,
}

impl QueryOptions {
    /// Parses consistency, Cache-Control, `wait` and `index` in Consul's order. The first
    /// refusal is returned as the text Consul writes (and stops parsing, as Consul does).
    fn parse(headers: &HeaderMap, query: &Query) -> (Option<String>, QueryOptions) {
        let mut opts = QueryOptions {
            min_index: 0,
            wait: None,
        };
        let stale = query.has("stale");
        let consistent = query.has("consistent");
        let cached = query.has("cached");
        let mut allow_stale = stale;
        let max_stale = query.get("max_stale");
        if !max_stale.is_empty() {
            match goduration::parse(max_stale) {
                None => {
                    return (
                        Some(format!(
                            "Invalid max_stale value {}",
                            gofmt::quote(max_stale)
                        )),
                        opts,
                    );
                }
                Some(d) if d > 0 => allow_stale = true,
                Some(_) => {}
            }
        }
        if allow_stale && consistent {
            return (
                Some("Cannot specify ?stale with ?consistent, conflicting semantics.".into()),
                opts,
            );
        }
        if cached && consistent {
            return (
                Some("Cannot specify ?cached with ?consistent, conflicting semantics.".into()),
                opts,
            );
        }
        let cache_control = headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_lowercase();
        for directive in cache_control
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            let value = directive
                .strip_prefix("max-age=")
                .or_else(|| directive.strip_prefix("stale-if-error="));
            if let Some(v) = value
                && v.parse::<i64>().is_err()
            {
                return (Some("Invalid Cache-Control header.".into()), opts);
            }
        }
        let wait = query.get("wait");
        if !wait.is_empty() {
            match goduration::parse(wait) {
                None => return (Some("Invalid wait time".into()), opts),
                Some(ns) => opts.wait = Some(ns),
            }
        }
        let index = query.get("index");
        if !index.is_empty() {
            match index.parse::<u64>() {
                Ok(i) if index.bytes().all(|c| c.is_ascii_digit()) => opts.min_index = i,
                _ => return (Some("Invalid index".into()), opts),
            }
        }
        (None, opts)
    }

    /// The wait, clamped as Consul clamps it, plus up to 1/16 of jitter.
    fn timeout(&self) -> Duration {
        let wait = match self.wait {
            Some(ns) if ns > 0 => Duration::from_nanos(ns as u64).min(MAX_WAIT),
            _ => DEFAULT_WAIT,
        };
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        wait + (wait / 16).mul_f64(fraction)
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and responses

/// Go's `cleanPath`: resolve `.`/`..` and duplicate slashes, keep a trailing slash.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

/// Go's `http.Redirect` with 301.
fn redirect(req: &Request, to: &str) -> Response {
    let mut location = to.to_string();
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let body = format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(&location)
        );
        return build(StatusCode::MOVED_PERMANENTLY, headers, body.into_bytes());
    }
    empty(StatusCode::MOVED_PERMANENTLY, headers)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// A plain-text answer (Go sniffs `text/plain; charset=utf-8` from such bodies).
fn text(status: u16, body: &str, mut headers: HeaderMap) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    build(status, headers, body.as_bytes().to_vec())
}

fn empty(status: StatusCode, headers: HeaderMap) -> Response {
    build(status, headers, Vec::new())
}

fn build(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_parsing() {
        let q = Query::parse("index=5&wait=1s&pretty&token=a+b%21").unwrap();
        assert_eq!(q.get("index"), "5");
        assert!(q.has("pretty"));
        assert_eq!(q.get("token"), "a b!");
        assert!(Query::parse("a=%zz").is_none());
        assert!(Query::parse("a=1;b=2").is_none());
    }

    #[test]
    fn paths_are_cleaned_like_go() {
        assert_eq!(clean_path("/v1//peerings"), "/v1/peerings");
        assert_eq!(clean_path("/v1/peering/a/../b/"), "/v1/peering/b/");
        assert_eq!(clean_path("/v1/peerings"), "/v1/peerings");
    }

    #[test]
    fn waits_are_clamped_and_jittered_as_consul_does() {
        let within = |wait: Option<i64>, base: Duration| {
            let t = QueryOptions { min_index: 1, wait }.timeout();
            assert!(t >= base && t < base + base / 16, "{wait:?}: {t:?}");
        };
        within(None, DEFAULT_WAIT);
        within(Some(0), DEFAULT_WAIT);
        within(Some(-5), DEFAULT_WAIT);
        within(Some(20 * 60 * 1_000_000_000), MAX_WAIT);
        within(Some(2_000_000_000), Duration::from_secs(2));
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        h.insert("Authorization", HeaderValue::from_static("Bearer  abc def"));
        assert_eq!(request_token(&h, &Query::parse("").unwrap()), "abc");
        h.insert("X-Consul-Token", HeaderValue::from_static("xyz"));
        assert_eq!(request_token(&h, &Query::parse("").unwrap()), "xyz");
        assert_eq!(request_token(&h, &Query::parse("token=q").unwrap()), "q");
    }
}
