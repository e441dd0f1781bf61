//! The reconcilers and what they share: the `Context`, the triggers that wake them (their own
//! resources, token Secrets by label and metadata only, and Consul peering changes), and the
//! error policy.

pub mod acceptor;
mod caches;
pub mod delivery;
pub mod dialer;
pub mod error;
mod events;
mod mesh;
mod own_writes;
pub mod peerings;
pub mod plan;
mod reconcile;
mod status;
pub mod token_secret;
mod triggers;
mod unstored;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

pub use crate::consul::ConsulClients;
use crate::crd::{FINALIZER, SecretOwner};
use crate::telemetry::{Health, Metrics};
pub use error::Error;
use peerings::ConsulPeerings;

/// How the controllers run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch only this namespace (all when `None`).
    pub namespace: Option<String>,
    /// How long one blocking query of `GET /v1/peerings` waits for a change.
    pub consul_wait: Duration,
    /// Name of this replica in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            consul_wait: Duration::from_secs(10),
            instance: None,
        }
    }
}

/// What every reconcile gets.
pub struct Context {
    pub kube: kube::Client,
    pub consul: Arc<ConsulClients>,
    pub peerings: Arc<ConsulPeerings>,
    pub metrics: Arc<Metrics>,
    pub recorder: events::EventRecorder,
    /// Clients of, and watches on, the clusters tokens are delivered to.
    pub remotes: delivery::RemoteClusters,
    /// Consecutive failures per resource, for the capped exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Per dialer, the last token Consul refused: tried once, not in a loop.
    rejected_tokens: Mutex<HashMap<String, RejectedToken>>,
    /// Per acceptor, a token Consul issued whose Secret write failed.
    unstored: unstored::UnstoredTokens,
    /// Per resource, the status its last pass reported. What the Events tell is new against
    /// this, not against the cached object, which may not hold the operator's own last write.
    reported: Mutex<HashMap<String, Reported>>,
    /// The acceptors' own writes of their token Secrets (see `own_writes`).
    own_secret_writes: own_writes::OwnSecretWrites,
}

/// What a pass reported (see [`status::LastReport`]), for the object with this uid.
#[derive(Clone, Debug)]
struct Reported {
    uid: Option<String>,
    last: status::LastReport,
}

/// A token Consul refused, by fingerprint, with the status message that said so: a later pass
/// that finds the same token reports the same message, so status and Events do not change.
#[derive(Clone, Debug)]
struct RejectedToken {
    fingerprint: String,
    message: String,
    /// Refused for its establishment secret (spent or superseded), not for its form: worth
    /// reporting to the accepting side.
    secret_refused: bool,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        consul: Arc<ConsulClients>,
        metrics: Arc<Metrics>,
        config: &Config,
    ) -> Arc<Context> {
        let reporter = Reporter {
            controller: "consul-peering-operator".into(),
            instance: config.instance.clone(),
        };
        // A standby says so until it leads (`run` sets it).
        metrics.set_leader(config.instance.as_deref().unwrap_or_default(), false);
        Arc::new(Context {
            recorder: events::EventRecorder::new(kube.clone(), reporter),
            peerings: ConsulPeerings::new(consul.clone(), metrics.clone(), config.consul_wait),
            kube,
            consul,
            metrics,
            remotes: delivery::RemoteClusters::default(),
            failures: Mutex::new(HashMap::new()),
            rejected_tokens: Mutex::new(HashMap::new()),
            unstored: unstored::UnstoredTokens::default(),
            own_secret_writes: own_writes::OwnSecretWrites::default(),
            reported: Mutex::new(HashMap::new()),
        })
    }

    fn failed(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn rejected_token(&self, key: &str) -> Option<RejectedToken> {
        self.rejected_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn set_rejected_token(&self, key: &str, token: Option<RejectedToken>) {
        let mut rejected = self
            .rejected_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match token {
            Some(token) => rejected.insert(key.to_owned(), token),
            None => rejected.remove(key),
        };
    }

    /// What the last pass reported for `obj` (not for an earlier object of its name).
    fn reported<K: Resource<DynamicType = ()>>(&self, obj: &K) -> Option<status::LastReport> {
        let reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let last = reported
            .get(&resource_key(obj))
            .filter(|r| r.uid == obj.uid())?;
        Some(last.last.clone())
    }

    fn set_reported<K: Resource<DynamicType = ()>>(&self, obj: &K, last: status::LastReport) {
        let reported = Reported {
            uid: obj.uid(),
            last,
        };
        self.reported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(resource_key(obj), reported);
    }

    fn forget_reported(&self, key: &str) {
        self.reported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The namespaced API of a resource's own namespace.
    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.kube.clone(), namespace)
    }
}

