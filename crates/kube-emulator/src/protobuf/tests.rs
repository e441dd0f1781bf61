//! Bodies captured from kubectl v1.32 (and the one in kubectl-traces.md §15), plus hand-encoded
//! messages for what kubectl's generators never set.

use super::*;
use serde_json::json;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// kubectl-traces.md §15: `kubectl create secret generic s1 --from-literal=username=demo
/// --from-literal=password=not-a-real-secret` in namespace trace-ns.
const TRACE_SECRET: &str = "
6b 38 73 00 0a 0c 0a 02  76 31 12 06 53 65 63 72
65 74 12 4f 0a 1a 0a 02  73 31 12 00 1a 08 74 72
61 63 65 2d 6e 73 22 00  2a 00 32 00 38 00 42 00
12 1d 0a 08 70 61 73 73  77 6f 72 64 12 11 6e 6f
74 2d 61 2d 72 65 61 6c  2d 73 65 63 72 65 74 12
10 0a 08 75 73 65 72 6e  61 6d 65 12 04 64 65 6d
6f 1a 00 1a 00 22 00";

#[test]
fn kubectl_create_secret_generic_from_the_trace() {
    assert_eq!(
        decode(&hex(TRACE_SECRET)).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s1", "namespace": "trace-ns"},
            "data": {"password": "bm90LWEtcmVhbC1zZWNyZXQ=", "username": "ZGVtbw=="}
        })
    );
}

/// `kubectl create secret generic s2 --from-literal=a=b --type=example.com/thing --save-config`
const SECRET_SAVE_CONFIG: &str = "6b3873000a0c0a027631120653656372657412ed010acf010a02733212001a0022002a0032003800420062ba010a306b75626563746c2e6b756265726e657465732e696f2f6c6173742d6170706c6965642d636f6e66696775726174696f6e1285017b226b696e64223a22536563726574222c2261706956657273696f6e223a227631222c226d65746164617461223a7b226e616d65223a227332222c226372656174696f6e54696d657374616d70223a6e756c6c7d2c2264617461223a7b2261223a2259673d3d227d2c2274797065223a226578616d706c652e636f6d2f7468696e67227d0a12060a01611201621a116578616d706c652e636f6d2f7468696e671a002200";

#[test]
fn kubectl_create_secret_with_type_and_saved_config() {
    assert_eq!(
        decode(&hex(SECRET_SAVE_CONFIG)).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s2", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s2\",\"creationTimestamp\":null},\"data\":{\"a\":\"Yg==\"},\"type\":\"example.com/thing\"}\n"
            }},
            "data": {"a": "Yg=="},
            "type": "example.com/thing"
        })
    );
}

#[test]
fn kubectl_create_configmaps_namespace_and_serviceaccount() {
    // `kubectl create configmap c1 --from-literal=k=v --from-literal=x=y`
    let cm = "6b3873000a0f0a0276311209436f6e6669674d617012240a120a02633112001a0022002a0032003800420012060a016b12017612060a01781201791a002200";
    assert_eq!(
        decode(&hex(cm)).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": "v", "x": "y"}})
    );
    // `kubectl create configmap c2 --from-file=blob=<"binary\0\xff"> --save-config`
    let binary = "6b3873000a0f0a0276311209436f6e6669674d617012dc010ac7010a02633212001a0022002a0032003800420062b2010a306b75626563746c2e6b756265726e657465732e696f2f6c6173742d6170706c6965642d636f6e66696775726174696f6e127e7b226b696e64223a22436f6e6669674d6170222c2261706956657273696f6e223a227631222c226d65746164617461223a7b226e616d65223a226332222c226372656174696f6e54696d657374616d70223a6e756c6c7d2c2262696e61727944617461223a7b22626c6f62223a22596d6c7559584a354150383d227d7d0a1a100a04626c6f62120862696e61727900ff1a002200";
    let decoded = decode(&hex(binary)).unwrap();
    assert_eq!(decoded["binaryData"], json!({"blob": "YmluYXJ5AP8="}));
    assert!(decoded.get("data").is_none());
    // `kubectl create namespace ns1`: empty spec and status are sent (and kept, as Go's JSON
    // shows non-pointer structs).
    let ns = "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e733112001a0022002a0032003800420012001a020a001a002200";
    assert_eq!(
        decode(&hex(ns)).unwrap(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}, "spec": {}, "status": {}})
    );
    // `kubectl create serviceaccount sa1`
    let sa = "6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613112001a0022002a003200380042001a002200";
    assert_eq!(
        decode(&hex(sa)).unwrap(),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1"}})
    );
    // `kubectl create secret docker-registry reg1 --docker-server=r.example --docker-username=u --docker-password=p`
    let reg = "6b3873000a0c0a02763112065365637265741292010a140a047265673112001a0022002a00320038004200125a0a112e646f636b6572636f6e6669676a736f6e12457b226175746873223a7b22722e6578616d706c65223a7b22757365726e616d65223a2275222c2270617373776f7264223a2270222c2261757468223a2264547077227d7d7d1a1e6b756265726e657465732e696f2f646f636b6572636f6e6669676a736f6e1a002200";
    let decoded = decode(&hex(reg)).unwrap();
    assert_eq!(decoded["type"], json!("kubernetes.io/dockerconfigjson"));
    let config = base64::engine::general_purpose::STANDARD
        .decode(decoded["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(config).unwrap(),
        r#"{"auths":{"r.example":{"username":"u","password":"p","auth":"dTpw"}}}"#
    );
}

