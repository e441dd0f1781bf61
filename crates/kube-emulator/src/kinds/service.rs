//! Services (core/v1): their defaults, cluster IPs allocated from 10.96.0.0/12 and the
//! `status.loadBalancer` Go always writes.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

use super::{Admission, Definition, KindStrategy, zero_status};
use crate::ssa::builtin::GoStruct;
use crate::table::{Printer, workloads};
use crate::validation::NameRule;

pub struct Service;

impl KindStrategy for Service {
    fn definition(&self) -> Definition {
        Definition {
            short_names: &["svc"],
            categories: &["all"],
            status_subresource: true,
            name_rule: NameRule::Dns1035Label,
            ..Definition::namespaced("", "v1", "Service", "services")
        }
    }
    fn go_type(&self) -> Option<&'static GoStruct> {
        crate::ssa::derived::kind_struct("", "Service")
    }
    fn openapi(&self, generator: &mut SchemaGenerator) -> String {
        crate::openapi::add::<core::Service>(generator)
    }
    fn printer(&self) -> Option<Printer> {
        Some(workloads::service())
    }
    fn prepare(&self, obj: &mut Value, old: Option<&Value>, admission: &Admission) {
        crate::defaults::service(obj);
        zero_status(obj, json!({"loadBalancer": {}}));
        if admission.subresource.is_none() {
            let services = (admission.stored)();
            cluster_ips(obj, old, |ip| {
                services
                    .iter()
                    .any(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str) == Some(ip))
            });
        }
    }
}

/// A Service's cluster IPs: allocated on create from 10.96.0.0/12 (`is_taken` tells which are
/// in use), kept from the stored object when an update leaves them out, as the Service REST
/// storage does; plus the IP family fields it fills in.
fn cluster_ips(obj: &mut Value, old: Option<&Value>, is_taken: impl Fn(&str) -> bool) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    let unset = |spec: &Map<String, Value>, k: &str| {
        spec.get(k)
            .is_none_or(|v| v.is_null() || v.as_str() == Some("") || v == &json!([]))
    };
    if let Some(old_spec) = old.and_then(|o| o.get("spec")) {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if unset(spec, k)
                && let Some(v) = old_spec.get(k)
            {
                spec.insert(k.into(), v.clone());
            }
        }
    }
    if unset(spec, "clusterIP") {
        let ip = loop {
            let bytes = uuid::Uuid::new_v4().into_bytes();
            // 10.96.0.0/12 without its network, broadcast and the `kubernetes` Service's .1.
            let offset =
                (u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) % ((1 << 20) - 3)) + 2;
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)) + offset)
                    .to_string();
            if !is_taken(&ip) {
                break ip;
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
    }
    if unset(spec, "clusterIPs") {
        let ip = spec["clusterIP"].clone();
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    if unset(spec, "ipFamilies") {
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    if unset(spec, "ipFamilyPolicy") {
        spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    }
}
