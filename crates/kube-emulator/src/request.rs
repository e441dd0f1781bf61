//! Reading a request: the resource path, query parameters, body formats and the `Accept`
//! header, parsed leniently (kube-rs sends `?&limit=500`).

use std::collections::HashMap;

use serde_json::Value;

use crate::status::ApiError;

/// A resource path below `/api/v1` or `/apis/<group>/<version>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a URL path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(String),
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3(String),
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion(String, String),
    Resource(ResourcePath),
    Control(Vec<String>),
    NotFound,
}

pub fn route(path: &str) -> Route {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Route::Version,
        [h @ ("healthz" | "readyz" | "livez"), ..] => Route::Health(h.to_string()),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["emulator", rest @ ..] => Route::Control(rest.iter().map(|s| s.to_string()).collect()),
        ["api"] => Route::CoreVersions,
        ["api", "v1"] => Route::GroupVersion(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::GroupVersion(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let mk = |ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: ns.map(String::from),
            plural: plural.to_string(),
            name: name.map(String::from),
            subresource: sub.map(String::from),
        })
    };
    match rest {
        // /api/v1/namespaces/<name>/status|finalize are subresources of the namespace itself.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            mk(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => mk(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => mk(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => mk(Some(ns), plural, Some(name), Some(sub)),
        [plural] => mk(None, plural, None, None),
        [plural, name] => mk(None, plural, Some(name), None),
        [plural, name, sub] => mk(None, plural, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Query parameters (last value wins, empty pairs ignored).
#[derive(Clone, Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut map = HashMap::new();
        if let Some(q) = query {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if !k.is_empty() {
                    map.insert(k.into_owned(), v.into_owned());
                }
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A non-empty value.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }
}

/// The response representation the client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Json,
    Yaml,
    Table,
    PartialMetadata,
}

/// Picks a representation from `Accept`; `Err` for a type the server cannot produce.
pub fn negotiate(accept: Option<&str>) -> Result<Wanted, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Wanted::Json);
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: HashMap<String, String> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let as_ = params.get("as").map(String::as_str);
        match (media.as_str(), as_) {
            ("application/json", Some("Table"))
                if params.get("g").map(String::as_str) == Some("meta.k8s.io") =>
            {
                return Ok(Wanted::Table);
            }
            ("application/json", Some("PartialObjectMetadata" | "PartialObjectMetadataList")) => {
                return Ok(Wanted::PartialMetadata);
            }
            ("application/json", Some(_)) => {}
            ("application/json" | "*/*" | "application/*", None) => return Ok(Wanted::Json),
            ("application/yaml", None) => return Ok(Wanted::Yaml),
            // Protobuf responses are not produced; clients that list JSON too get JSON.
            ("application/vnd.kubernetes.protobuf", _) => {}
            _ => {}
        }
    }
    if accept.contains("application/vnd.kubernetes.protobuf") {
        return Ok(Wanted::Json);
    }
    Err(ApiError::not_acceptable())
}

/// Decodes a request body by its content type into JSON.
pub fn decode_body(content_type: &str, body: &[u8], kind_name: &str) -> Result<Value, ApiError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" | "*/*" => parse_json(body, kind_name),
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body, kind_name),
        "application/vnd.kubernetes.protobuf" => crate::ext::decode_protobuf(body, kind_name),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub fn parse_json(body: &[u8], kind_name: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let snippet: String = String::from_utf8_lossy(&body[..body.len().min(30)]).into_owned();
        let reason = if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        };
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind_name}): couldn't get version/kind; json parse error: {reason} ({snippet} ...)"
        ))
    })
}

pub fn parse_yaml(body: &[u8], kind_name: &str) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("invalid UTF-8 in body: {e}")))?;
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind_name}): {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/apis/demo.example.com/v1/namespaces/ns/gadgets/g1/status"),
            Route::Resource(ResourcePath {
                group: "demo.example.com".into(),
                version: "v1".into(),
                namespace: Some("ns".into()),
                plural: "gadgets".into(),
                name: Some("g1".into()),
                subresource: Some("status".into()),
            })
        );
        match route("/api/v1/namespaces/trace-ns") {
            Route::Resource(p) => {
                assert_eq!(p.plural, "namespaces");
                assert_eq!(p.name.as_deref(), Some("trace-ns"));
                assert_eq!(p.namespace, None);
            }
            other => panic!("{other:?}"),
        }
        match route("/api/v1/namespaces/x/finalize") {
            Route::Resource(p) => assert_eq!(p.subresource.as_deref(), Some("finalize")),
            other => panic!("{other:?}"),
        }
        assert_eq!(route("/apis"), Route::Groups);
        assert_eq!(route("/nothing/here"), Route::NotFound);
    }

    #[test]
    fn lenient_query() {
        let q = Query::parse(Some("&limit=500&labelSelector=a%3Db&watch=true"));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("labelSelector"), Some("a=b"));
        assert!(q.flag("watch"));
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(negotiate(None).unwrap(), Wanted::Json);
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap(),
            Wanted::Table
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap(),
            Wanted::Json
        );
        assert_eq!(negotiate(Some("application/yaml")).unwrap(), Wanted::Yaml);
        assert_eq!(negotiate(Some("text/html")).unwrap_err().code, 406);
    }
}

/// Keys that appear twice in a JSON object of the body, as paths (`spec.size`,
/// `spec.items[0].x`), for `fieldValidation=Strict`.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Seed<'a> {
        path: String,
        out: &'a mut Vec<String>,
    }

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Seed {
                    path: format!("{}[{i}]", self.path),
                    out: &mut *self.out,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path)
                };
                if !seen.insert(key) {
                    self.out.push(path.clone());
                }
                map.next_value_seed(Seed {
                    path,
                    out: &mut *self.out,
                })?;
            }
            Ok(())
        }
    }

    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Seed {
        path: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

#[cfg(test)]
mod duplicate_tests {
    #[test]
    fn finds_duplicate_keys_with_their_paths() {
        let body = br#"{"spec": {"size": 2, "size": 3, "items": [{"x": 1, "x": 2}]}, "kind": "A"}"#;
        assert_eq!(
            super::duplicate_fields(body),
            vec!["spec.size".to_string(), "spec.items[0].x".to_string()]
        );
        assert!(super::duplicate_fields(br#"{"a": 1}"#).is_empty());
    }
}