/// A minimal protobuf writer for messages kubectl's generators do not produce.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    fn tag(&mut self, num: u32, wire: u8) -> &mut Self {
        self.varint(u64::from(num) << 3 | u64::from(wire))
    }
    fn bytes(&mut self, num: u32, b: &[u8]) -> &mut Self {
        self.tag(num, 2).varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, num: u32, s: &str) -> &mut Self {
        self.bytes(num, s.as_bytes())
    }
    fn int(&mut self, num: u32, v: i64) -> &mut Self {
        self.tag(num, 0).varint(v as u64)
    }
    fn msg(&mut self, num: u32, m: &Enc) -> &mut Self {
        self.bytes(num, &m.0)
    }
    fn entry(&mut self, num: u32, k: &str, v: &[u8]) -> &mut Self {
        let mut e = Enc::default();
        e.str(1, k).bytes(2, v);
        self.msg(num, &e)
    }
}

fn envelope(api_version: &str, kind: &str, raw: &Enc) -> Vec<u8> {
    let mut tm = Enc::default();
    tm.str(1, api_version).str(2, kind);
    let mut u = Enc::default();
    u.msg(1, &tm).msg(2, raw).str(3, "").str(4, "");
    [MAGIC, &u.0].concat()
}

fn time(secs: i64, nanos: i64) -> Enc {
    let mut t = Enc::default();
    t.int(1, secs).int(2, nanos);
    t
}

#[test]
fn object_meta_in_full() {
    let mut owner = Enc::default();
    owner
        .str(1, "Gadget")
        .str(3, "g1")
        .str(4, "u-1")
        .str(5, "demo.example.com/v1")
        .int(6, 1)
        .int(7, 0);
    let mut fields = Enc::default();
    fields.bytes(1, br#"{"f:data":{".":{},"f:a":{}}}"#);
    let mut managed = Enc::default();
    managed
        .str(1, "kubectl-create")
        .str(2, "Update")
        .str(3, "v1")
        .msg(4, &time(1_795_849_692, 0))
        .str(6, "FieldsV1")
        .msg(7, &fields)
        .str(8, "");
    let mut meta = Enc::default();
    meta.str(1, "")
        .str(2, "cm-")
        .str(3, "trace-ns")
        .str(5, "")
        .int(7, 0)
        .msg(8, &time(1_795_849_692, 0))
        .int(10, 30)
        .entry(11, "tier", b"gold")
        .entry(11, "app", b"demo")
        .entry(12, "note", b"x")
        .msg(13, &owner)
        .str(14, "demo.example.com/hold")
        .str(14, "other/one")
        .msg(17, &managed);
    let mut cm = Enc::default();
    cm.msg(1, &meta).entry(2, "a", b"1").int(4, 1);
    assert_eq!(
        decode(&envelope("v1", "ConfigMap", &cm)).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "generateName": "cm-", "namespace": "trace-ns",
                "creationTimestamp": "2026-11-28T07:08:12Z",
                "deletionGracePeriodSeconds": 30,
                "labels": {"tier": "gold", "app": "demo"},
                "annotations": {"note": "x"},
                "ownerReferences": [{"kind": "Gadget", "name": "g1", "uid": "u-1",
                    "apiVersion": "demo.example.com/v1", "controller": true, "blockOwnerDeletion": false}],
                "finalizers": ["demo.example.com/hold", "other/one"],
                "managedFields": [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-11-28T07:08:12Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:a": {}}}}]
            },
            "data": {"a": "1"},
            "immutable": true
        })
    );
}

