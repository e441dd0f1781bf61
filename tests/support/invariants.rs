//! The invariants every reliability scenario ends with (issue 10), in one checker: after the
//! scenario, wait until both operators are at rest (no write for a while), then check that
//!
//! - every acceptor's Secret, and every copy delivered from it, holds the newest token Consul
//!   issued for its peer;
//! - Consul issued exactly as many tokens as the scenario's causes justify;
//! - no Consul peering, token Secret or delivered copy is left without its resource;
//! - no token, establishment secret or 64-character slice of a token shows in the operators'
//!   trace log, in any status or Event, or in the metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use consul_peering_operator::consul::PeeringToken;
use consul_peering_operator::crd::{SECRET_ANNOTATION_OWNER, SecretOwner};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::two_clusters::{Dc, TIMEOUT, TwoClusters, secret_value};

/// How long nothing may be written for the operators to count as at rest.
pub const QUIET: Duration = Duration::from_secs(3);

/// Writes so far, by datacenter, API, verb and resource (reads and leases left out).
fn writes(tc: &TwoClusters) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for dc in [&tc.dc1, &tc.dc2] {
        for c in dc.kube.request_counts() {
            let write = matches!(
                c.verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection"
            );
            if write && !c.resource.starts_with("leases.") {
                *out.entry(format!("{} kube {} {}", dc.name, c.verb, c.resource))
                    .or_default() += c.count;
            }
        }
        for c in dc.consul.counters() {
            if c.method != "GET" {
                *out.entry(format!(
                    "{} consul {} {} {}",
                    dc.name, c.method, c.endpoint, c.status
                ))
                .or_default() += c.count;
            }
        }
    }
    out
}

/// Waits until nothing is written in either cluster or Consul for [`QUIET`]; fails after
/// [`TIMEOUT`] naming what kept being written.
pub async fn wait_at_rest(tc: &TwoClusters) {
    let deadline = Instant::now() + TIMEOUT;
    let mut before = writes(tc);
    loop {
        tokio::time::sleep(QUIET).await;
        let now = writes(tc);
        if now == before {
            return;
        }
        let changed: Vec<String> = now
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {} -> {v}", before.get(k).copied().unwrap_or(0)))
            .collect();
        assert!(
            Instant::now() < deadline,
            "the operators never came to rest; still writing:\n{}\nlog tail:\n{}",
            changed.join("\n"),
            tc.logs.tail(40)
        );
        before = now;
    }
}

/// Every invariant, after waiting for rest. `tokens_caused` is how many tokens the scenario's
/// causes justify (one per acceptor created, per rotation, per token Secret deleted …);
/// `also` are more texts that must hold no token (recorded histories, a process's output).
pub async fn check(tc: &TwoClusters, tokens_caused: usize, also: &[(&str, String)]) {
    wait_at_rest(tc).await;
    let issued: Vec<_> = [&tc.dc1, &tc.dc2]
        .iter()
        .flat_map(|dc| dc.consul.issued_tokens())
        .collect();
    assert_eq!(
        issued.len(),
        tokens_caused,
        "tokens issued (peer names: {:?}) against tokens caused",
        issued.iter().map(|t| &t.peer_name).collect::<Vec<_>>()
    );
    for dc in [&tc.dc1, &tc.dc2] {
        newest_tokens_held(tc, dc).await;
        no_orphan_peering(dc).await;
    }
    no_orphan_secret(tc).await;
    let tokens: Vec<String> = issued.into_iter().map(|t| t.token).collect();
    no_token_shown(tc, &tokens, also).await;
}

/// The peer name and the Secret (name, key) of an acceptor.
fn acceptor_peer(a: &consul_peering_operator::crd::PeeringAcceptor) -> (String, String, String) {
    let peer = a.spec.peer_name.clone().unwrap_or_else(|| a.name_any());
    let secret = &a.spec.peer.secret;
    (peer, secret.name.clone(), secret.key.clone())
}

/// Each acceptor of `dc` (not being deleted) and its delivered copies hold the newest token
/// `dc`'s Consul issued for its peer.
async fn newest_tokens_held(tc: &TwoClusters, dc: &Dc) {
    let issued = dc.consul.issued_tokens();
    let acceptors = dc
        .acceptors()
        .list(&ListParams::default())
        .await
        .expect("list");
    for a in acceptors {
        if a.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (peer, secret, key) = acceptor_peer(&a);
        let partition = a.spec.partition.clone().unwrap_or_default();
        let newest = issued
            .iter()
            .rev()
            .find(|t| t.peer_name == peer && t.partition == partition)
            .map(|t| t.token.as_str());
        let held = secret_value(&dc.secrets(), &secret, &key).await;
        assert!(
            newest.is_some() && held.as_deref() == newest,
            "{}: acceptor {}'s Secret {secret} does not hold the newest token Consul issued for \
             {peer} (holds one: {}, issued {} for it)",
            dc.name,
            a.name_any(),
            held.is_some(),
            issued.iter().filter(|t| t.peer_name == peer).count()
        );
        let other = if dc.name == tc.dc1.name {
            &tc.dc2
        } else {
            &tc.dc1
        };
        for d in a.status.iter().flat_map(|s| &s.delivery) {
            let copies: Api<Secret> = Api::namespaced(other.client(), &d.namespace);
            let copy = secret_value(&copies, &d.secret_name, &key).await;
            assert!(
                copy.as_deref() == newest,
                "{}: the copy {}/{} of acceptor {} does not hold its newest token",
                other.name,
                d.namespace,
                d.secret_name,
                a.name_any()
            );
        }
    }
}

