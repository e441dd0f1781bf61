//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's
//! generators (`create secret generic`, `create configmap`, `create namespace`,
//! `create serviceaccount`, ...) send. The body is the magic `k8s\0` followed by a
//! `runtime.Unknown` envelope whose `raw` holds the object; the object is decoded with the field
//! numbers of the Kubernetes `generated.proto` files into the JSON a JSON client would have sent
//! for the same Go object (empty non-pointer fields left out as `omitempty` does, times in
//! RFC 3339, bytes in base64), so the rest of the server handles one format.

use base64::Engine;
use serde_json::{Map, Value, json};

/// `k8s\0`.
const MAGIC: &[u8] = b"k8s\x00";

/// Decodes a Kubernetes protobuf request body (magic "k8s\0" then runtime.Unknown{typeMeta{apiVersion,kind}, raw,
/// contentEncoding, contentType}) into the object's JSON, for the kinds kubectl sends as protobuf: Secret,
/// ConfigMap, Namespace, ServiceAccount, and also Event (core/v1 and events.k8s.io/v1) and Lease; ObjectMeta in
/// full (labels, annotations, ownerReferences, finalizers, generateName, managedFields...).
///
/// Errors carry the real decoder's words; the server answers them with 400 BadRequest, the
/// message built by [`bad_request_message`]. (A custom resource endpoint never gets here: the
/// real server answers protobuf there with 415 before decoding.)
pub fn decode(body: &[u8]) -> Result<serde_json::Value, String> {
    let unknown = envelope(body)?;
    let (group, version) = match unknown.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", unknown.api_version.as_str()),
    };
    if unknown.kind.is_empty() {
        return Err(format!(
            "Object 'Kind' is missing in '{}'",
            unknown.go_type_meta()
        ));
    }
    if version.is_empty() {
        return Err(format!(
            "Object 'apiVersion' is missing in '{}'",
            unknown.go_type_meta()
        ));
    }
    let Some(message) = kind_message(group, version, &unknown.kind) else {
        return Err(format!(
            "no kind {:?} is registered for version {:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            unknown.kind, unknown.api_version
        ));
    };
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(unknown.api_version));
    obj.insert("kind".into(), json!(unknown.kind));
    decode_message(&unknown.raw, message, &mut obj)?;
    Ok(Value::Object(obj))
}

/// The 400 BadRequest message the real server gives for a body [`decode`] refused, on an
/// endpoint serving `endpoint_kind` (`transformDecodeError`).
pub fn bad_request_message(endpoint_kind: &str, body: &[u8], error: &str) -> String {
    match envelope(body) {
        Ok(unknown) if !unknown.kind.is_empty() => {
            let version = unknown
                .api_version
                .split_once('/')
                .map_or(unknown.api_version.as_str(), |(_, v)| v);
            format!(
                "{} in version {:?} cannot be handled as a {endpoint_kind}: {error}",
                unknown.kind, version
            )
        }
        _ => format!(
            "the object provided is unrecognized (must be of type {endpoint_kind}): {error} ({})",
            summarize(body)
        ),
    }
}

/// `summarizeData`: JSON-looking bodies as text, others in hex, cut at 30 bytes.
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = &body[..body.len().min(MAX)];
    let more = if body.len() > MAX { " ..." } else { "" };
    match body.first() {
        None => "<empty>".to_string(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(cut)),
        Some(_) => {
            let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

/// The `runtime.Unknown` envelope.
struct Unknown {
    api_version: String,
    kind: String,
    raw: Vec<u8>,
}

impl Unknown {
    /// `%#v` of the `runtime.TypeMeta`.
    fn go_type_meta(&self) -> String {
        format!(
            "runtime.TypeMeta{{APIVersion:{:?}, Kind:{:?}}}",
            self.api_version, self.kind
        )
    }
}

fn envelope(body: &[u8]) -> Result<Unknown, String> {
    if body.is_empty() {
        return Err("empty data".to_string());
    }
    if !body.starts_with(MAGIC) {
        return Err(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
                .to_string(),
        );
    }
    if body.len() == MAGIC.len() {
        return Err("empty body".to_string());
    }
    let mut unknown = Unknown {
        api_version: String::new(),
        kind: String::new(),
        raw: Vec::new(),
    };
    let mut r = Reader::new(&body[MAGIC.len()..], "Unknown");
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, WIRE_LEN) => {
                let mut tm = Reader::new(r.bytes()?, "TypeMeta");
                while let Some((num, wire)) = tm.tag()? {
                    match (num, wire) {
                        (1, WIRE_LEN) => unknown.api_version = tm.string()?,
                        (2, WIRE_LEN) => unknown.kind = tm.string()?,
                        _ => tm.skip(num, wire)?,
                    }
                }
            }
            (2, WIRE_LEN) => unknown.raw = r.bytes()?.to_vec(),
            _ => r.skip(num, wire)?,
        }
    }
    Ok(unknown)
}

