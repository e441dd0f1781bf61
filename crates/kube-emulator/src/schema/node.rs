//! One compiled node of an `openAPIV3Schema`: the keywords the real server's validator,
//! pruner and defaulter read, taken out of the JSON once so that each request only walks it.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

/// Formats a CRD schema may use and the server validates (kube-apiserver 1.36, dashes removed
/// as go-openapi normalises them). Others are ignored, as the server strips them.
const SUPPORTED_STRING_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
];

#[derive(Debug, Clone)]
pub enum Additional {
    /// `additionalProperties: true|false`.
    Allows(bool),
    /// `additionalProperties: {schema}`.
    Schema(Box<Node>),
}

/// A `pattern` with its compiled form; an invalid pattern is reported the way the server does.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Result<Regex, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Node {
    /// `type`, or `["integer","string"]` for `x-kubernetes-int-or-string`.
    pub types: Vec<String>,
    pub nullable: bool,
    /// The format after the server dropped the ones it does not support ("" when none).
    pub format: String,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: Option<Pattern>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub enum_values: Vec<Value>,
    pub properties: BTreeMap<String, Node>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub default: Option<Value>,
    pub preserve_unknown_fields: bool,
    pub embedded_resource: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
}

impl Node {
    pub fn compile(v: &Value, path: &str) -> Result<Node, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{path}: must be an object"))?;
        let mut node = Node {
            nullable: flag(obj, "nullable", path)?,
            exclusive_maximum: flag(obj, "exclusiveMaximum", path)?,
            exclusive_minimum: flag(obj, "exclusiveMinimum", path)?,
            unique_items: flag(obj, "uniqueItems", path)?,
            preserve_unknown_fields: flag(obj, "x-kubernetes-preserve-unknown-fields", path)?,
            embedded_resource: flag(obj, "x-kubernetes-embedded-resource", path)?,
            maximum: number(obj, "maximum", path)?,
            minimum: number(obj, "minimum", path)?,
            multiple_of: number(obj, "multipleOf", path)?,
            max_length: integer(obj, "maxLength", path)?,
            min_length: integer(obj, "minLength", path)?,
            max_items: integer(obj, "maxItems", path)?,
            min_items: integer(obj, "minItems", path)?,
            max_properties: integer(obj, "maxProperties", path)?,
            min_properties: integer(obj, "minProperties", path)?,
            required: strings(obj, "required", path)?,
            list_map_keys: strings(obj, "x-kubernetes-list-map-keys", path)?,
            list_type: string(obj, "x-kubernetes-list-type", path)?,
            default: obj.get("default").cloned(),
            ..Node::default()
        };
        let declared_type = string(obj, "type", path)?.unwrap_or_default();
        if flag(obj, "x-kubernetes-int-or-string", path)? {
            node.types = vec!["integer".into(), "string".into()];
        } else if !declared_type.is_empty() {
            node.types = vec![declared_type];
        }
        node.format = supported_format(
            &node.types,
            &string(obj, "format", path)?.unwrap_or_default(),
        );
        if let Some(source) = string(obj, "pattern", path)? {
            let regex = Regex::new(&source).map_err(|e| e.to_string());
            node.pattern = Some(Pattern { source, regex });
        }
        if let Some(values) = obj.get("enum") {
            node.enum_values = values
                .as_array()
                .ok_or_else(|| format!("{path}.enum: must be an array"))?
                .clone();
        }
        if let Some(props) = obj.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| format!("{path}.properties: must be an object"))?;
            for (name, sub) in props {
                node.properties.insert(
                    name.clone(),
                    Node::compile(sub, &format!("{path}.properties[{name}]"))?,
                );
            }
        }
        node.additional = match obj.get("additionalProperties") {
            None => None,
            Some(Value::Bool(b)) => Some(Additional::Allows(*b)),
            Some(sub) => Some(Additional::Schema(Box::new(Node::compile(
                sub,
                &format!("{path}.additionalProperties"),
            )?))),
        };
        if let Some(items) = obj.get("items") {
            node.items = Some(Box::new(Node::compile(items, &format!("{path}.items"))?));
        }
        node.all_of = list(obj, "allOf", path)?;
        node.any_of = list(obj, "anyOf", path)?;
        node.one_of = list(obj, "oneOf", path)?;
        if let Some(not) = obj.get("not") {
            node.not = Some(Box::new(Node::compile(not, &format!("{path}.not"))?));
        }
        Ok(node)
    }

    /// The schema for a key of an object: a declared property, else `additionalProperties`.
    pub fn child(&self, key: &str) -> Option<&Node> {
        self.properties.get(key).or(match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        })
    }

    /// Whether an object may hold keys beyond `properties` (for pruning).
    pub fn has_additional(&self) -> bool {
        self.additional.is_some()
    }
}

/// The server's `StripUnsupportedFormatsPostProcessor`: formats it does not know are dropped.
fn supported_format(types: &[String], format: &str) -> String {
    if format.is_empty() {
        return String::new();
    }
    let single = if types.len() == 1 {
        types[0].as_str()
    } else {
        ""
    };
    let keep = match single {
        "" | "string" => SUPPORTED_STRING_FORMATS.contains(&format.replace('-', "").as_str()),
        "integer" => format == "int32" || format == "int64",
        "number" => format == "float" || format == "double",
        _ => false,
    };
    if keep {
        format.to_string()
    } else {
        String::new()
    }
}

fn flag(obj: &Map<String, Value>, key: &str, path: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{path}.{key}: must be a boolean")),
    }
}

fn number(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(format!("{path}.{key}: must be a number")),
    }
}

fn integer(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<i64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{path}.{key}: must be an integer")),
        Some(_) => Err(format!("{path}.{key}: must be an integer")),
    }
}

fn string(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{path}.{key}: must be a string")),
    }
}

fn strings(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{path}.{key}: must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{path}.{key}: must be a list of strings")),
    }
}

fn list(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<Node>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| Node::compile(s, &format!("{path}.{key}[{i}]")))
            .collect(),
        Some(_) => Err(format!("{path}.{key}: must be a list of schemas")),
    }
}
