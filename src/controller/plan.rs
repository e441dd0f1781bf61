//! The decisions of both reconcilers as pure functions of what they observed: what the token
//! Secret records, what Consul says about the peering, and what the spec asks for. Kept free of
//! I/O so every rule that can cost a single-use token is covered by plain unit tests.

use crate::consul::PeeringState;

/// Consul's view of one peering, reduced to what the decisions need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeeringView {
    /// Consul has no peering of that name.
    Absent,
    Present(PeeringFacts),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeeringFacts {
    pub id: String,
    pub state: PeeringState,
    /// Dialer side: the fingerprint of the token it was established with (from the peering's Meta).
    pub token_fingerprint: Option<String>,
    /// Dialer side: the rotation version it was established for (from the peering's Meta).
    pub version: Option<i64>,
}

impl PeeringFacts {
    fn is_deleting(&self) -> bool {
        self.state == PeeringState::Deleting
    }
}

/// Why a token is generated or a peering established; also the label of the metric and the
/// reason of the Kubernetes Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// First token (or first establish) for this resource.
    Created,
    /// The rotation annotation rose above the version acted on.
    Rotation,
    /// The token Secret disappeared.
    SecretMissing,
    /// The peering disappeared from Consul (deleted out of band).
    PeeringGone,
    /// A spec field that goes into the token changed (peer name, partition, meta, addresses).
    SpecChanged,
    /// Dialer: the token in the Secret is not the one the peering was established with.
    TokenChanged,
    /// Acceptor: the dialing side reported (on its delivered copy) that Consul refused the
    /// current token while the peering never got past `PENDING`: an establish spent it and did
    /// not finish, so only a new token can complete the peering.
    PeerRefused,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::Created => "created",
            Cause::Rotation => "rotation",
            Cause::SecretMissing => "secret-missing",
            Cause::PeeringGone => "peering-gone",
            Cause::SpecChanged => "spec-changed",
            Cause::TokenChanged => "token-changed",
            Cause::PeerRefused => "peer-refused",
        }
    }
}

/// What an acceptor's token Secret records about the token it holds (its annotations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuedToken {
    pub peer_name: String,
    pub partition: String,
    pub peering_id: String,
    pub version: i64,
    /// Hash of the other token-relevant spec fields (meta, server external addresses).
    pub spec_hash: String,
    /// The data key the token is stored under.
    pub key: String,
}

/// What the acceptor's spec and annotations ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptorDesired {
    pub peer_name: String,
    pub partition: String,
    pub version: i64,
    pub spec_hash: String,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptorPlan {
    /// Ask Consul for a new token and store it.
    Generate(Cause),
    /// The token is still good; only where it is stored changed (the data key): rewrite the
    /// Secret with the same token.
    MoveToken,
    /// The peering is being deleted in Consul, which refuses new tokens until it is gone.
    WaitForDeletion,
    /// A new token is due but the peer terminated the peering: Consul keeps a TERMINATED
    /// peering's record without secrets, so it must be deleted before a token can work again.
    DeleteTerminated,
    /// Nothing to do.
    UpToDate,
}

/// Decides what the acceptor does. `peering` is `None` when Consul's state is not known (no
/// answer yet): then only a missing token leads to a generation, never a present one.
/// `issued_before` says whether the status shows an earlier token, to tell a first token from a
/// lost Secret.
pub fn plan_acceptor(
    desired: &AcceptorDesired,
    issued: Option<&IssuedToken>,
    peering: Option<&PeeringView>,
    issued_before: bool,
) -> AcceptorPlan {
    let plan = plan_acceptor_ignoring_termination(desired, issued, peering, issued_before);
    let terminated =
        matches!(peering, Some(PeeringView::Present(p)) if p.state == PeeringState::Terminated);
    match plan {
        AcceptorPlan::Generate(_) if terminated => AcceptorPlan::DeleteTerminated,
        plan => plan,
    }
}

