//! What the server knows about a kind of resource it serves: names for discovery and URLs,
//! scope, subresources and, for custom resources, the schema and printer columns of the CRD
//! version. Built-in kinds and CRD-defined kinds are described the same way so that discovery,
//! OpenAPI, validation and tables treat them alike.

use serde_json::Value;

/// One served group/version/kind.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceKind {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `kind + "List"`.
    pub list_kind: String,
    /// The URL segment, e.g. `secrets`.
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Whether `/status` is served as a subresource.
    pub status_subresource: bool,
    /// Verbs advertised in discovery.
    pub verbs: Vec<String>,
    /// The `openAPIV3Schema` of a CRD version; `None` for built-in kinds.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a CRD version; empty for built-in kinds (their tables are
    /// fixed, see `table`).
    pub printer_columns: Vec<PrinterColumn>,
    /// True for kinds defined by a CustomResourceDefinition.
    pub custom: bool,
}

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: Option<String>,
    pub description: Option<String>,
    pub priority: i32,
    /// A Kubernetes JSONPath relative to the object, e.g. `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
}

impl ResourceKind {
    /// `apiVersion` as it appears in objects: `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `<plural>.<group>` (or just the plural for the core group), as used in error details
    /// and CRD names.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `<Kind>.<group>` (or just the kind for the core group), as used in Invalid messages.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}
