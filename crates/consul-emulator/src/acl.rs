//! ACLs: tokens with `peering` / `operator` rules, resolution of the request's token, and the
//! texts Consul uses when it refuses.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Consul's anonymous token, used when a request carries no token.
pub const ANONYMOUS_ACCESSOR_ID: &str = "00000000-0000-0000-0000-000000000002";

/// An access level of a policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Deny,
    Read,
    Write,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Deny => "deny",
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// The rules of a token's policy that matter for peering. A peering permission falls back to
/// the operator rule when the policy has no peering rule; with neither, the default policy
/// (deny) applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    #[serde(default)]
    pub peering: Option<Access>,
    #[serde(default)]
    pub operator: Option<Access>,
}

impl Rules {
    /// `peering = "read"`.
    pub fn peering(access: Access) -> Rules {
        Rules {
            peering: Some(access),
            operator: None,
        }
    }
    /// `operator = "read"`.
    pub fn operator(access: Access) -> Rules {
        Rules {
            peering: None,
            operator: Some(access),
        }
    }
    /// No rules at all: everything is denied.
    pub fn none() -> Rules {
        Rules::default()
    }
}

/// An ACL token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
}

impl std::fmt::Debug for AclToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclToken")
            .field("accessor_id", &self.accessor_id)
            .field("secret_id", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Copy)]
enum Grant {
    Management,
    Rules(Rules),
}

/// Who a request acts as.
pub struct Authorizer {
    accessor_id: String,
    grant: Option<Grant>,
}

impl Authorizer {
    /// `Ok` when the token may use peering at `need`; otherwise Consul's denial text.
    pub fn check_peering(&self, need: Access) -> Result<(), String> {
        let allowed = match self.grant {
            None => true,
            Some(Grant::Management) => true,
            Some(Grant::Rules(rules)) => {
                rules.peering.or(rules.operator).unwrap_or(Access::Deny) >= need
            }
        };
        if allowed {
            return Ok(());
        }
        let permission = format!("peering:{}", need.as_str());
        Err(if self.accessor_id == ANONYMOUS_ACCESSOR_ID {
            format!(
                "Permission denied: anonymous token lacks permission '{permission}'. The anonymous token is used implicitly when a request does not specify a token."
            )
        } else {
            format!(
                "Permission denied: token with AccessorID '{}' lacks permission '{permission}'",
                self.accessor_id
            )
        })
    }
}

/// The ACL system of one datacenter.
pub struct Acl {
    enabled: bool,
    management: AclToken,
    /// SecretID → (AccessorID, rules).
    tokens: Mutex<HashMap<String, (String, Rules)>>,
}

impl Acl {
    pub fn new(enabled: bool) -> Acl {
        Acl {
            enabled,
            management: AclToken {
                accessor_id: uuid::Uuid::new_v4().to_string(),
                secret_id: uuid::Uuid::new_v4().to_string(),
            },
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn management(&self) -> &AclToken {
        &self.management
    }

    /// Creates a token with the given rules.
    pub fn create(&self, rules: Rules) -> AclToken {
        let token = AclToken {
            accessor_id: uuid::Uuid::new_v4().to_string(),
            secret_id: uuid::Uuid::new_v4().to_string(),
        };
        self.tokens
            .lock()
            .expect("acl lock")
            .insert(token.secret_id.clone(), (token.accessor_id.clone(), rules));
        token
    }

    /// Resolves the request's token; `Err` is Consul's `ACL not found`.
    pub fn resolve(&self, secret: &str) -> Result<Authorizer, String> {
        if !self.enabled {
            return Ok(Authorizer {
                accessor_id: String::new(),
                grant: None,
            });
        }
        if secret.is_empty() {
            return Ok(Authorizer {
                accessor_id: ANONYMOUS_ACCESSOR_ID.to_string(),
                grant: Some(Grant::Rules(Rules::none())),
            });
        }
        if secret == self.management.secret_id {
            return Ok(Authorizer {
                accessor_id: self.management.accessor_id.clone(),
                grant: Some(Grant::Management),
            });
        }
        match self.tokens.lock().expect("acl lock").get(secret) {
            Some((accessor, rules)) => Ok(Authorizer {
                accessor_id: accessor.clone(),
                grant: Some(Grant::Rules(*rules)),
            }),
            None => Err("ACL not found".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peering_rule_wins_over_operator_rule() {
        let acl = Acl::new(true);
        let read = acl.create(Rules {
            peering: Some(Access::Read),
            operator: Some(Access::Write),
        });
        let auth = acl.resolve(&read.secret_id).unwrap();
        assert!(auth.check_peering(Access::Read).is_ok());
        let denied = auth.check_peering(Access::Write).unwrap_err();
        assert_eq!(
            denied,
            format!(
                "Permission denied: token with AccessorID '{}' lacks permission 'peering:write'",
                read.accessor_id
            )
        );
        let op = acl.create(Rules::operator(Access::Write));
        assert!(
            acl.resolve(&op.secret_id)
                .unwrap()
                .check_peering(Access::Write)
                .is_ok()
        );
    }

    #[test]
    fn anonymous_and_unknown_tokens() {
        let acl = Acl::new(true);
        assert!(
            acl.resolve("")
                .unwrap()
                .check_peering(Access::Read)
                .unwrap_err()
                .contains("anonymous token")
        );
        assert_eq!(acl.resolve("nope").err().unwrap(), "ACL not found");
        let off = Acl::new(false);
        assert!(
            off.resolve("nope")
                .unwrap()
                .check_peering(Access::Write)
                .is_ok()
        );
        assert!(!format!("{:?}", acl.management()).contains(&acl.management().secret_id));
    }
}
