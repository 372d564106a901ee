//! The arena every schema lives in.
//!
//! A schema is a tree of nodes that may share subtrees and, for built-in
//! types such as `JSONSchemaProps`, loop back on itself. Nodes therefore
//! live in one vector and refer to each other by index: a `$ref` is just
//! the index of the definition's node, followed only when a value actually
//! goes there, so recursive types cost nothing to build and cannot make any
//! walk loop (every walk is driven by the value, which is finite).

use serde_json::Value;

use super::formats::Format;
use super::regex_go::GoRegex;

/// The index of a node in its tree.
pub(crate) type NodeId = u32;

/// The set of JSON types a node admits, with kube's spelling of the set
/// (`integer,string` for int-or-string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Types {
    mask: u8,
    name: &'static str,
}

impl Types {
    pub(crate) const OBJECT: Types = Types {
        mask: 1,
        name: "object",
    };
    pub(crate) const ARRAY: Types = Types {
        mask: 2,
        name: "array",
    };
    pub(crate) const STRING: Types = Types {
        mask: 4,
        name: "string",
    };
    pub(crate) const INTEGER: Types = Types {
        mask: 8,
        name: "integer",
    };
    pub(crate) const NUMBER: Types = Types {
        mask: 16,
        name: "number",
    };
    pub(crate) const BOOLEAN: Types = Types {
        mask: 32,
        name: "boolean",
    };
    /// `x-kubernetes-int-or-string`, as kube-openapi sees it.
    pub(crate) const INT_OR_STRING: Types = Types {
        mask: 8 | 4,
        name: "integer,string",
    };
    /// A built-in `Quantity`: a string, or any JSON number.
    pub(crate) const QUANTITY: Types = Types {
        mask: 16 | 4,
        name: "number,string",
    };

    /// The single type named `name`, as written in a schema.
    pub(crate) fn parse(name: &str) -> Option<Types> {
        Some(match name {
            "object" => Types::OBJECT,
            "array" => Types::ARRAY,
            "string" => Types::STRING,
            "integer" => Types::INTEGER,
            "number" => Types::NUMBER,
            "boolean" => Types::BOOLEAN,
            _ => return None,
        })
    }

    /// Whether the set includes `other` (a single type).
    pub(crate) fn contains(self, other: Types) -> bool {
        self.mask & other.mask == other.mask
    }

    /// kube's spelling of the set: the names joined with commas.
    pub(crate) fn name(self) -> &'static str {
        self.name
    }
}

/// What `additionalProperties` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Additional {
    /// `true` or `false` without a schema.
    Bool(bool),
    /// A schema for every other key.
    Schema(NodeId),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    Atomic,
    Set,
    Map,
}

/// What a built-in node is in Go, so decode errors can name Go types.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum GoKind {
    /// Nothing special: the Go type follows from the JSON type and format.
    #[default]
    Plain,
    /// A Go struct, with its package-qualified name (`v1.ConfigMap`).
    Struct(Box<str>),
    /// `intstr.IntOrString`.
    IntOrString,
    /// `resource.Quantity`.
    Quantity,
    /// `metav1.Time` (RFC 3339).
    Time,
    /// `metav1.MicroTime` (RFC 3339 with microseconds).
    MicroTime,
    /// Holds any JSON (`RawExtension`, `apiextensions JSON`, `FieldsV1`).
    Any,
}

/// One schema node: the structural part (type, properties, items,
/// additionalProperties), the value validations, and the vendor extensions.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) types: Option<Types>,
    pub(crate) nullable: bool,
    /// The format kube checks (unsupported formats are stripped, as kube
    /// strips them), and its name as written.
    pub(crate) format: Option<(Box<str>, Option<Format>)>,
    /// The format as written even when kube would strip it (int32, int64,
    /// byte...), for naming Go types.
    pub(crate) raw_format: Option<Box<str>>,
    pub(crate) default: Option<Value>,
    /// Sorted by name, so lookups are binary searches.
    pub(crate) properties: Vec<(Box<str>, NodeId)>,
    pub(crate) required: Vec<Box<str>>,
    pub(crate) additional: Option<Additional>,
    pub(crate) items: Option<NodeId>,
    pub(crate) enum_values: Option<Vec<Value>>,
    pub(crate) pattern: Option<GoRegex>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) unique_items: bool,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) all_of: Vec<NodeId>,
    pub(crate) any_of: Vec<NodeId>,
    pub(crate) one_of: Vec<NodeId>,
    pub(crate) not: Option<NodeId>,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded: bool,
    pub(crate) int_or_string: bool,
    pub(crate) list_type: Option<ListType>,
    pub(crate) list_map_keys: Vec<Box<str>>,
    pub(crate) map_type_atomic: bool,
    pub(crate) go: GoKind,
    /// `x-kubernetes-validations` as written (CRD schemas only).
    pub(crate) validations: Option<Value>,
    /// The compiled rules, filled in once the whole schema checks.
    pub(crate) rules: Vec<super::cel::Rule>,
    /// Whether this node or one under it has rules, so walks can stop.
    pub(crate) rules_below: bool,
    /// Whether this node or one under it is an embedded resource (CRD
    /// schemas only), so the embedded-resource walks can stop.
    pub(crate) embedded_below: bool,
}

impl Node {
    /// The schema of property `name`, if declared.
    pub(crate) fn property(&self, name: &str) -> Option<NodeId> {
        self.properties
            .binary_search_by(|(k, _)| k.as_ref().cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }

    /// Whether kube-openapi's type validator looks at this node at all.
    pub(crate) fn has_type_or_format(&self) -> bool {
        self.types.is_some() || self.format.is_some()
    }
}

/// Where a tree came from, which changes how its root is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A CRD version's `openAPIV3Schema`: the root is a resource root, so
    /// `apiVersion`, `kind` and `metadata` are never pruned there.
    Crd,
    /// A built-in type: every field, metadata included, is typed.
    Builtin,
}

/// All nodes of one schema, and the JSON it was built from.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    pub(crate) origin: Origin,
    pub(crate) raw: Value,
    pub(crate) name: Box<str>,
    /// Whether any node has CEL rules; without them an object costs no
    /// CEL work at all.
    pub(crate) has_rules: bool,
    /// Whether any node is an embedded resource; without one an object
    /// costs no embedded-resource work at all.
    pub(crate) has_embedded: bool,
}

impl Tree {
    /// The node at `id`. Ids only ever come from this tree, so the index is
    /// always in range; an out-of-range id would be a bug and yields an
    /// empty node instead of panicking.
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        static EMPTY: std::sync::OnceLock<Node> = std::sync::OnceLock::new();
        self.nodes
            .get(id as usize)
            .unwrap_or_else(|| EMPTY.get_or_init(Node::default))
    }
}
