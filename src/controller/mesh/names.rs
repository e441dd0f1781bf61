//! The names of what a mesh creates for a pair: stable, readable, and unique per mesh and pair
//! in each member (a member's peers are the other members, by name).

/// For the pair where `acceptor` accepts and `dialer` dials, in mesh `mesh`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PairNames {
    /// The PeeringAcceptor in the accepting member: `<mesh>-<dialer>`.
    pub acceptor: String,
    /// Its token Secret: `<mesh>-token-<dialer>`.
    pub token_secret: String,
    /// The dialing member's kubeconfig in the accepting member: `<mesh>-<dialer>-kubeconfig`.
    pub kubeconfig_secret: String,
    /// The token Secret delivered to the dialing member: `<mesh>-token-<acceptor>`.
    pub delivered_secret: String,
    /// The PeeringDialer in the dialing member: `<mesh>-<acceptor>`.
    pub dialer: String,
}

impl PairNames {
    pub(super) fn of(mesh: &str, acceptor: &str, dialer: &str) -> PairNames {
        PairNames {
            acceptor: format!("{mesh}-{dialer}"),
            token_secret: format!("{mesh}-token-{dialer}"),
            kubeconfig_secret: format!("{mesh}-{dialer}-kubeconfig"),
            delivered_secret: format!("{mesh}-token-{acceptor}"),
            dialer: format!("{mesh}-{acceptor}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_is_named_for_its_peer() {
        let names = PairNames::of("mesh", "dc1", "dc2");
        assert_eq!(names.acceptor, "mesh-dc2");
        assert_eq!(names.dialer, "mesh-dc1");
        assert_eq!(names.token_secret, "mesh-token-dc2");
        assert_eq!(names.delivered_secret, "mesh-token-dc1");
        assert_eq!(names.kubeconfig_secret, "mesh-dc2-kubeconfig");
    }
}
