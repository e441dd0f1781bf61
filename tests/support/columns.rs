//! The headers `kubectl get -o wide` prints for the operator's kinds: what a user sees, written out once for every
//! test that reads a table.

/// `kubectl get peeringacceptors -o wide`.
pub const ACCEPTOR_WIDE: [&str; 11] = [
    "NAME",
    "READY",
    "REASON",
    "STATE",
    "SECRET",
    "PEER NAME",
    "PEERING ID",
    "LAST SYNC",
    "DELIVERED TO",
    "DELIVERED",
    "AGE",
];

/// `kubectl get peeringdialers -o wide`.
pub const DIALER_WIDE: [&str; 10] = [
    "NAME",
    "READY",
    "REASON",
    "STATE",
    "SECRET",
    "PEER NAME",
    "PEERING ID",
    "LAST SYNC",
    "REMOTE DC",
    "AGE",
];