#[test]
fn events_and_leases_with_micro_times() {
    let mut reference = Enc::default();
    reference.str(1, "Gadget").str(2, "trace-ns").str(3, "st1");
    let mut series = Enc::default();
    series.int(1, 2).msg(2, &time(1_795_849_779, 123_456_789));
    let mut meta = Enc::default();
    meta.str(1, "ev1");
    let mut ev = Enc::default();
    ev.msg(1, &meta)
        .msg(2, &time(1_795_849_779, 5_000))
        .msg(3, &series)
        .str(4, "trace-controller")
        .str(5, "trace-pod-0")
        .str(7, "Tested")
        .msg(8, &reference)
        .str(10, "note")
        .str(11, "Normal")
        .msg(13, &Enc::default());
    assert_eq!(
        decode(&envelope("events.k8s.io/v1", "Event", &ev)).unwrap(),
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev1"},
            "eventTime": "2026-11-28T07:09:39.000005Z",
            "series": {"count": 2, "lastObservedTime": "2026-11-28T07:09:39.123456Z"},
            "reportingController": "trace-controller", "reportingInstance": "trace-pod-0",
            "reason": "Tested", "regarding": {"kind": "Gadget", "namespace": "trace-ns", "name": "st1"},
            "note": "note", "type": "Normal"
        })
    );

    let mut core = Enc::default();
    core.msg(1, &meta)
        .msg(2, &reference)
        .int(8, 3)
        .msg(10, &Enc::default())
        .str(14, "")
        .str(15, "");
    let decoded = decode(&envelope("v1", "Event", &core)).unwrap();
    assert_eq!(decoded["count"], json!(3));
    // Non-omitempty strings stay, the zero MicroTime goes.
    assert_eq!(decoded["reportingComponent"], json!(""));
    assert!(decoded.get("eventTime").is_none());

    let mut spec = Enc::default();
    spec.str(1, "holder-a")
        .int(2, 15)
        .msg(4, &time(1_795_849_779, 0))
        .int(5, 0);
    let mut lease = Enc::default();
    lease.msg(1, &meta).msg(2, &spec);
    assert_eq!(
        decode(&envelope("coordination.k8s.io/v1", "Lease", &lease)).unwrap()["spec"],
        json!({"holderIdentity": "holder-a", "leaseDurationSeconds": 15,
               "renewTime": "2026-11-28T07:09:39.000000Z", "leaseTransitions": 0})
    );
}

#[test]
fn refused_bodies_are_worded_as_the_real_decoder() {
    assert_eq!(decode(b"").unwrap_err(), "empty data");
    assert_eq!(decode(b"k8s\x00").unwrap_err(), "empty body");
    assert_eq!(
        decode(b"{\"kind\":\"Secret\"}").unwrap_err(),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    );
    let truncated = hex(TRACE_SECRET);
    assert_eq!(
        decode(&truncated[..truncated.len() - 20]).unwrap_err(),
        "unexpected EOF"
    );
    let raw = Enc::default();
    let err = decode(&envelope("v1", "Pod", &raw)).unwrap_err();
    assert_eq!(
        err,
        "no kind \"Pod\" is registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    );
    assert_eq!(
        bad_request_message("Secret", &envelope("v1", "Pod", &raw), &err),
        format!("Pod in version \"v1\" cannot be handled as a Secret: {err}")
    );
    assert_eq!(
        decode(&envelope("v1", "", &raw)).unwrap_err(),
        "Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:\"v1\", Kind:\"\"}'"
    );
    assert_eq!(
        bad_request_message(
            "Secret",
            b"{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{}}",
            "x"
        ),
        "the object provided is unrecognized (must be of type Secret): x ({\"kind\":\"Secret\",\"apiVersion\": ...)"
    );
    // A string field sent with the wrong wire type.
    let mut bad = Enc::default();
    bad.int(3, 7);
    assert_eq!(
        decode(&envelope("v1", "Secret", &bad)).unwrap_err(),
        "proto: wrong wireType = 0 for field type"
    );
}