// --- the wire format ---

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// Reads one message; errors are worded like the generated (gogo) unmarshallers'.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], message: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            message,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.data.get(self.pos) else {
                return Err("unexpected EOF".to_string());
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("proto: integer overflow".to_string())
    }

    /// The next field's number and wire type, or `None` at the end of the message.
    fn tag(&mut self) -> Result<Option<(u32, u8)>, String> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        let num = (key >> 3) as u32;
        if wire == 4 {
            return Err(format!(
                "proto: {}: wiretype end group for non-group",
                self.message
            ));
        }
        if num == 0 {
            return Err(format!(
                "proto: {}: illegal tag {num} (wire type {wire})",
                self.message
            ));
        }
        Ok(Some((num, wire)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .map_err(|_| "proto: negative length found during unmarshaling".to_string())?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| "unexpected EOF".to_string())?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn string(&mut self) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// Skips a field this decoder does not know (the real one ignores them too).
    fn skip(&mut self, _num: u32, wire: u8) -> Result<(), String> {
        match wire {
            WIRE_VARINT => self.varint().map(|_| ()),
            WIRE_FIXED64 => self.advance(8),
            WIRE_LEN => self.bytes().map(|_| ()),
            WIRE_FIXED32 => self.advance(4),
            other => Err(format!("proto: illegal wireType {other}")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.pos + n > self.data.len() {
            return Err("unexpected EOF".to_string());
        }
        self.pos += n;
        Ok(())
    }

    fn expect(&self, wire: u8, want: u8, field: &str) -> Result<(), String> {
        if wire == want {
            Ok(())
        } else {
            Err(format!("proto: wrong wireType = {wire} for field {field}"))
        }
    }
}

// --- message descriptions (field numbers from the generated.proto files) ---

/// A protobuf message: its Go type's name and fields.
pub(crate) struct Message {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

pub(crate) struct Field {
    num: u32,
    json: &'static str,
    kind: Kind,
}

/// How a field's value becomes JSON.
pub(crate) enum Kind {
    /// A Go `string` with `omitempty`: left out when empty.
    Str,
    /// A Go `string` without `omitempty` (always in the JSON).
    StrAlways,
    /// A pointer (`*string`, `*bool`, `*int32`): kept whenever it is sent.
    OptStr,
    OptBool,
    OptInt,
    /// An integer with `omitempty`.
    Int,
    /// `metav1.Time`: RFC 3339 to the second; an empty message is the zero time (left out).
    Time,
    /// `metav1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// An embedded struct (present whenever sent).
    Msg(&'static Message),
    /// `metav1.FieldsV1`: its raw bytes are JSON.
    FieldsV1,
    StrMap,
    /// `map[string][]byte`: values in base64.
    BytesMap,
    RepStr,
    RepMsg(&'static Message),
}

pub(crate) const fn field(num: u32, json: &'static str, kind: Kind) -> Field {
    Field { num, json, kind }
}

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        field(5, "apiVersion", Kind::Str),
        field(1, "kind", Kind::Str),
        field(3, "name", Kind::Str),
        field(4, "uid", Kind::Str),
        field(6, "controller", Kind::OptBool),
        field(7, "blockOwnerDeletion", Kind::OptBool),
    ],
};

static MANAGED_FIELDS_ENTRY: Message = Message {
    name: "ManagedFieldsEntry",
    fields: &[
        field(1, "manager", Kind::Str),
        field(2, "operation", Kind::Str),
        field(3, "apiVersion", Kind::Str),
        field(4, "time", Kind::Time),
        field(6, "fieldsType", Kind::Str),
        field(7, "fieldsV1", Kind::FieldsV1),
        field(8, "subresource", Kind::Str),
    ],
};

static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        field(1, "name", Kind::Str),
        field(2, "generateName", Kind::Str),
        field(3, "namespace", Kind::Str),
        field(4, "selfLink", Kind::Str),
        field(5, "uid", Kind::Str),
        field(6, "resourceVersion", Kind::Str),
        field(7, "generation", Kind::Int),
        field(8, "creationTimestamp", Kind::Time),
        field(9, "deletionTimestamp", Kind::Time),
        field(10, "deletionGracePeriodSeconds", Kind::OptInt),
        field(11, "labels", Kind::StrMap),
        field(12, "annotations", Kind::StrMap),
        field(13, "ownerReferences", Kind::RepMsg(&OWNER_REFERENCE)),
        field(14, "finalizers", Kind::RepStr),
        field(17, "managedFields", Kind::RepMsg(&MANAGED_FIELDS_ENTRY)),
    ],
};

pub(crate) const METADATA: Field = field(1, "metadata", Kind::Msg(&OBJECT_META));

pub(crate) static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        METADATA,
        field(5, "immutable", Kind::OptBool),
        field(2, "data", Kind::BytesMap),
        field(4, "stringData", Kind::StrMap),
        field(3, "type", Kind::Str),
    ],
};

