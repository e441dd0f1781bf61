//! The mesh's members as the controller reaches them: this cluster, or another through the
//! kubeconfig Secret the member names (clients shared with delivery's, rebuilt when the Secret
//! changes), and the watches on the acceptors the mesh applied in each.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::MeshContext;
use crate::controller::delivery::{Failure, Watched};
use crate::crd::{KubeconfigSecretRef, LABEL_MESH_MANAGED, PeeringAcceptor, reason};

/// A member's cluster: its client and what identifies it for the watches.
pub(super) struct Reached {
    pub client: kube::Client,
    /// The kubeconfig Secret's resourceVersion ("" for this cluster).
    version: String,
    /// `namespace/name` of the kubeconfig Secret, or `local`.
    origin: String,
}

/// The cluster of a member with kubeconfig `kubeconfig` (none: this cluster), whose Secret is
/// in the mesh's namespace.
pub(super) async fn reach(
    ctx: &MeshContext,
    mesh_namespace: &str,
    member: &str,
    kubeconfig: Option<&KubeconfigSecretRef>,
) -> Result<Reached, Failure> {
    let Some(secret_ref) = kubeconfig else {
        return Ok(Reached {
            client: ctx.ctx.kube.clone(),
            version: String::new(),
            origin: "local".into(),
        });
    };
    let (version, client) = ctx
        .clients
        .client(&ctx.ctx.kube, mesh_namespace, secret_ref)
        .await
        .map_err(|f| Failure::new(f.reason, format!("member {member}: {}", f.message)))?;
    Ok(Reached {
        client,
        version,
        origin: format!("{mesh_namespace}/{}", secret_ref.name),
    })
}

/// Watches the acceptors meshes applied in `namespace` of a member (once per kubeconfig
/// version), so that their status changes wake the mesh.
pub(super) fn watch_acceptors(ctx: &MeshContext, reached: &Reached, namespace: &str) {
    let at = Watched {
        kubeconfig_version: &reached.version,
        namespace,
        remote: &reached.client,
        origin: reached.origin.clone(),
    };
    let selector = format!("{LABEL_MESH_MANAGED}=true");
    ctx.watches
        .watch::<PeeringAcceptor>("peeringacceptors", at, &selector);
}

/// The kubeconfig a member's Secret holds, to copy into the clusters that deliver to it.
pub(super) async fn kubeconfig(
    ctx: &MeshContext,
    mesh_namespace: &str,
    member: &str,
    secret_ref: &KubeconfigSecretRef,
) -> Result<Vec<u8>, Failure> {
    let secrets: Api<Secret> = Api::namespaced(ctx.ctx.kube.clone(), mesh_namespace);
    let secret = secrets.get_opt(&secret_ref.name).await.map_err(|e| {
        Failure::new(
            reason::KUBERNETES_ERROR,
            format!(
                "reading kubeconfig Secret {mesh_namespace}/{}: {e}",
                secret_ref.name
            ),
        )
    })?;
    secret
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(&secret_ref.key))
        .map(|v| v.0)
        .ok_or_else(|| {
            Failure::new(
                reason::INVALID_KUBECONFIG,
                format!(
                    "member {member}: kubeconfig Secret {mesh_namespace}/{} or its key {:?} does \
                     not exist",
                    secret_ref.name, secret_ref.key
                ),
            )
        })
}

/// A failed call to a member's API server.
pub(super) fn unreachable(member: &str) -> impl Fn(kube::Error) -> Failure + '_ {
    move |e| Failure::new(reason::MEMBER_UNREACHABLE, format!("member {member}: {e}"))
}
