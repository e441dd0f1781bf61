//! Tokens Consul issued whose Secret write failed. Consul supersedes a peer's token with each
//! new one, so generating again on the next pass would spend one token per failed write (a
//! 409 or 429 from the API server for as long as it lasts). The pass that finds a write owed
//! stores this token instead, if it is still the one wanted: same acceptor, same desired
//! token, and the peering it was issued for still standing in Consul. The token stays in
//! memory only until its Secret holds it (a restart forgets it, and a new one is generated).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;

use super::peerings::KnownPeering;
use super::plan::{AcceptorDesired, Cause};
use super::token_secret::TokenRecord;
use crate::consul::{PeeringState, PeeringToken};
use crate::crd::PeeringAcceptor;

/// A token whose Secret write failed, with its record and why it was generated.
#[derive(Clone, Debug)]
pub struct Unstored {
    pub token: PeeringToken,
    pub record: TokenRecord,
    pub cause: Cause,
}

/// Per acceptor (by uid), the token it owes its Secret.
#[derive(Debug, Default)]
pub struct UnstoredTokens(Mutex<HashMap<String, Unstored>>);

impl UnstoredTokens {
    /// Remembers `unstored` until [`UnstoredTokens::stored`].
    pub fn owed(&self, acceptor: &PeeringAcceptor, unstored: Unstored) {
        self.lock()
            .insert(acceptor.uid().unwrap_or_default(), unstored);
    }

    /// The acceptor's Secret holds its token now (or the acceptor is gone).
    pub fn stored(&self, acceptor: &PeeringAcceptor) {
        self.lock().remove(&acceptor.uid().unwrap_or_default());
    }

    /// Whether a token is owed to the acceptor's Secret.
    pub fn owes(&self, acceptor: &PeeringAcceptor) -> bool {
        self.lock()
            .contains_key(&acceptor.uid().unwrap_or_default())
    }

    /// The record of the token owed to the acceptor's Secret, whatever it is wanted for.
    pub fn record(&self, acceptor: &PeeringAcceptor) -> Option<TokenRecord> {
        let owed = self.lock();
        owed.get(&acceptor.uid().unwrap_or_default())
            .map(|o| o.record.clone())
    }

    /// The token owed to the acceptor's Secret, if it is still the one wanted: issued for
    /// `desired`, and its peering standing in Consul as `peering` (`None`: unknown).
    pub fn still_wanted(
        &self,
        acceptor: &PeeringAcceptor,
        desired: &AcceptorDesired,
        peering: Option<&KnownPeering>,
    ) -> Option<Unstored> {
        let owed = self
            .lock()
            .get(&acceptor.uid().unwrap_or_default())
            .cloned()?;
        let issued = &owed.record.issued;
        let same_desire = issued.peer_name == desired.peer_name
            && issued.partition == desired.partition
            && issued.version == desired.version
            && issued.spec_hash == desired.spec_hash;
        let standing = peering.is_some_and(|p| {
            p.id == issued.peering_id
                && !matches!(p.state, PeeringState::Deleting | PeeringState::Terminated)
        });
        (same_desire && standing).then_some(owed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Unstored>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