pub(crate) static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        METADATA,
        field(4, "immutable", Kind::OptBool),
        field(2, "data", Kind::StrMap),
        field(3, "binaryData", Kind::BytesMap),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[field(1, "finalizers", Kind::RepStr)],
};

static NAMESPACE_CONDITION: Message = Message {
    name: "NamespaceCondition",
    fields: &[
        field(1, "type", Kind::Str),
        field(2, "status", Kind::Str),
        field(4, "lastTransitionTime", Kind::Time),
        field(5, "reason", Kind::Str),
        field(6, "message", Kind::Str),
    ],
};

static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[
        field(1, "phase", Kind::Str),
        field(2, "conditions", Kind::RepMsg(&NAMESPACE_CONDITION)),
    ],
};

pub(crate) static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        METADATA,
        field(2, "spec", Kind::Msg(&NAMESPACE_SPEC)),
        field(3, "status", Kind::Msg(&NAMESPACE_STATUS)),
    ],
};

pub(crate) static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        field(1, "kind", Kind::Str),
        field(2, "namespace", Kind::Str),
        field(3, "name", Kind::Str),
        field(4, "uid", Kind::Str),
        field(5, "apiVersion", Kind::Str),
        field(6, "resourceVersion", Kind::Str),
        field(7, "fieldPath", Kind::Str),
    ],
};

pub(crate) static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[field(1, "name", Kind::Str)],
};

static EVENT_SOURCE: Message = Message {
    name: "EventSource",
    fields: &[
        field(1, "component", Kind::Str),
        field(2, "host", Kind::Str),
    ],
};

static EVENT_SERIES: Message = Message {
    name: "EventSeries",
    fields: &[
        field(1, "count", Kind::Int),
        field(2, "lastObservedTime", Kind::MicroTime),
    ],
};

pub(crate) static EVENT: Message = Message {
    name: "Event",
    fields: &[
        METADATA,
        field(2, "involvedObject", Kind::Msg(&OBJECT_REFERENCE)),
        field(3, "reason", Kind::Str),
        field(4, "message", Kind::Str),
        field(5, "source", Kind::Msg(&EVENT_SOURCE)),
        field(6, "firstTimestamp", Kind::Time),
        field(7, "lastTimestamp", Kind::Time),
        field(8, "count", Kind::Int),
        field(9, "type", Kind::Str),
        field(10, "eventTime", Kind::MicroTime),
        field(11, "series", Kind::Msg(&EVENT_SERIES)),
        field(12, "action", Kind::Str),
        field(13, "related", Kind::Msg(&OBJECT_REFERENCE)),
        field(14, "reportingComponent", Kind::StrAlways),
        field(15, "reportingInstance", Kind::StrAlways),
    ],
};

