//! Server-side defaulting of Deployments, Services and RBAC bindings: the `SetDefaults_*`
//! functions of the real server's `apps/v1`, `core/v1` and `rbac/v1` that show in what kubectl
//! prints (the pod template's policies, probe timings, port protocols, the rolling-update
//! strategy, a Service's type and traffic policies). Defaults the emulator does not apply are
//! listed in the README ("Deviations").

use serde_json::{Map, Value, json};

/// Whether a field is unset as Go sees it: absent, null, or the zero string.
fn unset(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if unset(map, key) {
        map.insert(key.to_string(), value);
    }
}

/// The object at `key`, created empty when unset.
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    if matches!(map.get(key), None | Some(Value::Null)) {
        map.insert(key.to_string(), json!({}));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

fn each_object<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

pub fn deployment(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    default(spec, "replicas", json!(1));
    if let Some(strategy) = object(spec, "strategy") {
        default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(rolling) = object(strategy, "rollingUpdate")
        {
            default(rolling, "maxUnavailable", json!("25%"));
            default(rolling, "maxSurge", json!("25%"));
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    if let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_spec(pod);
    }
}

/// `SetDefaults_PodSpec` and what it reaches (containers, ports, probes, volumes).
fn pod_spec(pod: &mut Map<String, Value>) {
    default(pod, "dnsPolicy", json!("ClusterFirst"));
    default(pod, "restartPolicy", json!("Always"));
    default(pod, "terminationGracePeriodSeconds", json!(30));
    default(pod, "schedulerName", json!("default-scheduler"));
    object(pod, "securityContext");
    // The v1 conversion keeps the deprecated name in step with the current one.
    if unset(pod, "serviceAccountName") && !unset(pod, "serviceAccount") {
        let name = pod["serviceAccount"].clone();
        pod.insert("serviceAccountName".to_string(), name);
    }
    if !unset(pod, "serviceAccountName") {
        let name = pod["serviceAccountName"].clone();
        pod.insert("serviceAccount".to_string(), name);
    }
    for key in ["initContainers", "containers"] {
        for c in each_object(pod, key) {
            container(c);
        }
    }
    for volume in each_object(pod, "volumes") {
        for (source, mode_key) in [
            ("secret", "defaultMode"),
            ("configMap", "defaultMode"),
            ("downwardAPI", "defaultMode"),
            ("projected", "defaultMode"),
        ] {
            if let Some(s) = volume.get_mut(source).and_then(Value::as_object_mut) {
                default(s, mode_key, json!(420));
            }
        }
        if let Some(host_path) = volume.get_mut("hostPath").and_then(Value::as_object_mut)
            && !host_path.contains_key("type")
        {
            host_path.insert("type".to_string(), json!(""));
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    if unset(c, "imagePullPolicy") {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        c.insert("imagePullPolicy".into(), json!(pull_policy(image)));
    }
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    // A plain struct in Go: always serialized, empty or not.
    object(c, "resources");
    for port in each_object(c, "ports") {
        default(port, "protocol", json!("TCP"));
    }
    for env in each_object(c, "env") {
        if let Some(field_ref) = env
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = c.get_mut(key).and_then(Value::as_object_mut) {
            default(probe, "timeoutSeconds", json!(1));
            default(probe, "periodSeconds", json!(10));
            default(probe, "successThreshold", json!(1));
            default(probe, "failureThreshold", json!(3));
            handler(probe);
        }
    }
    if let Some(lifecycle) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = lifecycle.get_mut(key).and_then(Value::as_object_mut) {
                handler(h);
            }
        }
    }
}

fn handler(h: &mut Map<String, Value>) {
    if let Some(get) = h.get_mut("httpGet").and_then(Value::as_object_mut) {
        default(get, "path", json!("/"));
        default(get, "scheme", json!("HTTP"));
    }
}

/// `Always` for `:latest` or an untagged image, else `IfNotPresent` (digests count as tags).
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

pub fn service(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    default(spec, "sessionAffinity", json!("None"));
    default(spec, "type", json!("ClusterIP"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for port in each_object(spec, "ports") {
        default(port, "protocol", json!("TCP"));
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if target_unset && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".into(), p);
        }
    }
    if ty != "ExternalName" {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP")
        && let Some(config) = object(spec, "sessionAffinityConfig")
        && let Some(client_ip) = object(config, "clientIP")
    {
        default(client_ip, "timeoutSeconds", json!(10800));
    }
}

/// `SetDefaults_Subject` (users and groups are RBAC's; a ServiceAccount's group stays empty,
/// which `omitempty` leaves out) and the roleRef's group.
pub fn binding(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    for subject in each_object(map, "subjects") {
        if matches!(
            subject.get("kind").and_then(Value::as_str),
            Some("User" | "Group")
        ) {
            default(subject, "apiGroup", json!("rbac.authorization.k8s.io"));
        }
    }
    if let Some(role_ref) = map.get_mut("roleRef").and_then(Value::as_object_mut) {
        default(role_ref, "apiGroup", json!("rbac.authorization.k8s.io"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_gets_the_rolling_update_strategy_and_pod_defaults() {
        let mut d = json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {
            "serviceAccountName": "op",
            "containers": [{"name": "c", "image": "reg.example.com:5000/op:1.0",
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"port": 8080}},
                "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}}}});
        deployment(&mut d);
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(
            (
                &spec["revisionHistoryLimit"],
                &spec["progressDeadlineSeconds"]
            ),
            (&json!(10), &json!(600))
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["serviceAccount"], "op");
        assert_eq!(pod["securityContext"], json!({}));
        let c = &pod["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["resources"], json!({}));
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(pod["volumes"][0]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn service_and_binding_defaults() {
        let mut s =
            json!({"spec": {"ports": [{"port": 80}, {"port": 9090, "targetPort": "metrics"}]}});
        service(&mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert_eq!(
            s["spec"]["ports"],
            json!([{"port": 80, "protocol": "TCP", "targetPort": 80},
                {"port": 9090, "protocol": "TCP", "targetPort": "metrics"}])
        );
        let mut b = json!({"roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "op"}, {"kind": "User", "name": "u"}]});
        binding(&mut b);
        assert_eq!(b["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(b["subjects"][0].get("apiGroup").is_none());
        assert_eq!(b["subjects"][1]["apiGroup"], "rbac.authorization.k8s.io");
    }
}