fn plan_acceptor_ignoring_termination(
    desired: &AcceptorDesired,
    issued: Option<&IssuedToken>,
    peering: Option<&PeeringView>,
    issued_before: bool,
) -> AcceptorPlan {
    let deleting = matches!(peering, Some(PeeringView::Present(p)) if p.is_deleting());
    let Some(issued) = issued else {
        if deleting {
            return AcceptorPlan::WaitForDeletion;
        }
        let cause = if issued_before {
            Cause::SecretMissing
        } else {
            Cause::Created
        };
        return AcceptorPlan::Generate(cause);
    };
    if issued.peer_name != desired.peer_name
        || issued.partition != desired.partition
        || issued.spec_hash != desired.spec_hash
    {
        // A different name is a different Consul peering, whose state we did not look up.
        return AcceptorPlan::Generate(Cause::SpecChanged);
    }
    if desired.version > issued.version {
        return if deleting {
            AcceptorPlan::WaitForDeletion
        } else {
            AcceptorPlan::Generate(Cause::Rotation)
        };
    }
    match peering {
        Some(PeeringView::Absent) => return AcceptorPlan::Generate(Cause::PeeringGone),
        Some(PeeringView::Present(p)) if p.is_deleting() => return AcceptorPlan::WaitForDeletion,
        // Same name, another ID: the peering was deleted and created again behind our back, so
        // the token we hold belongs to a peering that no longer exists.
        Some(PeeringView::Present(p)) if p.id != issued.peering_id => {
            return AcceptorPlan::Generate(Cause::PeeringGone);
        }
        _ => {}
    }
    if issued.key != desired.key {
        return AcceptorPlan::MoveToken;
    }
    AcceptorPlan::UpToDate
}

/// Whether a token the dialing side reports refused by Consul is replaced: only the current
/// token, only while the peering it was issued for is known and still `PENDING`. A peering that
/// got further was established with this token, so a refusal then comes from a second dialer
/// trying the same token, and a new token would only take the peering away from the first.
pub fn reissue_refused(issued: &IssuedToken, peering: Option<&PeeringView>) -> bool {
    matches!(
        peering,
        Some(PeeringView::Present(p)) if p.id == issued.peering_id && p.state == PeeringState::Pending
    )
}

/// What the dialer's Secret and annotations ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialerDesired {
    pub token_fingerprint: String,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Consul refused this very token before: it is used up or superseded.
    TokenRejected,
    /// The acceptor deleted its side; the token this peering used cannot bring it back.
    PeeringTerminated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialerPlan {
    Establish(Cause),
    /// Do not call Consul with this token again; wait for a new Secret.
    AwaitNewToken(WaitReason),
    WaitForDeletion,
    UpToDate,
}