fn resource_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// What the controller runtime calls after a failed reconcile. The status already says what
/// went wrong (the reconcile wrote it); here only the retry is decided.
fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let failures = ctx.failed(&resource_key(&*obj));
    if error.is_transient() {
        Action::requeue(error::backoff(failures))
    } else {
        Action::await_change()
    }
}

/// Runs one reconcile with its metrics and failure bookkeeping.
async fn instrumented<K, F>(
    controller: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: impl FnOnce(Arc<K>, Arc<Context>) -> F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    F: Future<Output = Result<Action, Error>>,
{
    let key = resource_key(&*obj);
    // A deleting resource whose reconcile succeeds is gone (its finalizer was removed).
    let gone = obj
        .meta()
        .deletion_timestamp
        .is_some()
        .then(|| (obj.namespace().unwrap_or_default(), obj.name_any()));
    let started = Instant::now();
    let result = reconcile(obj, ctx.clone()).await;
    ctx.metrics.reconciled(controller, started.elapsed());
    match &result {
        Ok(_) => {
            ctx.succeeded(&key);
            if let Some((namespace, name)) = &gone {
                ctx.metrics.resource_deleted(&K::kind(&()), namespace, name);
                ctx.forget_reported(&key);
            }
        }
        Err(e) => {
            ctx.metrics.reconcile_failed(controller, e.reason());
            tracing::warn!(resource = %key, reason = e.reason(), error = %e, "reconcile failed");
        }
    }
    result
}

/// Counts the failures of a controller's own watch (kube-runtime starts it again with backoff).
fn count_watch_restarts<K: Resource, E>(
    metrics: Arc<Metrics>,
    watch: &'static str,
) -> impl FnMut(&caches::ControllerResult<K, E>) {
    move |result| {
        if let Err(controller::Error::QueueError(_)) = result {
            metrics.watch_restarted(watch);
        }
    }
}

/// The API for the watched namespace, or all namespaces.
fn scoped_api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + DeserializeOwned,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What of a resource's own changes wakes its reconcile: everything but its status and its
/// finalizers as the operator writes them. Those change by the operator's own writes, and the
/// pass that wrote them has already acted; waking for them cost a reconcile per write (and a
/// second status write whenever the cache had not caught up yet). One finalizer change does
/// wake it: the operator's finalizer gone from a resource it has reported on was removed by
/// hand, and is put back before a delete could leave the Consul peering behind.
fn wakes_its_reconcile<K: reconcile::Reconciled>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    let finalizer_removed =
        obj.current_status().is_some() && !obj.finalizers().iter().any(|f| f == FINALIZER);
    finalizer_removed.hash(&mut hasher);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// What sets one kind's controller apart.
struct Kind<K> {
    /// The `controller` label of its metrics.
    controller: &'static str,
    /// Its own watch in the watch-restart metric.
    watch: &'static str,
    /// Whether a resource reads (or writes) a token Secret.
    uses_secret: fn(&K, &PartialObjectMeta<Secret>, Option<&SecretOwner>) -> bool,
    /// Whether it writes token Secrets itself, whose own writes wake no one.
    writes_secrets: bool,
}

/// One kind's controller, woken by its own objects, the token Secrets they use, Consul's
/// changes of their peers and `wakeups`. It ends at `shutdown` (at once while its cache has
/// not synced); its store tells when the cache has.
fn controller<K, S, W>(
    ctx: &Arc<Context>,
    namespace: Option<&str>,
    kind: Kind<K>,
    wakeups: W,
    health: &Health,
    shutdown: S,
) -> (impl Future<Output = ()> + use<K, S, W>, Store<K>)
where
    K: reconcile::Reconciled,
    S: Future<Output = ()> + Clone + Send + Sync + 'static,
    W: Stream<Item = ObjectRef<K>> + Send + 'static,
{
    let (store, writer) = reflector::store();
    let objects = reflector(
        writer,
        watcher(
            scoped_api::<K>(&ctx.kube, namespace),
            watcher::Config::default(),
        )
        // No pass reads them, and they are a large part of a cached object.
        .modify(|obj| obj.managed_fields_mut().clear()),
    )
    .applied_objects()
    .predicate_filter(wakes_its_reconcile, PredicateConfig::default());
    let controller = Controller::for_stream(objects, store.clone());
    let name = kind.controller;
    let run = controller
        .reconcile_on(triggers::secret_events(
            &ctx.kube,
            namespace,
            store.clone(),
            kind.uses_secret,
            kind.writes_secrets.then(|| ctx.clone()),
        ))
        .reconcile_on(triggers::peering_events(&ctx.peerings, store.clone()))
        .reconcile_on(wakeups)
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |obj, ctx| instrumented(name, obj, ctx, reconcile::reconcile),
            error_policy,
            ctx.clone(),
        )
        .inspect(count_watch_restarts(ctx.metrics.clone(), kind.watch))
        .for_each(caches::note_watch_errors(health.clone()));
    let run = caches::ends_unsynced_at_shutdown(run, store.clone(), shutdown);
    (run, store)
}

