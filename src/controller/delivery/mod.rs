//! Delivery of the token Secret to the dialing clusters (`PeeringAcceptor.spec.delivery`):
//! each target is a kubeconfig held in a Secret of the acceptor's namespace; the operator
//! applies the token Secret there (same label, so the remote PeeringDialer's watch sees it),
//! watches the remote copies by label and metadata only, and writes again when a copy is
//! missing or stale. A failing target never blocks the acceptor's own `Ready`.
//!
//! Kubeconfigs come from Secrets that users write, so only inline credentials are accepted
//! (`policy`): no exec plugins, auth providers or file paths, which would let a Secret run
//! commands or read files inside the operator's pod.

mod deliver;
mod policy;
mod remote_clients;
mod remote_dialer;
mod watches;
mod withdraw;

use kube::runtime::reflector::ObjectRef;

use crate::crd::{DeliveryTarget, PeeringAcceptor};
pub use deliver::{Outcome, deliver};
pub(crate) use remote_clients::RemoteClients;
pub(crate) use watches::{RemoteWatches, Watched};
pub use withdraw::withdraw;

/// Annotation on a delivered Secret: when the operator wrote it (RFC 3339).
pub const ANNOTATION_DELIVERED_AT: &str = "consulpeering.io/delivered-at";

/// Why a target (or a mesh member) could not be served.
#[derive(Debug)]
pub(crate) struct Failure {
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
        }
    }
}

/// Remote clusters: their clients (rebuilt when the kubeconfig Secret changes) and the watches
/// on the copies delivered there.
#[derive(Default)]
pub struct RemoteClusters {
    clients: RemoteClients,
    watches: RemoteWatches<PeeringAcceptor>,
}

impl RemoteClusters {
    /// The acceptors whose delivered copies changed remotely; taken once, by the controller.
    pub fn take_wakeups(
        &self,
    ) -> Option<impl futures::Stream<Item = ObjectRef<PeeringAcceptor>> + Send + 'static> {
        self.watches.take_wakeups()
    }
}

/// One acceptor's targets and the means to reach them.
struct Targets<'a> {
    acceptor: &'a PeeringAcceptor,
    /// The operator's own cluster, where the kubeconfig Secrets are.
    local: &'a kube::Client,
    remotes: &'a RemoteClusters,
    /// The acceptor's namespace.
    namespace: String,
}

impl<'a> Targets<'a> {
    fn of(
        acceptor: &'a PeeringAcceptor,
        local: &'a kube::Client,
        remotes: &'a RemoteClusters,
    ) -> Self {
        Targets {
            acceptor,
            local,
            remotes,
            namespace: kube::ResourceExt::namespace(acceptor).unwrap_or_default(),
        }
    }

    /// The spec's targets.
    fn listed(&self) -> impl Iterator<Item = &'a DeliveryTarget> + use<'a> {
        self.acceptor.spec.delivery.iter().flatten()
    }

    /// Where the watches of `target` go: its namespace in the cluster of `remote`, reached
    /// with version `kubeconfig_version` of its kubeconfig Secret.
    fn watched<'b>(
        &'b self,
        target: &'b DeliveryTarget,
        kubeconfig_version: &'b str,
        remote: &'b kube::Client,
    ) -> Watched<'b> {
        Watched {
            kubeconfig_version,
            namespace: &target.namespace,
            remote,
            origin: format!("{}/{}", self.namespace, target.kubeconfig_secret_ref.name),
        }
    }

    /// The client of `target`'s cluster, with the kubeconfig Secret's resourceVersion.
    async fn client(&self, target: &DeliveryTarget) -> Result<(String, kube::Client), Failure> {
        self.remotes
            .clients
            .client(self.local, &self.namespace, &target.kubeconfig_secret_ref)
            .await
    }
}
