//! Observability (issue 12): the chart's Grafana dashboard and PrometheusRule, rendered by the real Helm library and
//! validated; every PromQL expression in them parsed with `promql-parser` and checked against the metric names the
//! running operators export after the playground's flow; the alert expressions evaluated against scrapes of that
//! flow (a peering forced to FAILING fires the not-ACTIVE alert, a healthy one fires nothing); `kubectl get -o wide`
//! and the Events that tell what happened last.
//!
//! With `OBSERVABILITY_SAMPLES=<file>` the flow's scrapes are also written there as JSON, for
//! `docs/dashboard/render.py`, which draws the README's picture of the dashboard from them.

use support::helm;

#[path = "observability/promql.rs"]
mod promql;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consul_peering_operator::crd::{ConditionStatus, reason};
use helm::{Release, Rendered, Validation};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use promql::{Labels, Store, eval, metric_names};
use promql_parser::parser::{Expr, parse};
use serde_json::{Value, json};
use support::columns::{ACCEPTOR_WIDE, DIALER_WIDE};
use support::two_clusters::*;
use test_support::kubectl::{Kubectl, binaries, table};

const RELEASE_NAMESPACE: &str = "ops";
const METRIC_PREFIX: &str = "consul_peering_operator_";

fn render(values_file: &str) -> Rendered {
    let release =
        Release::new(RELEASE_NAMESPACE).values_file(helm::chart_dir().join("ci").join(values_file));
    helm::render(&release).unwrap_or_else(|e| panic!("render of {values_file} failed: {e}"))
}

/// The chart with the dashboard and the rules on.
fn observability() -> Rendered {
    render("observability-values.yaml")
}

/// The dashboard as the ConfigMap carries it.
fn dashboard(rendered: &Rendered) -> Value {
    let config_map = rendered.one("ConfigMap");
    let json = config_map["data"]["consul-peering-operator.json"]
        .as_str()
        .expect("the dashboard JSON in the ConfigMap");
    serde_json::from_str(json).expect("the dashboard is JSON")
}

/// Every panel, those inside rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// A Grafana query as Prometheus receives it: the dashboard's variables replaced by what Grafana sends for "All"
/// and its interval variables by a duration.
fn as_promql(query: &str) -> String {
    query
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$datacenter", ".*")
        .replace("$namespace", ".*")
}

/// Every PromQL expression of the dashboard: the panels' queries and the variables' `label_values(selector, label)`
/// selectors, with where each comes from.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            out.push((format!("panel {:?}", panel["title"]), as_promql(expr)));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .expect("a query variable's query");
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _label)| selector)
            .unwrap_or_else(|| {
                panic!(
                    "variable {}: label_values(selector, label) expected",
                    variable["name"]
                )
            });
        out.push((format!("variable {}", variable["name"]), as_promql(inner)));
    }
    out
}

/// An alert of the PrometheusRule.
struct Alert {
    name: String,
    rule: Value,
    expr: Expr,
}

fn alerts_of(rendered: &Rendered) -> Vec<Alert> {
    let rule = rendered.one("PrometheusRule");
    let groups = rule["spec"]["groups"].as_array().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .map(|rule| {
            let name = rule["alert"]
                .as_str()
                .expect("only alerting rules")
                .to_owned();
            let text = rule["expr"].as_str().expect("an expr");
            let expr =
                parse(text).unwrap_or_else(|e| panic!("{name}: {text:?} does not parse: {e}"));
            Alert {
                name,
                rule: rule.clone(),
                expr,
            }
        })
        .collect()
}

fn alert<'a>(alerts: &'a [Alert], name: &str) -> &'a Alert {
    alerts
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no alert {name}"))
}

