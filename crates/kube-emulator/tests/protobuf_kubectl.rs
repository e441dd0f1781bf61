//! The real kubectl's generator commands against a minimal HTTP listener that serves just
//! enough discovery for them, records the protobuf bodies they POST and answers with what
//! `protobuf::decode` made of them: kubectl must accept the answer, and the decoded objects must
//! be the ones asked for.

use kube_emulator::protobuf;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use test_support::kubectl::{Kubectl, binaries};

/// One POST kubectl made: path, content type, body.
type Posted = (String, String, Vec<u8>);

fn serve(listener: TcpListener, posted: Arc<Mutex<Vec<Posted>>>) {
    for stream in listener.incoming().flatten() {
        let posted = posted.clone();
        std::thread::spawn(move || {
            let _ = answer(stream, &posted);
        });
    }
}

fn answer(stream: TcpStream, posted: &Mutex<Vec<Posted>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let path = target.split('?').next().unwrap_or("");
        let (status, reply) = match (method, path) {
            ("GET", "/version") => (
                200,
                json!({"major": "1", "minor": "36", "gitVersion": "v1.36.0"}),
            ),
            ("GET", "/api") => (
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            ),
            ("GET", "/apis") => (
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
            ),
            ("GET", "/api/v1") => (
                200,
                json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                    {"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret", "verbs": ["create", "get"]},
                    {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": ["create", "get"]},
                    {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["create", "get"]},
                    {"name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": true, "kind": "ServiceAccount", "verbs": ["create", "get"]}
                ]}),
            ),
            ("POST", _) => {
                let decoded = protobuf::decode(&body);
                posted
                    .lock()
                    .unwrap()
                    .push((target.to_string(), content_type, body));
                match decoded {
                    Ok(obj) => (201, obj),
                    Err(e) => (
                        400,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "message": e, "reason": "BadRequest", "code": 400}),
                    ),
                }
            }
            _ => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "not found", "reason": "NotFound", "code": 404}),
            ),
        };
        let reply = serde_json::to_vec(&reply).unwrap();
        write!(
            out,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )?;
        out.write_all(&reply)?;
    }
}

/// A kubeconfig for the listener on `port`: plain HTTP, a token kubectl sends and nobody checks.
fn kubeconfig(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://127.0.0.1:{port}\"}}\n  name: c\n\
         contexts:\n- context: {{cluster: c, user: u}}\n  name: c\ncurrent-context: c\n\
         users:\n- name: u\n  user: {{token: t}}\n"
    )
}

/// The object with its last-applied-configuration annotation parsed, and a null `creationTimestamp` in it left
/// out: kubectl before 1.33 writes one, later ones do not, and the configuration is the same.
fn last_applied_as_json(mut object: Value) -> Value {
    let key = "kubectl.kubernetes.io/last-applied-configuration";
    let Some(text) = object["metadata"]["annotations"][key].as_str() else {
        return object;
    };
    let mut applied: Value = serde_json::from_str(text).expect("the annotation is JSON");
    if let Some(metadata) = applied["metadata"].as_object_mut() {
        metadata.retain(|field, value| !(field == "creationTimestamp" && value.is_null()));
    }
    object["metadata"]["annotations"][key] = applied;
    object
}

#[tokio::test]
async fn kubectl_generator_bodies_decode_to_the_objects_asked_for() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posted = Arc::new(Mutex::new(Vec::new()));
    let recorder = posted.clone();
    std::thread::spawn(move || serve(listener, recorder));

    let cases: Vec<(Vec<&str>, &str, Value)> = vec![
        (
            vec![
                "create",
                "secret",
                "generic",
                "s1",
                "-n",
                "trace-ns",
                "--from-literal=username=demo",
                "--from-literal=password=not-a-real-secret",
            ],
            "secret/s1 created",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "trace-ns"},
                   "data": {"password": "bm90LWEtcmVhbC1zZWNyZXQ=", "username": "ZGVtbw=="}}),
        ),
        (
            vec![
                "create",
                "configmap",
                "c1",
                "-n",
                "trace-ns",
                "--from-literal=k=v",
                "--save-config",
            ],
            "configmap/c1 created",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "trace-ns",
                   "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                     "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"c1\",\"namespace\":\"trace-ns\",\"creationTimestamp\":null},\"data\":{\"k\":\"v\"}}\n"}},
                   "data": {"k": "v"}}),
        ),
        (
            vec!["create", "namespace", "ns1"],
            "namespace/ns1 created",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}, "spec": {}, "status": {}}),
        ),
        (
            vec!["create", "serviceaccount", "sa1", "-n", "trace-ns"],
            "serviceaccount/sa1 created",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1", "namespace": "trace-ns"}}),
        ),
    ];
    for binary in binaries() {
        let kubectl = Kubectl::new(binary);
        std::fs::write(kubectl.kubeconfig(), kubeconfig(port)).unwrap();
        for (args, printed, expected) in &cases {
            let before = posted.lock().unwrap().len();
            let stdout = kubectl.ok(args).await;
            assert_eq!(stdout.trim(), *printed, "{binary} {args:?}");
            let all = posted.lock().unwrap();
            assert_eq!(all.len(), before + 1, "{binary} {args:?} posted once");
            let (_, content_type, body) = &all[before];
            assert_eq!(content_type, "application/vnd.kubernetes.protobuf");
            assert_eq!(
                last_applied_as_json(protobuf::decode(body).unwrap()),
                last_applied_as_json(expected.clone()),
                "{binary} {args:?}"
            );
        }
    }
}