/// Decides what the dialer does. `rejected_fingerprint` is the fingerprint of the last token
/// Consul refused for this resource, so a dead token is tried once, not in a loop.
pub fn plan_dialer(
    desired: &DialerDesired,
    peering: &PeeringView,
    rejected_fingerprint: Option<&str>,
) -> DialerPlan {
    let rejected = rejected_fingerprint == Some(desired.token_fingerprint.as_str());
    let establish = |cause| {
        if rejected {
            DialerPlan::AwaitNewToken(WaitReason::TokenRejected)
        } else {
            DialerPlan::Establish(cause)
        }
    };
    match peering {
        PeeringView::Absent => establish(Cause::Created),
        PeeringView::Present(p) if p.is_deleting() => DialerPlan::WaitForDeletion,
        PeeringView::Present(p) => {
            let same_token = p.token_fingerprint.as_deref() == Some(&desired.token_fingerprint);
            if !same_token {
                return establish(Cause::TokenChanged);
            }
            if desired.version > p.version.unwrap_or(0) {
                return establish(Cause::Rotation);
            }
            // Consul writes the dialer's record before the secret exchange and leaves it PENDING
            // when the exchange fails: the token was never accepted, so it may be tried again
            // (once: a refusal is remembered in `rejected_fingerprint`).
            match p.state {
                PeeringState::Pending => establish(Cause::Created),
                PeeringState::Terminated => {
                    DialerPlan::AwaitNewToken(WaitReason::PeeringTerminated)
                }
                _ => DialerPlan::UpToDate,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> AcceptorDesired {
        AcceptorDesired {
            peer_name: "dc2".into(),
            partition: String::new(),
            version: 0,
            spec_hash: "h1".into(),
            key: "data".into(),
        }
    }

    fn issued() -> IssuedToken {
        IssuedToken {
            peer_name: "dc2".into(),
            partition: String::new(),
            peering_id: "id-1".into(),
            version: 0,
            spec_hash: "h1".into(),
            key: "data".into(),
        }
    }

    fn present(id: &str, state: PeeringState) -> PeeringView {
        PeeringView::Present(PeeringFacts {
            id: id.into(),
            state,
            ..Default::default()
        })
    }

    #[test]
    fn acceptor_generates_first_token_and_after_a_lost_secret() {
        assert_eq!(
            plan_acceptor(&desired(), None, None, false),
            AcceptorPlan::Generate(Cause::Created)
        );
        assert_eq!(
            plan_acceptor(
                &desired(),
                None,
                Some(&present("id-1", PeeringState::Pending)),
                true
            ),
            AcceptorPlan::Generate(Cause::SecretMissing)
        );
    }

    #[test]
    fn acceptor_never_regenerates_without_cause() {
        let issued = issued();
        // Restart: Consul not known yet, or known and matching, in every live state.
        assert_eq!(
            plan_acceptor(&desired(), Some(&issued), None, false),
            AcceptorPlan::UpToDate
        );
        for state in [
            PeeringState::Pending,
            PeeringState::Establishing,
            PeeringState::Active,
            PeeringState::Failing,
            PeeringState::Terminated,
        ] {
            assert_eq!(
                plan_acceptor(
                    &desired(),
                    Some(&issued),
                    Some(&present("id-1", state.clone())),
                    true
                ),
                AcceptorPlan::UpToDate,
                "{state}"
            );
        }
    }

    #[test]
    fn acceptor_regenerates_for_each_cause() {
        let issued = issued();
        let mut rotated = desired();
        rotated.version = 1;
        assert_eq!(
            plan_acceptor(
                &rotated,
                Some(&issued),
                Some(&present("id-1", PeeringState::Active)),
                true
            ),
            AcceptorPlan::Generate(Cause::Rotation)
        );
        assert_eq!(
            plan_acceptor(&desired(), Some(&issued), Some(&PeeringView::Absent), true),
            AcceptorPlan::Generate(Cause::PeeringGone)
        );
        assert_eq!(
            plan_acceptor(
                &desired(),
                Some(&issued),
                Some(&present("id-2", PeeringState::Pending)),
                true
            ),
            AcceptorPlan::Generate(Cause::PeeringGone)
        );
        for change in [
            |d: &mut AcceptorDesired| d.peer_name = "other".into(),
            |d: &mut AcceptorDesired| d.partition = "p1".into(),
            |d: &mut AcceptorDesired| d.spec_hash = "h2".into(),
        ] {
            let mut d = desired();
            change(&mut d);
            assert_eq!(
                plan_acceptor(
                    &d,
                    Some(&issued),
                    Some(&present("id-1", PeeringState::Active)),
                    true
                ),
                AcceptorPlan::Generate(Cause::SpecChanged)
            );
        }
    }

    #[test]
    fn acceptor_waits_while_consul_deletes_and_moves_token_on_key_change() {
        let issued = issued();
        let deleting = present("id-1", PeeringState::Deleting);
        assert_eq!(
            plan_acceptor(&desired(), Some(&issued), Some(&deleting), true),
            AcceptorPlan::WaitForDeletion
        );
        assert_eq!(
            plan_acceptor(&desired(), None, Some(&deleting), true),
            AcceptorPlan::WaitForDeletion
        );
        let mut rotated = desired();
        rotated.version = 3;
        assert_eq!(
            plan_acceptor(&rotated, Some(&issued), Some(&deleting), true),
            AcceptorPlan::WaitForDeletion
        );
        let mut rotated_after_termination = desired();
        rotated_after_termination.version = 1;
        assert_eq!(
            plan_acceptor(
                &rotated_after_termination,
                Some(&issued),
                Some(&present("id-1", PeeringState::Terminated)),
                true
            ),
            AcceptorPlan::DeleteTerminated
        );
        let mut moved = desired();
        moved.key = "token".into();
        assert_eq!(
            plan_acceptor(
                &moved,
                Some(&issued),
                Some(&present("id-1", PeeringState::Active)),
                true
            ),
            AcceptorPlan::MoveToken
        );
    }

    #[test]
    fn acceptor_replaces_a_refused_token_only_while_its_peering_is_pending() {
        let issued = issued();
        assert!(reissue_refused(
            &issued,
            Some(&present("id-1", PeeringState::Pending))
        ));
        for state in [
            PeeringState::Establishing,
            PeeringState::Active,
            PeeringState::Failing,
            PeeringState::Terminated,
            PeeringState::Deleting,
        ] {
            assert!(
                !reissue_refused(&issued, Some(&present("id-1", state.clone()))),
                "{state}"
            );
        }
        // Another peering of that name, none, or Consul not known: not this token's to replace.
        assert!(!reissue_refused(
            &issued,
            Some(&present("id-2", PeeringState::Pending))
        ));
        assert!(!reissue_refused(&issued, Some(&PeeringView::Absent)));
        assert!(!reissue_refused(&issued, None));
    }

    fn dialer_desired() -> DialerDesired {
        DialerDesired {
            token_fingerprint: "fp1".into(),
            version: 0,
        }
    }

    fn dialed(fp: &str, version: i64, state: PeeringState) -> PeeringView {
        PeeringView::Present(PeeringFacts {
            id: "d-1".into(),
            state,
            token_fingerprint: Some(fp.into()),
            version: Some(version),
        })
    }

    #[test]
    fn dialer_establishes_when_needed_only() {
        let d = dialer_desired();
        assert_eq!(
            plan_dialer(&d, &PeeringView::Absent, None),
            DialerPlan::Establish(Cause::Created)
        );
        assert_eq!(
            plan_dialer(&d, &dialed("fp0", 0, PeeringState::Active), None),
            DialerPlan::Establish(Cause::TokenChanged)
        );
        for state in [
            PeeringState::Establishing,
            PeeringState::Active,
            PeeringState::Failing,
        ] {
            assert_eq!(
                plan_dialer(&d, &dialed("fp1", 0, state), None),
                DialerPlan::UpToDate
            );
        }
        let mut rotated = dialer_desired();
        rotated.version = 2;
        assert_eq!(
            plan_dialer(&rotated, &dialed("fp1", 1, PeeringState::Active), None),
            DialerPlan::Establish(Cause::Rotation)
        );
    }

    #[test]
    fn dialer_does_not_retry_a_rejected_or_terminated_token() {
        let d = dialer_desired();
        // A failed exchange leaves the record PENDING with our fingerprint: tried again once,
        // then not while the refusal is remembered.
        assert_eq!(
            plan_dialer(&d, &dialed("fp1", 0, PeeringState::Pending), None),
            DialerPlan::Establish(Cause::Created)
        );
        assert_eq!(
            plan_dialer(&d, &dialed("fp1", 0, PeeringState::Pending), Some("fp1")),
            DialerPlan::AwaitNewToken(WaitReason::TokenRejected)
        );
        assert_eq!(
            plan_dialer(&d, &PeeringView::Absent, Some("fp1")),
            DialerPlan::AwaitNewToken(WaitReason::TokenRejected)
        );
        // A new token is tried even though an older one was rejected.
        assert_eq!(
            plan_dialer(&d, &PeeringView::Absent, Some("fp0")),
            DialerPlan::Establish(Cause::Created)
        );
        assert_eq!(
            plan_dialer(&d, &dialed("fp1", 0, PeeringState::Terminated), None),
            DialerPlan::AwaitNewToken(WaitReason::PeeringTerminated)
        );
        assert_eq!(
            plan_dialer(&d, &dialed("fp1", 0, PeeringState::Deleting), None),
            DialerPlan::WaitForDeletion
        );
    }
}