#[test]
fn dashboard_configmap_and_rules_render_validate_and_stay_opt_in() {
    let rendered = observability();
    let config_map = rendered.one("ConfigMap");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(config_map["metadata"]["labels"]["grafana_folder"], "consul");
    assert_eq!(config_map["metadata"]["namespace"], RELEASE_NAMESPACE);
    // The ConfigMap carries the chart's file unchanged.
    let file =
        std::fs::read_to_string(helm::chart_dir().join("dashboards/consul-peering-operator.json"))
            .unwrap();
    assert_eq!(
        config_map["data"]["consul-peering-operator.json"].as_str(),
        Some(file.trim_end())
    );

    // kubernetes-validate knows ConfigMaps; the PrometheusRule is a custom resource it has no schema for, so its
    // shape is checked here, rule by rule.
    let objects = [config_map, rendered.one("PrometheusRule")];
    let results = helm::validate(&objects);
    assert_eq!(results[0], Validation::Valid, "the dashboard ConfigMap");
    assert_eq!(results[1], Validation::NoSchema, "the PrometheusRule");

    let rule = rendered.one("PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let alerts = alerts_of(&rendered);
    let names: Vec<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ConsulPeeringNotActive",
            "ConsulPeeringTokenRejected",
            "ConsulPeeringOperatorConsulErrors",
            "ConsulPeeringOperatorReconcileErrors",
            "ConsulPeeringOperatorNoLeader",
            "ConsulPeeringDeliveryFailing",
        ]
    );
    let readme = std::fs::read_to_string(helm::chart_dir().join("README.md")).unwrap();
    for alert in &alerts {
        let rule = &alert.rule;
        let what = &alert.name;
        assert!(
            ["warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap()),
            "{what}"
        );
        assert_eq!(
            rule["labels"]["team"], "platform",
            "{what}: prometheusRule.alertLabels"
        );
        assert!(
            rule["annotations"]["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{what}"
        );
        let description = rule["annotations"]["description"].as_str().unwrap();
        // The per-resource alerts name the resource; the operator-wide ones the operator.
        assert!(
            description.contains("{{ $labels.namespace }}"),
            "{what}: {description}"
        );
        if rule.get("for").is_some() {
            let r#for = rule["for"].as_str().unwrap();
            assert!(["1m", "5m", "10m"].contains(&r#for), "{what}: for {for}");
        }
        let runbook = rule["annotations"]["runbook_url"].as_str().unwrap();
        let anchor = runbook.rsplit_once('#').expect("an anchor").1;
        assert_eq!(anchor, what.to_lowercase(), "{what}");
        assert!(
            readme.contains(&format!("\n### {what}\n")),
            "{what}: no runbook section in the chart README"
        );
    }
    assert_eq!(alert(&alerts, "ConsulPeeringNotActive").rule["for"], "5m");
    assert_eq!(
        alert(&alerts, "ConsulPeeringOperatorNoLeader").rule["for"],
        "1m"
    );
    assert_eq!(
        alert(&alerts, "ConsulPeeringDeliveryFailing").rule["for"],
        "10m"
    );

    // Without leader election there is no leader to miss; without the values nothing is rendered.
    let single = helm::render(
        &Release::new(RELEASE_NAMESPACE).set(json!({"prometheusRule": {"enabled": true}})),
    )
    .unwrap();
    assert!(
        alerts_of(&single)
            .iter()
            .all(|a| a.name != "ConsulPeeringOperatorNoLeader")
    );
    assert!(
        alerts_of(&single)
            .iter()
            .all(|a| a.rule["annotations"].get("runbook_url").is_none()),
        "no runbookBaseUrl, no runbook_url"
    );
    let default = render("default-values.yaml");
    assert_eq!(default.of_kind("ConfigMap").count(), 0);
    assert_eq!(default.of_kind("PrometheusRule").count(), 0);
    // Bad values are refused by the schema.
    for bad in [
        json!({"prometheusRule": {"consulErrorsPerSecond": 0}}),
        json!({"prometheusRule": {"runbookBaseUrl": "not a url"}}),
        json!({"dashboards": {"enabled": "yes"}}),
        json!({"dashboards": {"namespace": "Not_A_Namespace"}}),
    ] {
        assert!(
            helm::render(&Release::new(RELEASE_NAMESPACE).set(bad.clone())).is_err(),
            "{bad} was accepted"
        );
    }
}

#[test]
fn dashboard_is_a_grafana_10_dashboard_with_datacenter_and_namespace_variables() {
    let dashboard = dashboard(&observability());
    assert!(
        dashboard["schemaVersion"].as_i64().unwrap() >= 36,
        "Grafana 10/11 schema"
    );
    assert_eq!(dashboard["uid"], "consul-peering-operator");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "datacenter", "namespace"]);
    let mut ids = BTreeSet::new();
    let titles: Vec<&str> = panels(&dashboard)
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for panel in panels(&dashboard) {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "duplicate panel id {}",
            panel["id"]
        );
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_i64().unwrap() + grid["w"].as_i64().unwrap() <= 24,
            "{}",
            panel["title"]
        );
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                // Every query follows the datacenter variable.
                assert!(
                    expr.contains("datacenter=~\"$datacenter\""),
                    "{}: {expr}",
                    panel["title"]
                );
            }
        }
    }
    for wanted in [
        "Peerings by state",
        "Peering state per resource",
        "Time since last ACTIVE",
        "Tokens generated by cause",
        "Dialer token rejections",
        "Delivery failures per target",
        "Reconcile rate",
        "Reconcile errors",
        "Reconcile duration p99",
        "Consul requests by endpoint and status",
        "Consul request latency p99",
        "Watch restarts",
        "Leader",
    ] {
        assert!(
            titles.contains(&wanted),
            "no panel {wanted:?} in {titles:?}"
        );
    }
}