/// Every peering `dc`'s Consul holds belongs to an acceptor or a dialer of `dc`.
async fn no_orphan_peering(dc: &Dc) {
    let mut owned: BTreeSet<String> = BTreeSet::new();
    for a in dc
        .acceptors()
        .list(&ListParams::default())
        .await
        .expect("list")
    {
        owned.insert(acceptor_peer(&a).0);
    }
    for d in dc
        .dialers()
        .list(&ListParams::default())
        .await
        .expect("list")
    {
        owned.insert(d.spec.peer_name.clone().unwrap_or_else(|| d.name_any()));
    }
    for p in dc.consul.peerings("") {
        assert!(
            owned.contains(&p.name),
            "{}: Consul peering {} ({:?}) belongs to no resource",
            dc.name,
            p.name,
            p.state
        );
    }
}

/// Every Secret the operator wrote (token Secrets and delivered copies, which name their
/// acceptor) belongs to an acceptor that still exists.
async fn no_orphan_secret(tc: &TwoClusters) {
    let mut acceptors = BTreeSet::new();
    for dc in [&tc.dc1, &tc.dc2] {
        for a in dc
            .acceptors()
            .list(&ListParams::default())
            .await
            .expect("list")
        {
            acceptors.insert(a.uid().unwrap_or_default());
        }
    }
    for dc in [&tc.dc1, &tc.dc2] {
        let secrets: Api<Secret> = Api::all(dc.client());
        for s in secrets.list(&ListParams::default()).await.expect("list") {
            let Some(owner) = s.annotations().get(SECRET_ANNOTATION_OWNER) else {
                continue;
            };
            let owner = SecretOwner::parse(owner);
            assert!(
                owner.as_ref().is_some_and(|o| acceptors.contains(&o.uid)),
                "{}: Secret {}/{} outlived its acceptor {owner:?}",
                dc.name,
                s.namespace().unwrap_or_default(),
                s.name_any()
            );
        }
    }
}

/// Texts a token must never appear in: both operators' trace log, every status and Event of
/// both clusters, both operators' metrics, and `also`.
async fn no_token_shown(tc: &TwoClusters, tokens: &[String], also: &[(&str, String)]) {
    let searcher = TokenSearch::new(tokens);
    let log = tc.logs.text();
    assert!(
        log.contains("consul_peering_operator") && log.contains("TRACE"),
        "the log capture is empty"
    );
    searcher.assert_absent(&log, "the operators' trace log");
    for dc in [&tc.dc1, &tc.dc2] {
        let shown = super::two_clusters::statuses_and_events(dc).await;
        searcher.assert_absent(&shown, &format!("{}'s statuses and Events", dc.name));
        let metrics = metrics(dc).await;
        assert!(metrics.contains("# TYPE"), "{}: no metrics read", dc.name);
        searcher.assert_absent(&metrics, &format!("{}'s metrics", dc.name));
    }
    for (place, text) in also {
        searcher.assert_absent(text, place);
    }
}

async fn metrics(dc: &Dc) -> String {
    let url = format!("http://{}/metrics", dc.metrics);
    reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .expect("the operator serves /metrics")
        .text()
        .await
        .expect("metrics text")
}

/// Finds any token, establishment secret or 64-character slice of a token in a text in one
/// pass: a 64-character slice always holds one whole 32-character piece of the token cut at
/// multiples of 32, so those pieces are what is searched for.
pub struct TokenSearch {
    searcher: Option<AhoCorasick>,
    /// What each pattern is, to name it in a failure (never the pattern itself).
    names: Vec<String>,
}

const PIECE: usize = 32;

impl TokenSearch {
    pub fn new(tokens: &[String]) -> TokenSearch {
        let mut patterns = Vec::new();
        let mut names = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let secret = PeeringToken::new(token.clone())
                .decode()
                .expect("a peering token")
                .establishment_secret
                .expose()
                .to_owned();
            patterns.push(secret);
            names.push(format!("the establishment secret of token #{i}"));
            for (n, piece) in token.as_bytes().chunks_exact(PIECE).enumerate() {
                patterns.push(String::from_utf8_lossy(piece).into_owned());
                names.push(format!("characters {}.. of token #{i}", n * PIECE));
            }
        }
        let searcher =
            (!patterns.is_empty()).then(|| AhoCorasick::new(&patterns).expect("patterns"));
        TokenSearch { searcher, names }
    }

    /// Fails if `text` holds any part of a token, showing the line with the part masked.
    pub fn assert_absent(&self, text: &str, place: &str) {
        let Some(searcher) = &self.searcher else {
            return;
        };
        if let Some(found) = searcher.find(text) {
            let start = text[..found.start()].rfind('\n').map_or(0, |i| i + 1);
            let end = text[found.end()..]
                .find('\n')
                .map_or(text.len(), |i| found.end() + i);
            let line = format!(
                "{}<{}>{}",
                &text[start..found.start()],
                self.names[found.pattern().as_usize()],
                &text[found.end()..end]
            );
            panic!("a token shows in {place}: {line}");
        }
    }
}