/// Runs both controllers until `shutdown` completes; in-flight reconciles finish first (the
/// caller bounds how long), and a controller whose cache has not synced yet ends at once.
pub async fn run(
    ctx: Arc<Context>,
    config: Config,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let namespace = config.namespace.as_deref();
    let identity = config.instance.clone().unwrap_or_default();
    ctx.metrics.set_leader(&identity, true);
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));

    let remote_wakeups = futures::stream::iter(ctx.remotes.take_wakeups()).flatten();
    let acceptors = Kind {
        controller: "acceptor",
        watch: "peeringacceptors",
        uses_secret: triggers::acceptor_uses_secret,
        writes_secrets: true,
    };
    let (acceptors, acceptor_store) = controller(
        &ctx,
        namespace,
        acceptors,
        remote_wakeups,
        &health,
        shutdown.clone(),
    );
    let dialers = Kind {
        controller: "dialer",
        watch: "peeringdialers",
        uses_secret: triggers::dialer_uses_secret,
        writes_secrets: false,
    };
    let (dialers, dialer_store) = controller(
        &ctx,
        namespace,
        dialers,
        futures::stream::empty(),
        &health,
        shutdown.clone(),
    );
    let (meshes, mesh_store) = mesh::controller(&ctx, namespace, &health, shutdown);

    let synced = async move {
        let (a, d, m) = futures::join!(
            caches::track_sync(health.clone(), "PeeringAcceptor", acceptor_store),
            caches::track_sync(health.clone(), "PeeringDialer", dialer_store),
            caches::track_sync(health, "PeeringMesh", mesh_store)
        );
        if a && d && m {
            tracing::info!("caches synced; reconciling");
        }
    };
    futures::join!(acceptors, dialers, meshes, synced);
    // Not reconciling any more: the resources are the next leader's to report.
    ctx.metrics.set_leader(&identity, false);
    ctx.metrics.forget_resources();
}