#[test]
fn every_query_of_the_dashboard_and_the_rules_parses_and_reads_operator_metrics() {
    let rendered = observability();
    let mut count = 0;
    for (place, query) in dashboard_queries(&dashboard(&rendered)) {
        let expr =
            parse(&query).unwrap_or_else(|e| panic!("{place}: {query:?} does not parse: {e}"));
        let names = metric_names(&expr).unwrap_or_else(|e| panic!("{place}: {e}"));
        assert!(!names.is_empty(), "{place}: {query} reads no metric");
        assert!(
            names.iter().all(|n| n.starts_with(METRIC_PREFIX)),
            "{place}: {names:?}"
        );
        count += 1;
    }
    assert!(count > 15, "{count} queries");
    for alert in alerts_of(&rendered) {
        let names = metric_names(&alert.expr).unwrap();
        assert!(
            names.iter().all(|n| n.starts_with(METRIC_PREFIX)),
            "{}: {names:?}",
            alert.name
        );
    }
}

/// Scrapes of both operators, taken in the background through a test.
#[derive(Clone, Default)]
struct Scrapes(
    Arc<Mutex<Vec<Scrape>>>,
    Arc<Mutex<Vec<(f64, &'static str)>>>,
);

struct Scrape {
    dc: &'static str,
    /// Seconds since the test started.
    at: f64,
    /// Unix time of the scrape, as Prometheus would stamp it.
    wall: f64,
    text: String,
}

impl Scrapes {
    /// Scrapes both operators every 250 ms until the returned handle is aborted.
    fn start(c: &TwoClusters, started: Instant) -> (Scrapes, tokio::task::JoinHandle<()>) {
        let scrapes = Scrapes::default();
        let targets = [("dc1", c.dc1.metrics), ("dc2", c.dc2.metrics)];
        let sink = scrapes.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                for (dc, address) in targets {
                    let text = scrape(&client, address).await;
                    let at = started.elapsed().as_secs_f64();
                    let wall = unix_now();
                    sink.0.lock().unwrap().push(Scrape { dc, at, wall, text });
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        (scrapes, task)
    }

    /// One operator's scrapes taken at or after `since`, as a store.
    fn store(&self, dc: &str, since: f64) -> Store {
        let mut store = Store::default();
        for s in self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.dc == dc && s.at >= since)
        {
            store
                .add_scrape(s.at, &s.text)
                .expect("the exposition parses");
        }
        store
    }

    fn last_at(&self) -> f64 {
        self.0.lock().unwrap().last().map_or(0.0, |s| s.at)
    }

    /// Waits for `n` more scrapes of each operator.
    async fn more(&self, n: usize) {
        let count = |s: &Scrapes| s.0.lock().unwrap().len();
        let target = count(self) + 2 * n;
        let deadline = Instant::now() + TIMEOUT;
        while count(self) < target {
            assert!(
                Instant::now() < deadline,
                "the operators' /metrics do not answer"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The metric families the newest scrape of each operator declares (`# TYPE`), without the prefix.
    fn families(&self) -> BTreeSet<String> {
        let scrapes = self.0.lock().unwrap();
        let newest = ["dc1", "dc2"].map(|dc| scrapes.iter().rev().find(|s| s.dc == dc));
        newest
            .iter()
            .flatten()
            .flat_map(|s| s.text.lines())
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
            .map(|name| name.strip_prefix(METRIC_PREFIX).unwrap_or(name).to_owned())
            .collect()
    }

    /// Notes what the test did at this moment, for the picture.
    fn mark(&self, started: Instant, what: &'static str) {
        self.1
            .lock()
            .unwrap()
            .push((started.elapsed().as_secs_f64(), what));
    }

    fn write_json(&self, path: &str) {
        let samples: Vec<Value> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|s| json!({"dc": s.dc, "at": s.at, "wall": s.wall, "text": s.text}))
            .collect();
        let marks: Vec<Value> = self
            .1
            .lock()
            .unwrap()
            .iter()
            .map(|(at, what)| json!({"at": at, "what": what}))
            .collect();
        let out = json!({"scrapes": samples, "marks": marks});
        std::fs::write(path, out.to_string()).expect("write the samples");
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn scrape(client: &reqwest::Client, address: std::net::SocketAddr) -> String {
    let response = client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    assert!(
        response.status().is_success(),
        "/metrics: {}",
        response.status()
    );
    response.text().await.expect("/metrics body")
}

/// The metric families of the README's table in "Metrics and health" (a counter's `_total` is its samples' suffix).
fn readme_metrics(readme: &str) -> BTreeSet<String> {
    let section = readme
        .split("\n## Metrics and health\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Metrics and health section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(|name| name.strip_suffix("_total").unwrap_or(name).to_owned())
        .collect()
}

/// The alert's expression at the newest scrape of one operator (taken at or after `since`): (kind, namespace, name)
/// of each element, or its whole label set when it has no resource.
fn firing(alert: &Alert, scrapes: &Scrapes, dc: &str, since: f64) -> Vec<Labels> {
    let store = scrapes.store(dc, since);
    let found = eval(&alert.expr, &store, scrapes.last_at())
        .and_then(|v| v.vector())
        .unwrap_or_else(|e| panic!("{}: {e}", alert.name));
    found.into_iter().map(|(labels, _)| labels).collect()
}

fn resource(labels: &Labels) -> (String, String, String) {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    (get("kind"), get("namespace"), get("name"))
}

#[tokio::test]
async fn the_alerts_follow_a_playground_peering_through_failing_and_back() {
    let rendered = observability();
    let alerts = alerts_of(&rendered);
    let not_active = alert(&alerts, "ConsulPeeringNotActive");
    let started = Instant::now();
    let c = TwoClusters::start().await;
    let (scrapes, scraping) = Scrapes::start(&c, started);

    // The playground's flow: dc2's kubeconfig, the example acceptor (delivering) and dialer, both ACTIVE.
    c.peer_from_examples().await;
    scrapes.mark(started, "peered");
    let healthy_since = started.elapsed().as_secs_f64();
    scrapes.more(3).await;

    // Every metric the dashboard and the rules read is one the operators export.
    let mut exported = scrapes.store("dc1", 0.0).metric_names();
    exported.extend(scrapes.store("dc2", 0.0).metric_names());
    let mut read = BTreeSet::new();
    for (place, query) in dashboard_queries(&dashboard(&rendered)) {
        for name in metric_names(&parse(&query).unwrap()).unwrap() {
            read.insert((name, place.clone()));
        }
    }
    for alert in &alerts {
        for name in metric_names(&alert.expr).unwrap() {
            read.insert((name, format!("alert {}", alert.name)));
        }
    }
    // The README's metrics table lists every metric family the operators declare, and no other.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert_eq!(
        readme_metrics(&readme),
        scrapes.families(),
        "README.md's metrics table"
    );
    for (name, place) in &read {
        assert!(
            exported.contains(name),
            "{place} reads {name}, which /metrics does not export: {exported:#?}"
        );
    }

    // Healthy: no alert's expression has an element, on either side.
    for alert in &alerts {
        for dc in ["dc1", "dc2"] {
            let found = firing(alert, &scrapes, dc, healthy_since);
            assert!(
                found.is_empty(),
                "{dc}: {} while healthy: {found:?}",
                alert.name
            );
        }
    }
    let dc1 = scrapes.store("dc1", healthy_since);
    let state = |kind: &str, name: &str, state: &str| -> Labels {
        [
            ("__name__", "consul_peering_operator_peering_state"),
            ("kind", kind),
            ("namespace", NS),
            ("name", name),
            ("state", state),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    assert_eq!(
        dc1.latest(&state("PeeringAcceptor", ACCEPTOR, "ACTIVE")),
        Some(1.0)
    );

    // A broken stream: both sides FAILING, and the not-ACTIVE expression names exactly those two resources.
    assert!(c.dc2.consul.drop_stream("", DIALER, None));
    scrapes.mark(started, "stream broken");
    wait_for(&c.dc2.dialers(), DIALER, "FAILING", |d| {
        dialer_state(d) == Some("FAILING")
    })
    .await;
    wait_for(&c.dc1.acceptors(), ACCEPTOR, "FAILING", |a| {
        acceptor_state(a) == Some("FAILING")
    })
    .await;
    let failing_since = started.elapsed().as_secs_f64();
    scrapes.more(2).await;
    let on_dc1: Vec<_> = firing(not_active, &scrapes, "dc1", failing_since)
        .iter()
        .map(resource)
        .collect();
    let on_dc2: Vec<_> = firing(not_active, &scrapes, "dc2", failing_since)
        .iter()
        .map(resource)
        .collect();
    assert_eq!(
        on_dc1,
        [("PeeringAcceptor".into(), NS.into(), ACCEPTOR.into())]
    );
    assert_eq!(on_dc2, [("PeeringDialer".into(), NS.into(), DIALER.into())]);
    // Its last-ACTIVE time stands still, in the past.
    let last_active: Labels = [
        (
            "__name__",
            "consul_peering_operator_peering_last_active_timestamp_seconds",
        ),
        ("kind", "PeeringDialer"),
        ("namespace", NS),
        ("name", DIALER),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let dc2 = scrapes.store("dc2", failing_since);
    let left = dc2.latest(&last_active).expect("a last-ACTIVE time");
    let now = unix_now();
    assert!(
        left < now && now - left < TIMEOUT.as_secs_f64(),
        "last ACTIVE {left}, now {now}"
    );

    // Recovered: the expression is empty again.
    c.dc2.consul.clear_faults();
    scrapes.mark(started, "stream back");
    c.wait_peered().await;
    let recovered_since = started.elapsed().as_secs_f64();
    scrapes.more(2).await;
    for dc in ["dc1", "dc2"] {
        let found = firing(not_active, &scrapes, dc, recovered_since);
        assert!(
            found.is_empty(),
            "{dc}: still not ACTIVE after recovery: {found:?}"
        );
    }

    // A rotation, for the picture's tokens by cause; then the dialer's series go with it.
    let first = secret_value(&c.dc1.secrets(), TOKEN_SECRET, "data").await;
    rotate(&c.dc1.acceptors(), ACCEPTOR, 1).await;
    scrapes.mark(started, "rotated");
    let fresh = fingerprint(&wait_token(&c.dc1.secrets(), TOKEN_SECRET, first.as_deref()).await);
    wait_for(
        &c.dc2.dialers(),
        DIALER,
        "established with the new token",
        |d| {
            d.status
                .as_ref()
                .and_then(|s| s.token_fingerprint.as_deref())
                == Some(fresh.as_str())
        },
    )
    .await;
    c.wait_peered().await;
    scrapes.more(4).await;
    let dc1 = scrapes.store("dc1", 0.0);
    let rotations: Labels = [
        ("__name__", "consul_peering_operator_tokens_generated_total"),
        ("cause", "rotation"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(dc1.latest(&rotations), Some(1.0));
    c.dc2
        .dialers()
        .delete(DIALER, &Default::default())
        .await
        .unwrap();
    scrapes.mark(started, "dialer deleted");
    wait_gone(&c.dc2.dialers(), DIALER).await;
    scrapes.more(2).await;
    let text = &scrapes
        .0
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s.dc == "dc2")
        .unwrap()
        .text
        .clone();
    assert!(
        !text.contains(&format!("name=\"{DIALER}\"")),
        "the deleted dialer's series remain:\n{text}"
    );

    scraping.abort();
    if let Ok(path) = std::env::var("OBSERVABILITY_SAMPLES") {
        scrapes.write_json(&path);
    }
    c.stop().await;
}

/// Events of one resource, oldest first: (type, reason, message).
async fn events_of(dc: &Dc, kind: &str, name: &str) -> Vec<(String, String, String)> {
    let events: Api<Event> = Api::namespaced(dc.client(), NS);
    let mut list: Vec<Event> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .collect();
    // Most recently observed last: a repeated Event is one series whose lastObservedTime moves (eventTime has
    // microseconds; the other timestamps only seconds).
    list.sort_by_key(|e| {
        let series = e
            .series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref());
        series
            .or(e.event_time.as_ref())
            .map(|t| t.0)
            .or(e.last_timestamp.as_ref().map(|t| t.0))
    });
    list.into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn wide_columns_and_events_tell_what_happened_last() {
    let c = TwoClusters::start().await;
    c.peer_from_examples().await;
    assert!(c.dc2.consul.drop_stream("", DIALER, None));
    wait_for(&c.dc2.dialers(), DIALER, "FAILING", |d| {
        is(
            dialer_ready(d),
            ConditionStatus::False,
            reason::PEERING_FAILING,
        )
    })
    .await;
    c.dc2.consul.clear_faults();
    c.wait_peered().await;

    // The dialer's Events end with the recovery, saying from what (published right after the status write).
    // (A repeated Event is counted in its series with the note it was first published with: only the
    // reason is checked here.)
    let recovered = |events: &[(String, String, String)]| {
        events
            .last()
            .is_some_and(|(t, r, _)| t == "Normal" && r == reason::ACTIVE)
    };
    let deadline = Instant::now() + TIMEOUT;
    let dialer_events = loop {
        let events = events_of(&c.dc2, "PeeringDialer", DIALER).await;
        if recovered(&events) || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(recovered(&dialer_events), "{dialer_events:#?}");
    let reasons: Vec<&str> = dialer_events.iter().map(|(_, r, _)| r.as_str()).collect();
    let established = reasons
        .iter()
        .position(|r| *r == "Established")
        .expect("Established");
    let failing = reasons
        .iter()
        .rposition(|r| *r == reason::PEERING_FAILING)
        .expect("PeeringFailing");
    assert!(established < failing, "{dialer_events:#?}");
    assert!(
        dialer_events.last().unwrap().2.contains("is active"),
        "{dialer_events:#?}"
    );
    // The acceptor's tell the token's way to dc2.
    let acceptor_events = events_of(&c.dc1, "PeeringAcceptor", ACCEPTOR).await;
    let delivered = acceptor_events
        .iter()
        .find(|(_, r, _)| r == "TokenDelivered")
        .unwrap_or_else(|| panic!("no TokenDelivered in {acceptor_events:#?}"));
    assert_eq!(delivered.0, "Normal");
    assert!(
        delivered
            .2
            .contains(&format!("Secret {TOKEN_SECRET} in namespace {NS}"))
            && delivered.2.contains(KUBECONFIG_SECRET),
        "{delivered:?}"
    );
    assert!(
        acceptor_events
            .iter()
            .any(|(_, r, _)| r == "TokenGenerated"),
        "{acceptor_events:#?}"
    );

    // -o wide: peer name, peering ID, last sync and (acceptor) the delivery target.
    let acceptor = c.dc1.acceptors().get(ACCEPTOR).await.unwrap();
    let status = acceptor.status.as_ref().unwrap();
    let dialer = c.dc2.dialers().get(DIALER).await.unwrap();
    let dialer_status = dialer.status.as_ref().unwrap();
    for binary in binaries() {
        let dir = support::operator::scratch_file("observability-kubeconfig");
        std::fs::create_dir_all(&dir).unwrap();
        let (one, two) = (dir.join("dc1"), dir.join("dc2"));
        c.dc1.kube.write_kubeconfig(&one).unwrap();
        c.dc2.kube.write_kubeconfig(&two).unwrap();
        let kubectl = Kubectl::new(binary).with_kubeconfig(&one);
        let wide = kubectl
            .ok(&["get", "peeringacceptors", "-n", NS, "-o", "wide"])
            .await;
        let rows = table(&wide);
        assert_eq!(rows[0], ACCEPTOR_WIDE, "{wide}");
        let row = &rows[1];
        assert_eq!(row[0], ACCEPTOR);
        assert_eq!(row[6], status.peering_id.clone().unwrap());
        assert!(
            row[7].ends_with('s') || row[7].ends_with('m'),
            "LAST SYNC is an age: {wide}"
        );
        assert_eq!((row[8].as_str(), row[9].as_str()), (NS, "True"), "{wide}");
        let kubectl = Kubectl::new(binary).with_kubeconfig(&two);
        let wide = kubectl
            .ok(&["get", "peeringdialers", "-n", NS, "-o", "wide"])
            .await;
        let rows = table(&wide);
        assert_eq!(rows[0], DIALER_WIDE, "{wide}");
        assert_eq!(
            rows[1][6],
            dialer_status.peering_id.clone().unwrap(),
            "{wide}"
        );
        assert_eq!(rows[1][8], "dc1", "{wide}");
    }
    c.stop().await;
}