static EVENTS_V1_SERIES: Message = Message {
    name: "EventSeries",
    fields: &[
        field(1, "count", Kind::OptInt),
        field(2, "lastObservedTime", Kind::MicroTime),
    ],
};

pub(crate) static EVENTS_V1_EVENT: Message = Message {
    name: "Event",
    fields: &[
        METADATA,
        field(2, "eventTime", Kind::MicroTime),
        field(3, "series", Kind::Msg(&EVENTS_V1_SERIES)),
        field(4, "reportingController", Kind::Str),
        field(5, "reportingInstance", Kind::Str),
        field(6, "action", Kind::Str),
        field(7, "reason", Kind::Str),
        field(8, "regarding", Kind::Msg(&OBJECT_REFERENCE)),
        field(9, "related", Kind::Msg(&OBJECT_REFERENCE)),
        field(10, "note", Kind::Str),
        field(11, "type", Kind::Str),
        field(12, "deprecatedSource", Kind::Msg(&EVENT_SOURCE)),
        field(13, "deprecatedFirstTimestamp", Kind::Time),
        field(14, "deprecatedLastTimestamp", Kind::Time),
        field(15, "deprecatedCount", Kind::Int),
    ],
};

static LEASE_SPEC: Message = Message {
    name: "LeaseSpec",
    fields: &[
        field(1, "holderIdentity", Kind::OptStr),
        field(2, "leaseDurationSeconds", Kind::OptInt),
        field(3, "acquireTime", Kind::MicroTime),
        field(4, "renewTime", Kind::MicroTime),
        field(5, "leaseTransitions", Kind::OptInt),
        field(6, "strategy", Kind::OptStr),
        field(7, "preferredHolder", Kind::OptStr),
    ],
};

pub(crate) static LEASE: Message = Message {
    name: "Lease",
    fields: &[METADATA, field(2, "spec", Kind::Msg(&LEASE_SPEC))],
};

static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "BoundObjectReference",
    fields: &[
        field(1, "kind", Kind::Str),
        field(2, "apiVersion", Kind::Str),
        field(3, "name", Kind::Str),
        field(4, "uid", Kind::Str),
    ],
};

static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        field(1, "audiences", Kind::RepStr),
        field(3, "boundObjectRef", Kind::Msg(&BOUND_OBJECT_REFERENCE)),
        field(4, "expirationSeconds", Kind::OptInt),
    ],
};

/// authentication.k8s.io/v1 TokenRequest, the body of `serviceaccounts/<name>/token`.
static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[METADATA, field(2, "spec", Kind::Msg(&TOKEN_REQUEST_SPEC))],
};

/// The message of a built-in kind (its strategy's), or of a subresource's request body.
fn kind_message(group: &str, version: &str, kind: &str) -> Option<&'static Message> {
    if (group, version, kind) == ("authentication.k8s.io", "v1", "TokenRequest") {
        return Some(&TOKEN_REQUEST);
    }
    let strategy = crate::kinds::builtin(group, kind)?;
    if strategy.definition().version != version {
        return None;
    }
    strategy.protobuf()
}

fn decode_message(
    data: &[u8],
    message: &'static Message,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let mut r = Reader::new(data, message.name);
    while let Some((num, wire)) = r.tag()? {
        let Some(f) = message.fields.iter().find(|f| f.num == num) else {
            r.skip(num, wire)?;
            continue;
        };
        decode_field(&mut r, wire, f, out)?;
    }
    Ok(())
}

