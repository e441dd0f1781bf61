//! SelfSubjectAccessReviews (authorization.k8s.io/v1), what `kubectl auth can-i` creates: only
//! created, never stored; `access_review` answers them.

use k8s_openapi::api::authorization::v1 as authorization;
use k8s_openapi::schemars::SchemaGenerator;

use super::{Definition, KindStrategy};
use crate::protobuf::{self, Kind, Message, field};

pub struct SelfSubjectAccessReview;

static RESOURCE_ATTRIBUTES: Message = Message {
    name: "ResourceAttributes",
    fields: &[
        field(1, "namespace", Kind::Str),
        field(2, "verb", Kind::Str),
        field(3, "group", Kind::Str),
        field(4, "version", Kind::Str),
        field(5, "resource", Kind::Str),
        field(6, "subresource", Kind::Str),
        field(7, "name", Kind::Str),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Message = Message {
    name: "NonResourceAttributes",
    fields: &[field(1, "path", Kind::Str), field(2, "verb", Kind::Str)],
};

static SPEC: Message = Message {
    name: "SelfSubjectAccessReviewSpec",
    fields: &[
        field(1, "resourceAttributes", Kind::Msg(&RESOURCE_ATTRIBUTES)),
        field(
            2,
            "nonResourceAttributes",
            Kind::Msg(&NON_RESOURCE_ATTRIBUTES),
        ),
    ],
};

static PROTOBUF: Message = Message {
    name: "SelfSubjectAccessReview",
    fields: &[protobuf::METADATA, field(2, "spec", Kind::Msg(&SPEC))],
};

impl KindStrategy for SelfSubjectAccessReview {
    fn definition(&self) -> Definition {
        Definition {
            verbs: Some(&["create"]),
            delete_collection: false,
            ..Definition::cluster(
                "authorization.k8s.io",
                "v1",
                "SelfSubjectAccessReview",
                "selfsubjectaccessreviews",
            )
        }
    }
    fn protobuf(&self) -> Option<&'static Message> {
        Some(&PROTOBUF)
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<authorization::SelfSubjectAccessReview>(generator)
    }
}