fn decode_field(
    r: &mut Reader<'_>,
    wire: u8,
    f: &Field,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let name = f.json;
    match &f.kind {
        Kind::Str | Kind::StrAlways | Kind::OptStr => {
            r.expect(wire, WIRE_LEN, name)?;
            let s = r.string()?;
            if s.is_empty() && matches!(f.kind, Kind::Str) {
                out.remove(name);
            } else {
                out.insert(name.into(), json!(s));
            }
        }
        Kind::OptBool => {
            r.expect(wire, WIRE_VARINT, name)?;
            out.insert(name.into(), json!(r.varint()? != 0));
        }
        Kind::Int | Kind::OptInt => {
            r.expect(wire, WIRE_VARINT, name)?;
            // int32 and int64 share the varint encoding (negative values as 64-bit two's
            // complement).
            let v = r.varint()? as i64;
            if v == 0 && matches!(f.kind, Kind::Int) {
                out.remove(name);
            } else {
                out.insert(name.into(), json!(v));
            }
        }
        Kind::Time | Kind::MicroTime => {
            r.expect(wire, WIRE_LEN, name)?;
            match timestamp(r.bytes()?)? {
                Some((secs, nanos)) => {
                    let micro = matches!(f.kind, Kind::MicroTime);
                    out.insert(name.into(), json!(rfc3339(secs, nanos, micro)));
                }
                None => {
                    out.remove(name);
                }
            }
        }
        Kind::Msg(m) => {
            r.expect(wire, WIRE_LEN, name)?;
            let data = r.bytes()?;
            // A repeated occurrence of an embedded message merges into the first.
            let mut inner = match out.remove(name) {
                Some(Value::Object(existing)) => existing,
                _ => Map::new(),
            };
            decode_message(data, m, &mut inner)?;
            out.insert(name.into(), Value::Object(inner));
        }
        Kind::FieldsV1 => {
            r.expect(wire, WIRE_LEN, name)?;
            let mut fr = Reader::new(r.bytes()?, "FieldsV1");
            while let Some((num, wire)) = fr.tag()? {
                if num == 1 && wire == WIRE_LEN {
                    let raw = fr.bytes()?;
                    let v: Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
                    out.insert(name.into(), v);
                } else {
                    fr.skip(num, wire)?;
                }
            }
        }
        Kind::StrMap | Kind::BytesMap => {
            r.expect(wire, WIRE_LEN, name)?;
            let (k, v) = map_entry(r.bytes()?)?;
            let v = if matches!(f.kind, Kind::BytesMap) {
                base64::engine::general_purpose::STANDARD.encode(v)
            } else {
                String::from_utf8_lossy(&v).into_owned()
            };
            let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = map {
                m.insert(k, json!(v));
            }
        }
        Kind::RepStr | Kind::RepMsg(_) => {
            r.expect(wire, WIRE_LEN, name)?;
            let data = r.bytes()?;
            let item = match &f.kind {
                Kind::RepMsg(m) => {
                    let mut inner = Map::new();
                    decode_message(data, m, &mut inner)?;
                    Value::Object(inner)
                }
                _ => json!(String::from_utf8_lossy(data)),
            };
            let list = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                items.push(item);
            }
        }
    }
    Ok(())
}

/// A map entry: key (1) and value (2).
fn map_entry(data: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut r = Reader::new(data, "MapEntry");
    let (mut key, mut value) = (String::new(), Vec::new());
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, WIRE_LEN) => key = r.string()?,
            (2, WIRE_LEN) => value = r.bytes()?.to_vec(),
            _ => r.skip(num, wire)?,
        }
    }
    Ok((key, value))
}

/// A `Timestamp` message; `None` for the empty message of a zero time.
fn timestamp(data: &[u8]) -> Result<Option<(i64, i64)>, String> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut r = Reader::new(data, "Timestamp");
    let (mut secs, mut nanos) = (0i64, 0i64);
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, WIRE_VARINT) => secs = r.varint()? as i64,
            (2, WIRE_VARINT) => nanos = i64::from(r.varint()? as i32),
            _ => r.skip(num, wire)?,
        }
    }
    Ok(Some((secs, nanos)))
}

/// RFC 3339 in UTC: `2006-01-02T15:04:05Z`, or with `.000000` microseconds for MicroTime.
fn rfc3339(secs: i64, nanos: i64, micro: bool) -> String {
    let total = secs + nanos.div_euclid(1_000_000_000);
    let nanos = nanos.rem_euclid(1_000_000_000);
    let days = total.div_euclid(86_400);
    let rem = total.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micro {
        format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
            nanos / 1000
        )
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests;
