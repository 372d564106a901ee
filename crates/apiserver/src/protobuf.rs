//! Request bodies in Kubernetes protobuf (`application/vnd.kubernetes.protobuf`),
//! decoded into the JSON kube-apiserver would have produced for the same
//! object.
//!
//! kubectl and client-go send built-in kinds as protobuf: the bytes `k8s\0`,
//! then a `runtime.Unknown` envelope whose `typeMeta` names the kind and
//! whose `raw` holds the object, written by gogo-protobuf from the Go
//! structs of k8s.io/api. The server keeps objects as JSON, so the object is
//! turned into the JSON kube's encoder would write for the decoded Go
//! struct.
//!
//! The messages come from the vendored `generated.proto` files, which
//! `build.rs` compiles into a descriptor set read here with prost-reflect.
//! The .proto files do not say how a field is written as JSON (its name,
//! `omitempty`, whether the Go field is a pointer), so `proto/gojson.txt`
//! (generated from the Go types) and `proto/gojson-extra.txt` (by hand) say
//! it. The wire is read the way gogo's generated `Unmarshal` methods read
//! it, not as a conforming protobuf parser would, because clients see the
//! difference: strings are not checked for UTF-8, a message field that
//! occurs twice merges, unknown fields are skipped, and malformed input gets
//! gogo's exact error text.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use prost_reflect::{DescriptorPool, Kind};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;
use crate::field::go_quote;

/// The media type of kube's protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every kube protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// The descriptor set `build.rs` compiles from `proto/`.
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s.fds"));

/// How each Go field serializes to JSON (see `proto/README.md`).
const GOJSON: [&str; 2] = [
    include_str!("../proto/gojson.txt"),
    include_str!("../proto/gojson-extra.txt"),
];

/// The name kube-apiserver's scheme for built-in kinds has in its errors
/// (the call site of `runtime.NewScheme`).
const LEGACY_SCHEME: &str = "pkg/api/legacyscheme/scheme.go:30";

/// The name of apiextensions-apiserver's scheme in its errors.
const APIEXTENSIONS_SCHEME: &str = "pkg/apiserver/apiserver.go:56";

/// The name of the scheme DeleteOptions bodies are decoded with.
const META_SCHEME: &str = "pkg/apis/meta/internalversion/scheme/register.go:27";

/// Unix seconds of Go's zero `time.Time` (January 1, year 1, UTC), which
/// `metav1.Time` writes as JSON `null`.
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// The kinds decoded: group, version, kind and protobuf message.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
    ("", "v1", "Endpoints", "k8s.io.api.core.v1.Endpoints"),
    ("", "v1", "Event", "k8s.io.api.core.v1.Event"),
    ("", "v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
    ("", "v1", "Secret", "k8s.io.api.core.v1.Secret"),
    ("", "v1", "Service", "k8s.io.api.core.v1.Service"),
    (
        "",
        "v1",
        "ServiceAccount",
        "k8s.io.api.core.v1.ServiceAccount",
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "k8s.io.api.discovery.v1.EndpointSlice",
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "k8s.io.api.coordination.v1.Lease",
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    ),
];

/// Older versions kube's schemes still register for those kinds: they
/// decode, then fail the endpoint's version check.
const OTHER_VERSIONS: &[(&str, &str, &str)] = &[
    ("discovery.k8s.io", "v1beta1", "EndpointSlice"),
    ("coordination.k8s.io", "v1beta1", "Lease"),
    (
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
    ),
];

/// The envelope message.
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

/// The DeleteOptions message.
const DELETE_OPTIONS: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions";

/// How deeply messages may nest. The server's JSON reader stops at 128
/// levels, so deeper objects could not be read back; the limit also keeps
/// hostile nesting off the stack.
const MAX_DEPTH: usize = 100;

/// Why a protobuf body could not be decoded. The `Display` text is kube's
/// message; everything but [`ProtobufError::Schema`] answers 400 BadRequest.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProtobufError {
    /// The envelope could not be read (kube's `transformDecodeError` when
    /// the kind is not known yet).
    #[error(
        "the object provided is unrecognized (must be of type {expected}): {cause} ({summary})"
    )]
    Unrecognized {
        /// The endpoint's kind.
        expected: String,
        /// What went wrong.
        cause: Box<ProtobufError>,
        /// kube's summary of the body: its first 30 bytes, in hex.
        summary: String,
    },
    /// The object named by the envelope could not become the endpoint's
    /// kind (kube's `transformDecodeError` once the kind is known).
    #[error("{kind} in version {} cannot be handled as a {expected}: {cause}", go_quote(.version))]
    CannotHandle {
        /// The envelope's kind.
        kind: String,
        /// The envelope's version (without the group).
        version: String,
        /// The endpoint's kind.
        expected: String,
        /// What went wrong.
        cause: Box<ProtobufError>,
    },
    /// The envelope names another version of the endpoint's kind.
    #[error(
        "the API version in the data ({data}) does not match the expected API version ({expected})"
    )]
    VersionMismatch {
        /// The envelope's group/version.
        data: String,
        /// The endpoint's group/version.
        expected: String,
    },
    /// The body is empty.
    #[error("empty data")]
    EmptyData,
    /// The body does not start with `k8s\0`.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NoPrefix,
    /// The body is only the prefix.
    #[error("empty body")]
    EmptyBody,
    /// The input ends inside a value.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A varint runs past ten bytes.
    #[error("proto: integer overflow")]
    IntegerOverflow,
    /// A length does not fit (Go sees it as negative).
    #[error("proto: negative length found during unmarshaling")]
    NegativeLength,
    /// An unknown field closes a group it did not open.
    #[error("proto: unexpected end of group")]
    UnexpectedEndOfGroup,
    /// An unknown field has wire type 6 or 7.
    #[error("proto: illegal wireType {0}")]
    IllegalWireType(u64),
    /// A field of the message has wire type 4 (end group).
    #[error("proto: {message}: wiretype end group for non-group")]
    EndGroup {
        /// The Go type being decoded.
        message: String,
    },
    /// A field number is zero or negative. Like gogo, `wire` is the whole
    /// tag, not only its wire type.
    #[error("proto: {message}: illegal tag {tag} (wire type {wire})")]
    IllegalTag {
        /// The Go type being decoded.
        message: String,
        /// The field number, as Go's int32.
        tag: i32,
        /// The tag varint.
        wire: u64,
    },
    /// A known field comes with the wrong wire type.
    #[error("proto: wrong wireType = {wire_type} for field {field}")]
    WrongWireType {
        /// The wire type found.
        wire_type: u64,
        /// The Go field name.
        field: String,
    },
    /// The scheme has no such kind (kube's `notRegisteredErr`).
    #[error("no kind {} is registered for version {} in scheme {}", go_quote(.kind), go_quote(.version), go_quote(.scheme))]
    NotRegistered {
        /// The kind.
        kind: String,
        /// Its group/version.
        version: String,
        /// The scheme's name.
        scheme: String,
    },
    /// The object decoded as another kind than the endpoint's.
    #[error("converting ({from}) to ({to}): unknown conversion")]
    UnknownConversion {
        /// The Go type decoded (`v1.Secret`).
        from: String,
        /// The endpoint's internal Go type (`core.ConfigMap`).
        to: String,
    },
    /// Custom resources have no protobuf form: kube's decoder asks the
    /// empty object it decodes into for its kind, and it has none.
    #[error("Object 'Kind' is missing in 'object has no kind field '")]
    MissingKind,
    /// An IntOrString whose type is neither 0 nor 1.
    #[error(
        "json: error calling MarshalJSON for type intstr.IntOrString: impossible IntOrString.Type"
    )]
    ImpossibleIntOrString,
    /// Raw JSON (FieldsV1, RawExtension, JSON) that is not JSON.
    #[error("json: error calling MarshalJSON for type {go_type}: {detail}")]
    InvalidRawJson {
        /// The Go type holding it.
        go_type: String,
        /// Why it is not JSON.
        detail: String,
    },
    /// A double that JSON cannot hold.
    #[error("json: unsupported value: {0}")]
    UnsupportedValue(String),
    /// Messages nest deeper than this server stores (a causeway limit; kube
    /// has none).
    #[error("proto: messages nest deeper than 100 levels")]
    TooDeep,
    /// The compiled-in descriptors or JSON tables disagree (a build defect).
    #[error("protobuf schema: {0}")]
    Schema(String),
}

impl From<ProtobufError> for ApiError {
    /// kube answers decode failures 400; a schema defect is the server's.
    fn from(e: ProtobufError) -> ApiError {
        match e {
            ProtobufError::Schema(_) => ApiError::Internal(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// Decodes a protobuf request body sent to an endpoint of
/// `expected_api_version`/`expected_kind` into the JSON kube would have
/// made of it, with `apiVersion` and `kind` set from the envelope.
///
/// `expected_kind` `DeleteOptions` decodes a DELETE body the way kube's
/// delete handler does (its errors are not wrapped); a kind this module does
/// not know is taken to be a custom resource, which kube cannot decode from
/// protobuf.
pub fn decode(
    body: &[u8],
    expected_api_version: &str,
    expected_kind: &str,
) -> Result<Value, ProtobufError> {
    let schema = SCHEMA.as_ref().map_err(Clone::clone)?;
    if expected_kind == "DeleteOptions" {
        return decode_delete_options(schema, body);
    }
    let (expected_group, expected_version) = parse_group_version(expected_api_version);
    let envelope = schema
        .envelope(body)
        .map_err(|cause| ProtobufError::Unrecognized {
            expected: expected_kind.to_string(),
            cause: Box::new(cause),
            summary: summarize(body),
        })?;
    let (group, version, kind) =
        envelope.defaulted(expected_group, expected_version, expected_kind);
    let cannot_handle = |cause: ProtobufError| ProtobufError::CannotHandle {
        kind: kind.clone(),
        version: version.clone(),
        expected: expected_kind.to_string(),
        cause: Box::new(cause),
    };
    if schema
        .kind(expected_group, expected_version, expected_kind)
        .is_none()
    {
        return Err(cannot_handle(ProtobufError::MissingKind));
    }
    let scheme = scheme_of(expected_group);
    let Some(msg) = schema
        .kind(&group, &version, &kind)
        .filter(|_| scheme_of(&group) == scheme)
    else {
        let registered = scheme_of(&group) == scheme
            && OTHER_VERSIONS.contains(&(group.as_str(), version.as_str(), kind.as_str()));
        return Err(if registered && kind == expected_kind {
            ProtobufError::VersionMismatch {
                data: join_group_version(&group, &version),
                expected: join_group_version(expected_group, expected_version),
            }
        } else if registered {
            cannot_handle(ProtobufError::UnknownConversion {
                from: format!("{version}.{kind}"),
                to: format!("{}.{expected_kind}", internal_package(expected_group)),
            })
        } else {
            cannot_handle(ProtobufError::NotRegistered {
                kind: kind.clone(),
                version: join_group_version(&group, &version),
                scheme: scheme.to_string(),
            })
        });
    };
    let obj = schema
        .decode_message(msg, envelope.raw)
        .map_err(cannot_handle)?;
    if kind != expected_kind {
        return Err(cannot_handle(ProtobufError::UnknownConversion {
            from: format!("{version}.{kind}"),
            to: format!("{}.{expected_kind}", internal_package(expected_group)),
        }));
    }
    let mut json = schema.message_json(&obj).map_err(cannot_handle)?;
    set_type(&mut json, &join_group_version(&group, &version), &kind);
    Ok(json)
}

/// A DELETE body: kube decodes it with its meta scheme, which takes
/// DeleteOptions of any version, and answers its errors unwrapped.
fn decode_delete_options(schema: &Schema, body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = schema.envelope(body)?;
    let (group, version, kind) = envelope.defaulted("meta.k8s.io", "v1", "DeleteOptions");
    if kind != "DeleteOptions" {
        return Err(ProtobufError::NotRegistered {
            kind,
            version: join_group_version(&group, &version),
            scheme: META_SCHEME.to_string(),
        });
    }
    let msg = schema
        .message_index(DELETE_OPTIONS)
        .ok_or_else(|| ProtobufError::Schema(format!("no message {DELETE_OPTIONS}")))?;
    let obj = schema.decode_message(msg, envelope.raw)?;
    let mut json = schema.message_json(&obj)?;
    set_type(&mut json, &join_group_version(&group, &version), &kind);
    Ok(json)
}

/// Sets `apiVersion` and `kind`, as the inline TypeMeta of kube's structs
/// writes them.
fn set_type(json: &mut Value, api_version: &str, kind: &str) {
    if let Some(o) = json.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(api_version.to_string()));
        o.insert("kind".into(), Value::String(kind.to_string()));
    }
}

/// Which scheme kube decodes a group's kinds with.
fn scheme_of(group: &str) -> &'static str {
    if group == "apiextensions.k8s.io" {
        APIEXTENSIONS_SCHEME
    } else {
        LEGACY_SCHEME
    }
}

/// The Go package of a group's internal types, as conversion errors name
/// it.
fn internal_package(group: &str) -> &str {
    match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    }
}

/// Splits an apiVersion as kube's `schema.ParseGroupVersion` does; what it
/// rejects (more than one `/`) counts as no version at all, as in
/// `schema.FromAPIVersionAndKind`.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    if api_version.is_empty() || api_version == "/" {
        return ("", "");
    }
    match api_version.split_once('/') {
        None => ("", api_version),
        Some((g, v)) if !v.contains('/') => (g, v),
        Some(_) => ("", ""),
    }
}

/// `group/version`, or `version` for the core group.
fn join_group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// kube's `summarizeData(body, 30)` for decode errors.
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = &body[..body.len().min(MAX)];
    let more = if body.len() > MAX { " ..." } else { "" };
    match body.first() {
        None => "<empty>".to_string(),
        Some(b'{') => format!("{}{more}", go_string(cut)),
        Some(_) => {
            let mut hex = String::with_capacity(cut.len() * 2 + more.len());
            for b in cut {
                hex.push_str(&format!("{b:02x}"));
            }
            hex.push_str(more);
            hex
        }
    }
}

/// Bytes as a Go string becomes JSON: each byte that is not part of valid
/// UTF-8 turns into U+FFFD (Rust's lossy conversion replaces whole invalid
/// sequences instead).
fn go_string(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{FFFD}');
        }
    }
    out
}

/// The compiled schema, built on first use.
static SCHEMA: LazyLock<Result<Schema, ProtobufError>> = LazyLock::new(Schema::load);

/// Every message reachable from the decoded kinds, with what decoding and
/// JSON need of each field.
#[derive(Debug)]
struct Schema {
    /// The messages; fields refer to each other by index.
    messages: Vec<Message>,
    /// Message index by full protobuf name.
    by_name: HashMap<String, usize>,
    /// The envelope message.
    unknown: usize,
}

impl Schema {
    /// Builds the schema from the compiled descriptors and the JSON tables.
    fn load() -> Result<Schema, ProtobufError> {
        let err = ProtobufError::Schema;
        let pool = DescriptorPool::decode(DESCRIPTORS).map_err(|e| err(e.to_string()))?;
        let facts = parse_facts()?;
        // First every reachable message gets an index, so that fields can
        // refer to messages built after them.
        let mut names: Vec<String> = KINDS.iter().map(|k| k.3.to_string()).collect();
        names.push(UNKNOWN.to_string());
        names.push(DELETE_OPTIONS.to_string());
        // Kinds to come will reach these; loading them now keeps their JSON
        // form checked.
        names.extend(
            [
                "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
                "k8s.io.apimachinery.pkg.api.resource.Quantity",
                "k8s.io.apimachinery.pkg.runtime.RawExtension",
            ]
            .map(String::from),
        );
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut descs = Vec::new();
        let mut next = 0;
        while next < names.len() {
            let name = names[next].clone();
            next += 1;
            if by_name.contains_key(&name) {
                continue;
            }
            let desc = pool
                .get_message_by_name(&name)
                .ok_or_else(|| err(format!("no message {name} in the descriptors")))?;
            for fd in desc.fields() {
                let kind = if fd.is_map() {
                    match fd.kind() {
                        Kind::Message(entry) => entry.map_entry_value_field().kind(),
                        other => other,
                    }
                } else {
                    fd.kind()
                };
                if let Kind::Message(m) = kind {
                    names.push(m.full_name().to_string());
                }
            }
            by_name.insert(name, descs.len());
            descs.push(desc);
        }
        let mut messages = Vec::with_capacity(descs.len());
        for desc in &descs {
            let name = desc.full_name();
            let (go_name, lines) = facts
                .get(name)
                .ok_or_else(|| err(format!("no JSON facts for {name}")))?;
            if desc.fields().len() != lines.len() {
                return Err(err(format!(
                    "{name}: {} fields in the descriptors, {} in the JSON facts",
                    desc.fields().len(),
                    lines.len()
                )));
            }
            let mut fields = Vec::with_capacity(lines.len());
            let mut by_number = Vec::new();
            for line in lines {
                let fd = desc
                    .get_field(line.number)
                    .ok_or_else(|| err(format!("{name}: no field {}", line.number)))?;
                let (shape, kind) = if fd.is_map() {
                    let Kind::Message(entry) = fd.kind() else {
                        return Err(err(format!("{name}.{}: map without entry", fd.name())));
                    };
                    if entry.map_entry_key_field().kind() != Kind::String {
                        return Err(err(format!(
                            "{name}.{}: map key is not a string",
                            fd.name()
                        )));
                    }
                    (Shape::Map, entry.map_entry_value_field().kind())
                } else if fd.is_list() {
                    (Shape::Repeated, fd.kind())
                } else {
                    (Shape::Single, fd.kind())
                };
                let ty = match kind {
                    Kind::String => Ty::String,
                    Kind::Bytes => Ty::Bytes,
                    Kind::Bool => Ty::Bool,
                    Kind::Int32 => Ty::Int32,
                    Kind::Int64 => Ty::Int64,
                    Kind::Double => Ty::Double,
                    Kind::Message(m) => Ty::Message(
                        *by_name
                            .get(m.full_name())
                            .ok_or_else(|| err(format!("{} not indexed", m.full_name())))?,
                    ),
                    other => {
                        return Err(err(format!(
                            "{name}.{}: unsupported type {other:?}",
                            fd.name()
                        )));
                    }
                };
                let number = line.number as usize;
                if by_number.len() <= number {
                    by_number.resize(number + 1, NONE);
                }
                by_number[number] = u16::try_from(fields.len()).map_err(|e| err(e.to_string()))?;
                fields.push(Field {
                    go_name: line.go_name.clone(),
                    json: line.json.clone(),
                    omitempty: line.omitempty,
                    ptr: line.ptr,
                    shape,
                    ty,
                });
            }
            messages.push(Message {
                go_name: go_name.clone(),
                special: special_of(name),
                fields,
                by_number,
            });
        }
        let unknown = *by_name
            .get(UNKNOWN)
            .ok_or_else(|| err("no envelope message".into()))?;
        Ok(Schema {
            messages,
            by_name,
            unknown,
        })
    }

    /// A message's index by full name.
    fn message_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The message of a kind this module decodes.
    fn kind(&self, group: &str, version: &str, kind: &str) -> Option<usize> {
        KINDS
            .iter()
            .find(|k| k.0 == group && k.1 == version && k.2 == kind)
            .and_then(|k| self.message_index(k.3))
    }

    /// Reads the prefix and the `runtime.Unknown` envelope, as kube's
    /// protobuf serializer does.
    fn envelope<'a>(&self, body: &'a [u8]) -> Result<Envelope<'a>, ProtobufError> {
        if body.is_empty() {
            return Err(ProtobufError::EmptyData);
        }
        let Some(data) = body.strip_prefix(MAGIC) else {
            return Err(ProtobufError::NoPrefix);
        };
        if data.is_empty() {
            return Err(ProtobufError::EmptyBody);
        }
        let unk = self.decode_message(self.unknown, data)?;
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
        };
        for (i, field) in self.messages[unk.msg].fields.iter().enumerate() {
            let slot = unk.get(i);
            match (field.go_name.as_str(), slot) {
                ("TypeMeta", Slot::One(Val::Msg(tm))) => {
                    for (j, f) in self.messages[tm.msg].fields.iter().enumerate() {
                        let s = tm.get(j);
                        if let Slot::One(Val::Bytes(b)) = s {
                            match f.go_name.as_str() {
                                "APIVersion" => envelope.api_version = go_string(b),
                                "Kind" => envelope.kind = go_string(b),
                                _ => {}
                            }
                        }
                    }
                }
                ("Raw", Slot::One(Val::Bytes(b))) => envelope.raw = b,
                _ => {}
            }
        }
        Ok(envelope)
    }

    /// Decodes one message from its bytes.
    fn decode_message<'a>(&self, msg: usize, data: &'a [u8]) -> Result<Obj<'a>, ProtobufError> {
        let mut obj = self.empty(msg);
        self.merge(&mut obj, data, 0)?;
        Ok(obj)
    }

    /// A message with no field set.
    fn empty<'a>(&self, msg: usize) -> Obj<'a> {
        Obj {
            msg,
            slots: Vec::new(),
        }
    }

    /// A message-typed value read from `data`: Time and MicroTime as gogo's
    /// custom `Unmarshal` reads them (empty means zero), others merged into
    /// `into` when given, as gogo's `m.Field.Unmarshal` merges.
    fn message_value<'a>(
        &self,
        msg: usize,
        data: &'a [u8],
        into: Option<Obj<'a>>,
        depth: usize,
    ) -> Result<Val<'a>, ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep);
        }
        match self.messages[msg].special {
            special @ (Special::Time | Special::MicroTime) => {
                let micro = special == Special::MicroTime;
                if data.is_empty() {
                    return Ok(Val::Time { micro, at: None });
                }
                let mut ts = self.empty(msg);
                self.merge(&mut ts, data, depth)?;
                let mut secs = 0;
                let mut nanos = 0;
                for (i, f) in self.messages[msg].fields.iter().enumerate() {
                    let s = ts.get(i);
                    if let Slot::One(Val::Int(v)) = s {
                        match f.go_name.as_str() {
                            "Seconds" => secs = *v,
                            // Read as Go's int32, so it fits.
                            "Nanos" => nanos = i32::try_from(*v).unwrap_or_default(),
                            _ => {}
                        }
                    }
                }
                Ok(Val::Time {
                    micro,
                    at: Some((secs, nanos)),
                })
            }
            _ => {
                let mut obj = into.unwrap_or_else(|| self.empty(msg));
                self.merge(&mut obj, data, depth)?;
                Ok(Val::Msg(obj))
            }
        }
    }

    /// Reads fields from `data` into `obj`, as gogo's generated `Unmarshal`
    /// does.
    fn merge<'a>(
        &self,
        obj: &mut Obj<'a>,
        data: &'a [u8],
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let message = &self.messages[obj.msg];
        let mut r = Reader { buf: data, pos: 0 };
        while r.pos < data.len() {
            let start = r.pos;
            let wire = r.varint()?;
            // Go converts the field number to int32, dropping high bits.
            let number = (wire >> 3) as u32 as i32;
            let wire_type = wire & 7;
            if wire_type == 4 {
                return Err(ProtobufError::EndGroup {
                    message: message.go_name.clone(),
                });
            }
            if number <= 0 {
                return Err(ProtobufError::IllegalTag {
                    message: message.go_name.clone(),
                    tag: number,
                    wire,
                });
            }
            let index = message
                .by_number
                .get(number as usize)
                .copied()
                .filter(|i| *i != NONE);
            let Some(index) = index else {
                r.pos = start;
                r.skip_field()?;
                continue;
            };
            let field = &message.fields[usize::from(index)];
            let slot = obj.slot_mut(index);
            match field.shape {
                Shape::Map => {
                    expect_wire(wire_type, 2, field)?;
                    let entry = r.length_delimited()?;
                    let (key, val) = self.map_entry(field, &mut r, entry, depth)?;
                    match slot {
                        Slot::Map(entries) => entries.push((key, val)),
                        other => *other = Slot::Map(vec![(key, val)]),
                    }
                }
                Shape::Repeated => {
                    let mut vals = Vec::new();
                    self.read_repeated(field, wire_type, &mut r, &mut vals, depth)?;
                    match slot {
                        Slot::List(list) => list.extend(vals),
                        other => *other = Slot::List(vals),
                    }
                }
                Shape::Single => {
                    let val = match field.ty {
                        Ty::Message(m) => {
                            expect_wire(wire_type, 2, field)?;
                            let bytes = r.length_delimited()?;
                            let prev = match std::mem::replace(slot, Slot::Unset) {
                                Slot::One(Val::Msg(o)) => Some(o),
                                _ => None,
                            };
                            self.message_value(m, bytes, prev, depth + 1)?
                        }
                        ty => read_scalar(ty, wire_type, field, &mut r)?,
                    };
                    *slot = Slot::One(val);
                }
            }
        }
        Ok(())
    }

    /// One value (or, packed, several) of a repeated field.
    fn read_repeated<'a>(
        &self,
        field: &Field,
        wire_type: u64,
        r: &mut Reader<'a>,
        out: &mut Vec<Val<'a>>,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        match field.ty {
            Ty::Message(m) => {
                expect_wire(wire_type, 2, field)?;
                let bytes = r.length_delimited()?;
                out.push(self.message_value(m, bytes, None, depth + 1)?);
            }
            Ty::String | Ty::Bytes => {
                expect_wire(wire_type, 2, field)?;
                out.push(Val::Bytes(r.length_delimited()?));
            }
            ty if wire_type == 2 => {
                // Packed numbers: gogo takes either form.
                let bytes = r.length_delimited()?;
                let mut inner = Reader { buf: bytes, pos: 0 };
                let unpacked = if ty == Ty::Double { 1 } else { 0 };
                while inner.pos < bytes.len() {
                    out.push(read_scalar(ty, unpacked, field, &mut inner)?);
                }
            }
            ty => out.push(read_scalar(ty, wire_type, field, r)?),
        }
        Ok(())
    }

    /// One map entry. gogo reads the key and value without checking their
    /// wire types, bounds them by the whole message rather than the entry,
    /// and defaults a missing key or value to empty.
    fn map_entry<'a>(
        &self,
        field: &Field,
        r: &mut Reader<'a>,
        entry: &'a [u8],
        depth: usize,
    ) -> Result<(&'a [u8], Val<'a>), ProtobufError> {
        let end = r.pos;
        let mut e = Reader {
            buf: r.buf,
            pos: end - entry.len(),
        };
        let mut key: &[u8] = &[];
        let mut val = None;
        while e.pos < end {
            let start = e.pos;
            let wire = e.varint()?;
            match (wire >> 3) as u32 as i32 {
                1 => key = e.length_delimited()?,
                2 => {
                    val = Some(match field.ty {
                        Ty::Message(m) => {
                            let bytes = e.length_delimited()?;
                            self.message_value(m, bytes, None, depth + 1)?
                        }
                        Ty::String | Ty::Bytes => Val::Bytes(e.length_delimited()?),
                        ty => read_scalar(ty, wire & 7, field, &mut e)?,
                    })
                }
                _ => {
                    e.pos = start;
                    let n = skip(&e.buf[start..])?;
                    if start + n > end {
                        return Err(ProtobufError::UnexpectedEof);
                    }
                    e.pos = start + n;
                }
            }
        }
        let val = match val {
            Some(v) => v,
            None => match field.ty {
                Ty::Message(m) => self.message_value(m, &[], None, depth + 1)?,
                Ty::Bool => Val::Bool(false),
                Ty::Int32 | Ty::Int64 => Val::Int(0),
                Ty::Double => Val::Double(0.0),
                Ty::String | Ty::Bytes => Val::Bytes(&[]),
            },
        };
        Ok((key, val))
    }

    /// The JSON kube writes for a message value.
    fn message_json(&self, obj: &Obj<'_>) -> Result<Value, ProtobufError> {
        let message = &self.messages[obj.msg];
        let field = |go_name: &str| -> (Ty, &Slot<'_>) {
            match message.fields.iter().position(|f| f.go_name == go_name) {
                Some(i) => (message.fields[i].ty, obj.get(i)),
                None => (Ty::String, &UNSET),
            }
        };
        match message.special {
            Special::None => self.struct_json(message, obj),
            // Decoded times are Val::Time; this is an absent one, Go's zero.
            Special::Time | Special::MicroTime => Ok(Value::Null),
            Special::Duration => {
                let ns = match field("Duration").1 {
                    Slot::One(Val::Int(n)) => *n,
                    _ => 0,
                };
                Ok(Value::String(go_duration(ns)))
            }
            Special::IntOrString => {
                let ty = match field("Type").1 {
                    Slot::One(Val::Int(t)) => *t,
                    _ => 0,
                };
                match ty {
                    0 => Ok(match field("IntVal").1 {
                        Slot::One(Val::Int(i)) => Value::from(*i),
                        _ => Value::from(0),
                    }),
                    1 => Ok(Value::String(match field("StrVal").1 {
                        Slot::One(Val::Bytes(b)) => go_string(b),
                        _ => String::new(),
                    })),
                    _ => Err(ProtobufError::ImpossibleIntOrString),
                }
            }
            Special::Quantity => Ok(Value::String(match field("String_").1 {
                Slot::One(Val::Bytes(b)) => go_string(b),
                _ => "0".to_string(),
            })),
            Special::FieldsV1 | Special::RawExtension => match field("Raw").1 {
                Slot::One(Val::Bytes(b)) => raw_json(b, go_type_of(message)),
                _ => Ok(Value::Null),
            },
            Special::Json => match field("Raw").1 {
                Slot::One(Val::Bytes(b)) if !b.is_empty() => raw_json(b, go_type_of(message)),
                _ => Ok(Value::Null),
            },
            Special::OrBool => match field("Schema") {
                (ty, Slot::One(v)) => self.value_json(ty, v),
                _ => Ok(Value::Bool(matches!(
                    field("Allows").1,
                    Slot::One(Val::Bool(true))
                ))),
            },
            Special::OrArray => match (field("JSONSchemas"), field("Schema")) {
                ((ty, Slot::List(l)), _) if !l.is_empty() => self.list_json(ty, l),
                (_, (ty, Slot::One(v))) => self.value_json(ty, v),
                _ => Ok(Value::Null),
            },
            Special::OrStringArray => match (field("Property"), field("Schema")) {
                ((ty, Slot::List(l)), _) if !l.is_empty() => self.list_json(ty, l),
                (_, (ty, Slot::One(v))) => self.value_json(ty, v),
                _ => Ok(Value::Null),
            },
        }
    }

    /// An ordinary struct, field by field as `encoding/json` writes it.
    fn struct_json(&self, message: &Message, obj: &Obj<'_>) -> Result<Value, ProtobufError> {
        let mut out = Map::new();
        for (i, field) in message.fields.iter().enumerate() {
            let slot = obj.get(i);
            let Some(name) = &field.json else { continue };
            let value = match (field.shape, slot) {
                (Shape::Map, Slot::Map(entries)) if !entries.is_empty() => {
                    let mut m = Map::new();
                    for (k, v) in entries {
                        m.insert(go_string(k), self.value_json(field.ty, v)?);
                    }
                    Value::Object(m)
                }
                (Shape::Repeated, Slot::List(list)) if !list.is_empty() => {
                    self.list_json(field.ty, list)?
                }
                // A nil slice or map: gone with omitempty, else null.
                (Shape::Map | Shape::Repeated, _) => {
                    if field.omitempty {
                        continue;
                    }
                    Value::Null
                }
                (Shape::Single, Slot::One(v)) => {
                    if field.omitempty && !field.ptr && is_empty(field.ty, v) {
                        continue;
                    }
                    self.value_json(field.ty, v)?
                }
                // Unset and not a pointer: Go's zero value.
                (Shape::Single, _) if !field.ptr => match field.ty {
                    // omitempty does not apply to structs.
                    Ty::Message(m) => self.message_json(&self.empty(m))?,
                    _ if field.omitempty => continue,
                    // A nil []byte.
                    Ty::Bytes => Value::Null,
                    Ty::String => Value::String(String::new()),
                    Ty::Bool => Value::Bool(false),
                    Ty::Int32 | Ty::Int64 | Ty::Double => Value::from(0),
                },
                // A nil pointer: gone with omitempty, else null.
                (Shape::Single, _) => {
                    if field.omitempty {
                        continue;
                    }
                    Value::Null
                }
            };
            out.insert(name.clone(), value);
        }
        Ok(Value::Object(out))
    }

    /// A list's JSON.
    fn list_json(&self, ty: Ty, list: &[Val<'_>]) -> Result<Value, ProtobufError> {
        list.iter()
            .map(|v| self.value_json(ty, v))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    /// One value's JSON; `ty` tells strings from bytes, which Go writes in
    /// base64.
    fn value_json(&self, ty: Ty, v: &Val<'_>) -> Result<Value, ProtobufError> {
        Ok(match v {
            Val::Bytes(b) if ty == Ty::Bytes => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Val::Bytes(b) => Value::String(go_string(b)),
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Double(d) => go_float(*d)?,
            Val::Msg(o) => self.message_json(o)?,
            Val::Time { at: None, .. } => Value::Null,
            Val::Time {
                micro,
                at: Some((s, n)),
            } => time_json(*s, *n, *micro),
        })
    }
}

/// One message.
#[derive(Debug)]
struct Message {
    /// The Go type, as gogo's errors name it.
    go_name: String,
    /// Whether its JSON is custom.
    special: Special,
    /// The fields, in Go struct order.
    fields: Vec<Field>,
    /// Field index by field number (`NONE` where there is none).
    by_number: Vec<u16>,
}

/// Marks a field number with no field in [`Message::by_number`].
const NONE: u16 = u16::MAX;

/// The messages whose Go types marshal themselves to JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    /// An ordinary struct.
    None,
    /// `metav1.Time`: RFC 3339 seconds, or null.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with microseconds, or null.
    MicroTime,
    /// `metav1.Duration`: Go's duration string.
    Duration,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `metav1.FieldsV1`: raw JSON.
    FieldsV1,
    /// `runtime.RawExtension`: raw JSON.
    RawExtension,
    /// apiextensions `JSON`: raw JSON.
    Json,
    /// `JSONSchemaPropsOrArray`: a schema or an array of them.
    OrArray,
    /// `JSONSchemaPropsOrBool`: a schema or a boolean.
    OrBool,
    /// `JSONSchemaPropsOrStringArray`: a schema or an array of strings.
    OrStringArray,
}

/// Which messages marshal themselves, by name.
fn special_of(name: &str) -> Special {
    match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Special::Time,
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Special::MicroTime,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Special::Duration,
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => Special::FieldsV1,
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => Special::RawExtension,
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Special::IntOrString,
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => Special::Quantity,
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON" => Special::Json,
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray" => {
            Special::OrArray
        }
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool" => {
            Special::OrBool
        }
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            Special::OrStringArray
        }
        _ => Special::None,
    }
}

/// One field of a message.
#[derive(Debug)]
struct Field {
    /// The Go field name, as gogo's errors name it.
    go_name: String,
    /// The JSON name; `None` for fields Go does not write (`json:"-"`).
    json: Option<String>,
    /// `omitempty` in the Go tag.
    omitempty: bool,
    /// The Go field is a pointer: set means written, even when zero.
    ptr: bool,
    /// Single, repeated or map.
    shape: Shape,
    /// The value type (for maps, the value's; keys are strings).
    ty: Ty,
}

/// How many values a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// One value.
    Single,
    /// A list.
    Repeated,
    /// A map with string keys.
    Map,
}

/// A field's value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    /// `string`.
    String,
    /// `bytes`.
    Bytes,
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `double`.
    Double,
    /// A message, by index.
    Message(usize),
}

/// A decoded message, borrowing strings from the body.
#[derive(Debug)]
struct Obj<'a> {
    /// The message index.
    msg: usize,
    /// The fields set, by index into [`Message::fields`]. Sparse, so that
    /// a body of many empty messages costs little more than its bytes.
    slots: Vec<(u16, Slot<'a>)>,
}

impl<'a> Obj<'a> {
    /// The slot of field `index`.
    fn get(&self, index: usize) -> &Slot<'a> {
        self.slots
            .iter()
            .find(|(i, _)| usize::from(*i) == index)
            .map_or(&UNSET, |(_, s)| s)
    }

    /// The slot of field `index`, added unset if missing.
    fn slot_mut(&mut self, index: u16) -> &mut Slot<'a> {
        let at = match self.slots.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.slots.push((index, Slot::Unset));
                self.slots.len() - 1
            }
        };
        &mut self.slots[at].1
    }
}

/// What a field holds after decoding.
#[derive(Debug)]
enum Slot<'a> {
    /// Not on the wire.
    Unset,
    /// A single value.
    One(Val<'a>),
    /// A repeated field's values.
    List(Vec<Val<'a>>),
    /// A map's entries, later ones replacing earlier ones.
    Map(Vec<(&'a [u8], Val<'a>)>),
}

/// An unset slot, for fields a message lacks.
static UNSET: Slot<'static> = Slot::Unset;

/// A decoded value.
#[derive(Debug)]
enum Val<'a> {
    /// A string or bytes field's bytes.
    Bytes(&'a [u8]),
    /// A bool.
    Bool(bool),
    /// An int32 or int64.
    Int(i64),
    /// A double.
    Double(f64),
    /// A message.
    Msg(Obj<'a>),
    /// A Time or MicroTime: seconds and nanoseconds, or `None` for Go's
    /// zero time (gogo reads an empty Time as zero).
    Time {
        /// A MicroTime, which keeps microseconds.
        micro: bool,
        /// Seconds and nanoseconds since the Unix epoch.
        at: Option<(i64, i32)>,
    },
}

/// The envelope of a body.
#[derive(Debug)]
struct Envelope<'a> {
    /// `typeMeta.apiVersion`.
    api_version: String,
    /// `typeMeta.kind`.
    kind: String,
    /// `raw`: the object.
    raw: &'a [u8],
}

impl Envelope<'_> {
    /// The envelope's group, version and kind, with what is missing taken
    /// from the endpoint, as kube's `copyKindDefaults` does: a missing kind
    /// alone, a missing version together with the group.
    fn defaulted(
        &self,
        expected_group: &str,
        expected_version: &str,
        expected_kind: &str,
    ) -> (String, String, String) {
        let (mut group, mut version) = parse_group_version(&self.api_version);
        if version.is_empty() && !expected_version.is_empty() {
            group = expected_group;
            version = expected_version;
        }
        let kind = if self.kind.is_empty() {
            expected_kind
        } else {
            &self.kind
        };
        (group.to_string(), version.to_string(), kind.to_string())
    }
}

/// A cursor over one message's bytes, reading the way gogo's generated
/// code does.
#[derive(Debug)]
struct Reader<'a> {
    /// The message's bytes.
    buf: &'a [u8],
    /// The next byte to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A base-128 varint, as gogo reads one: at most ten bytes, high bits
    /// past 64 dropped.
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            if shift >= 64 {
                return Err(ProtobufError::IntegerOverflow);
            }
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtobufError::UnexpectedEof);
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A length-prefixed run of bytes.
    fn length_delimited(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()?;
        // Go reads the length into an int: the top bit makes it negative.
        let len = usize::try_from(i64::try_from(len).map_err(|_| ProtobufError::NegativeLength)?)
            .map_err(|_| ProtobufError::NegativeLength)?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(ProtobufError::NegativeLength)?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::UnexpectedEof)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Eight little-endian bytes.
    fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let end = self
            .pos
            .checked_add(8)
            .ok_or(ProtobufError::UnexpectedEof)?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::UnexpectedEof)?;
        self.pos = end;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(a))
    }

    /// Skips an unknown field starting at the cursor, as gogo's
    /// `skipGenerated` does.
    fn skip_field(&mut self) -> Result<(), ProtobufError> {
        let n = skip(&self.buf[self.pos..])?;
        self.pos = self
            .pos
            .checked_add(n)
            .ok_or(ProtobufError::NegativeLength)?;
        if self.pos > self.buf.len() {
            return Err(ProtobufError::UnexpectedEof);
        }
        Ok(())
    }
}

/// How many bytes the field at the start of `data` takes, as gogo's
/// `skipGenerated` counts them (groups included).
fn skip(data: &[u8]) -> Result<usize, ProtobufError> {
    let mut r = Reader { buf: data, pos: 0 };
    let mut depth = 0u32;
    while r.pos < data.len() {
        let wire = r.varint()?;
        match wire & 7 {
            0 => {
                r.varint()?;
            }
            1 => r.pos = r.pos.checked_add(8).ok_or(ProtobufError::NegativeLength)?,
            2 => {
                let len = r.varint()?;
                let len =
                    usize::try_from(i64::try_from(len).map_err(|_| ProtobufError::NegativeLength)?)
                        .map_err(|_| ProtobufError::NegativeLength)?;
                r.pos = r
                    .pos
                    .checked_add(len)
                    .ok_or(ProtobufError::NegativeLength)?;
            }
            3 => depth += 1,
            4 => {
                if depth == 0 {
                    return Err(ProtobufError::UnexpectedEndOfGroup);
                }
                depth -= 1;
            }
            5 => r.pos = r.pos.checked_add(4).ok_or(ProtobufError::NegativeLength)?,
            t => return Err(ProtobufError::IllegalWireType(t)),
        }
        if depth == 0 {
            return Ok(r.pos);
        }
    }
    Err(ProtobufError::UnexpectedEof)
}

/// Fails unless a field came with the wire type its type needs.
fn expect_wire(found: u64, want: u64, field: &Field) -> Result<(), ProtobufError> {
    if found == want {
        Ok(())
    } else {
        Err(ProtobufError::WrongWireType {
            wire_type: found,
            field: field.go_name.clone(),
        })
    }
}

/// One scalar value.
fn read_scalar<'a>(
    ty: Ty,
    wire_type: u64,
    field: &Field,
    r: &mut Reader<'a>,
) -> Result<Val<'a>, ProtobufError> {
    Ok(match ty {
        Ty::String | Ty::Bytes => {
            expect_wire(wire_type, 2, field)?;
            Val::Bytes(r.length_delimited()?)
        }
        Ty::Bool => {
            expect_wire(wire_type, 0, field)?;
            Val::Bool(r.varint()? != 0)
        }
        // Go accumulates into an int32, keeping the low 32 bits.
        Ty::Int32 => {
            expect_wire(wire_type, 0, field)?;
            Val::Int(i64::from(r.varint()? as u32 as i32))
        }
        Ty::Int64 => {
            expect_wire(wire_type, 0, field)?;
            Val::Int(r.varint()? as i64)
        }
        Ty::Double => {
            expect_wire(wire_type, 1, field)?;
            Val::Double(f64::from_bits(r.fixed64()?))
        }
        Ty::Message(_) => {
            return Err(ProtobufError::Schema(format!(
                "{}: message read as a scalar",
                field.go_name
            )));
        }
    })
}

/// Whether `encoding/json`'s omitempty drops a non-pointer value.
fn is_empty(ty: Ty, v: &Val<'_>) -> bool {
    match (ty, v) {
        // omitempty never drops a struct.
        (Ty::Message(_), _) => false,
        (_, Val::Bytes(b)) => b.is_empty(),
        (_, Val::Bool(b)) => !b,
        (_, Val::Int(i)) => *i == 0,
        (_, Val::Double(d)) => *d == 0.0,
        _ => false,
    }
}

/// The Go type named in errors about a raw-JSON message.
fn go_type_of(message: &Message) -> &'static str {
    match message.special {
        Special::FieldsV1 => "v1.FieldsV1",
        Special::RawExtension => "runtime.RawExtension",
        _ => "v1.JSON",
    }
}

/// Raw bytes that Go writes into the JSON as they are.
fn raw_json(raw: &[u8], go_type: &str) -> Result<Value, ProtobufError> {
    serde_json::from_slice(raw).map_err(|e| ProtobufError::InvalidRawJson {
        go_type: go_type.to_string(),
        detail: if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        },
    })
}

/// A double as `encoding/json` writes it: integral values without a
/// fraction, and no NaN or infinities.
fn go_float(d: f64) -> Result<Value, ProtobufError> {
    if d.is_nan() {
        return Err(ProtobufError::UnsupportedValue("NaN".into()));
    }
    if d.is_infinite() {
        let sign = if d > 0.0 { "+" } else { "-" };
        return Err(ProtobufError::UnsupportedValue(format!("{sign}Inf")));
    }
    // 2^63: the first value an i64 cannot hold.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    if d.fract() == 0.0 && (-I64_END..I64_END).contains(&d) {
        return Ok(Value::from(d as i64));
    }
    Ok(Number::from_f64(d)
        .map(Value::Number)
        .unwrap_or(Value::Null))
}

/// A `metav1.Time` (seconds only, as kube keeps it) or `metav1.MicroTime`
/// as kube writes it: RFC 3339 in UTC, or null for Go's zero time.
fn time_json(secs: i64, nanos: i32, micro: bool) -> Value {
    let (secs, nanos) = if micro {
        // MicroTime truncates to microseconds toward zero, then time.Unix
        // carries nanoseconds outside 0..1e9 into the seconds.
        let n = i64::from(nanos) - i64::from(nanos) % 1000;
        (
            i128::from(secs) + i128::from(n.div_euclid(1_000_000_000)),
            n.rem_euclid(1_000_000_000),
        )
    } else {
        (i128::from(secs), 0)
    };
    if secs == i128::from(GO_ZERO_UNIX) && nanos == 0 {
        return Value::Null;
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    };
    let clock = format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if micro {
        Value::String(format!("{clock}.{:06}Z", nanos / 1000))
    } else {
        Value::String(format!("{clock}Z"))
    }
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    // Day and month are within 1..=31 and 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// A nanosecond count as Go's `time.Duration.String` writes it
/// (`1h2m3.5s`, `1.5µs`, `0s`).
fn go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".to_string(),
            1..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let frac = fraction(u, prec);
        u /= 10u64.pow(prec);
        out.push_str(&format!("{u}{frac}{unit}"));
    } else {
        let frac = fraction(u, 9);
        u /= 1_000_000_000;
        let secs = u % 60;
        u /= 60;
        if u > 0 {
            let mins = u % 60;
            let hours = u / 60;
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            out.push_str(&format!("{mins}m"));
        }
        out.push_str(&format!("{secs}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// The last `prec` digits of `v` as a decimal fraction without trailing
/// zeros (`.5`), or nothing when they are all zero.
fn fraction(v: u64, prec: u32) -> String {
    if prec == 0 {
        return String::new();
    }
    let digits = format!("{:0width$}", v % 10u64.pow(prec), width = prec as usize);
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    }
}

/// One line of the JSON tables: how one Go field is written.
#[derive(Debug)]
struct FactLine {
    /// The protobuf field number.
    number: u32,
    /// The Go field name.
    go_name: String,
    /// The JSON name, if any.
    json: Option<String>,
    /// `omitempty`.
    omitempty: bool,
    /// A pointer field.
    ptr: bool,
}

/// Reads `proto/gojson*.txt`: message name to Go type name and fields.
fn parse_facts() -> Result<HashMap<String, (String, Vec<FactLine>)>, ProtobufError> {
    let mut out: HashMap<String, (String, Vec<FactLine>)> = HashMap::new();
    let mut current: Option<String> = None;
    for (n, line) in GOJSON.iter().flat_map(|t| t.lines()).enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || ProtobufError::Schema(format!("gojson line {}: {line:?}", n + 1));
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["message", name, go_name] => {
                if out
                    .insert(name.to_string(), (go_name.to_string(), Vec::new()))
                    .is_some()
                {
                    return Err(ProtobufError::Schema(format!("{name} described twice")));
                }
                current = Some(name.to_string());
            }
            [number, go_name, json, flags] => {
                let name = current.as_ref().ok_or_else(bad)?;
                let flags: Vec<&str> = flags.split(',').collect();
                let entry = out.get_mut(name).ok_or_else(bad)?;
                entry.1.push(FactLine {
                    number: number.parse().map_err(|_| bad())?,
                    go_name: go_name.to_string(),
                    json: (*json != "-").then(|| json.to_string()),
                    omitempty: flags.contains(&"omitempty"),
                    ptr: flags.contains(&"ptr"),
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use prost_reflect::DynamicMessage;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    const CORE: &str = "k8s.io.api.core.v1.";
    const CRD: &str =
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition";

    /// A message from protobuf text format, encoded.
    fn text(name: &str, text: &str) -> Vec<u8> {
        let pool = DescriptorPool::decode(DESCRIPTORS).unwrap();
        let desc = pool.get_message_by_name(name).unwrap();
        DynamicMessage::parse_text_format(desc, text)
            .unwrap()
            .encode_to_vec()
    }

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A length-delimited field.
    fn ld(field: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(field << 3 | 2, &mut out);
        varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    /// A varint field.
    fn vf(field: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(field << 3, &mut out);
        varint(v, &mut out);
        out
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A kube protobuf body: prefix and envelope.
    fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = cat(&[&ld(1, api_version.as_bytes()), &ld(2, kind.as_bytes())]);
        cat(&[MAGIC, &ld(1, &type_meta), &ld(2, raw)])
    }

    fn core(kind: &str, t: &str) -> Value {
        let raw = text(&format!("{CORE}{kind}"), t);
        decode(&body("v1", kind, &raw), "v1", kind).unwrap()
    }

    fn err(body: &[u8], api_version: &str, kind: &str) -> String {
        decode(body, api_version, kind).unwrap_err().to_string()
    }

    #[test]
    fn schema_loads_and_the_tables_describe_exactly_what_it_reaches() {
        let schema = SCHEMA.as_ref().unwrap();
        for (g, v, k, _) in KINDS {
            assert!(schema.kind(g, v, k).is_some(), "{k}");
        }
        let mut described: Vec<String> = parse_facts().unwrap().into_keys().collect();
        let mut reached: Vec<String> = schema.by_name.keys().cloned().collect();
        described.sort();
        reached.sort();
        assert_eq!(described, reached);
    }

    /// Decodes one message of the schema by name and writes its JSON.
    fn message(name: &str, data: &[u8]) -> Result<Value, ProtobufError> {
        let schema = SCHEMA.as_ref().unwrap();
        let obj = schema.decode_message(schema.message_index(name).unwrap(), data)?;
        schema.message_json(&obj)
    }

    #[test]
    fn special_types() {
        let meta = "k8s.io.apimachinery.pkg.apis.meta.v1.";
        assert_eq!(
            message(&format!("{meta}Duration"), &vf(1, 90_000_000_000)).unwrap(),
            json!("1m30s")
        );
        assert_eq!(
            message(&format!("{meta}Duration"), b"").unwrap(),
            json!("0s")
        );
        let quantity = "k8s.io.apimachinery.pkg.api.resource.Quantity";
        assert_eq!(message(quantity, &ld(1, b"100Mi")).unwrap(), json!("100Mi"));
        assert_eq!(message(quantity, b"").unwrap(), json!("0"));
        assert_eq!(
            message(quantity, &vf(1, 5)).unwrap_err().to_string(),
            "proto: wrong wireType = 0 for field String_"
        );
        let raw = "k8s.io.apimachinery.pkg.runtime.RawExtension";
        assert_eq!(
            message(raw, &ld(1, br#"{"a":[1,"b"]}"#)).unwrap(),
            json!({"a": [1, "b"]})
        );
        assert_eq!(message(raw, b"").unwrap(), Value::Null);
        assert_eq!(
            message(raw, &ld(1, b"")).unwrap_err().to_string(),
            "json: error calling MarshalJSON for type runtime.RawExtension: unexpected end of JSON input"
        );
        let fields = format!("{meta}FieldsV1");
        assert_eq!(message(&fields, &ld(1, b"{}")).unwrap(), json!({}));
        assert_eq!(message(&fields, b"").unwrap(), Value::Null);
        let ios = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
        assert_eq!(message(ios, b"").unwrap(), json!(0));
        assert_eq!(
            message(ios, &cat(&[&vf(1, 1), &ld(3, b"80%")])).unwrap(),
            json!("80%")
        );
        assert_eq!(
            message(ios, &cat(&[&vf(1, 0), &vf(2, u64::MAX)])).unwrap(),
            json!(-1)
        );
    }

    #[test]
    fn configmap_as_kubectl_sends_it() {
        // gogo writes every non-pointer field, zero or not, and an empty
        // creationTimestamp.
        let meta = cat(&[
            &ld(1, b"foo"),
            &ld(2, b""),
            &ld(3, b""),
            &ld(4, b""),
            &ld(5, b""),
            &ld(6, b""),
            &vf(7, 0),
            &ld(8, b""),
        ]);
        let raw = cat(&[&ld(1, &meta), &ld(2, &cat(&[&ld(1, b"a"), &ld(2, b"b")]))]);
        assert_eq!(
            decode(&body("v1", "ConfigMap", &raw), "v1", "ConfigMap").unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "foo", "creationTimestamp": null},
                "data": {"a": "b"}
            })
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn bodies_kubectl_1_32_sends() {
        // Captured from `kubectl create … -v=9`; the JSON is what the same
        // kubectl sends when told to use JSON.
        let cases = [
            (
                "ConfigMap",
                "6b387300 0a0f0a02 76311209 436f6e66 69674d61 70121e0a 140a0466 6f6f3212
                 001a0022 002a0032 00380042 0012060a 01611201 621a0022 00",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "foo2", "creationTimestamp": null}, "data": {"a": "b"}}),
            ),
            (
                "Secret",
                "6b387300 0a0c0a02 76311206 53656372 6574121e 0a120a02 7332 1200 1a002200
                 2a003200 38004200 12060a01 6b120176 1a001a00 2200",
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "s2", "creationTimestamp": null}, "data": {"k": "dg=="}}),
            ),
            (
                "Namespace",
                "6b387300 0a0f0a02 76311209 4e616d65 73706163 65121a0a 120a0278 3212001a
                 00220 02a00 32003800 42001200 1a020a00 1a002200",
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "x2", "creationTimestamp": null}, "spec": {}, "status": {}}),
            ),
            (
                "Service",
                "6b387300 0a0d0a02 76311207 53657276 69636512 6c0a210a 04776562 3212001a
                 00220 02a00 32003800 42005a0b 0a036170 70120477 65623212 430a1b0a 0738302d
                 38303830 12035443 50185022 07080010 903f1a00 2800120b 0a036170 70120477
                 6562321a 00220943 6c757374 65724950 3a004200 52005a00 60006800 1a020a00
                 1a002200",
                json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "web2", "labels": {"app": "web2"}, "creationTimestamp": null},
                       "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                                "selector": {"app": "web2"}, "type": "ClusterIP"},
                       "status": {"loadBalancer": {}}}),
            ),
            (
                "ServiceAccount",
                "6b387300 0a140a02 7631120e 53657276 69636541 63636f75 6e741215 0a130a03
                 73613212 001a0022 002a0032 00380042 001a0022 00",
                json!({"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "sa2", "creationTimestamp": null}}),
            ),
        ];
        for (kind, bytes, want) in cases {
            assert_eq!(decode(&hex(bytes), "v1", kind).unwrap(), want, "{kind}");
        }
    }

    #[test]
    fn secret_bytes_are_base64_and_set_pointers_stay() {
        let v = core(
            "Secret",
            r#"metadata { name: "s" labels { key: "x" value: "y" } }
               data { key: "k" value: "v" } data { key: "empty" value: "" }
               stringData { key: "p" value: "q" } type: "Opaque" immutable: false"#,
        );
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "labels": {"x": "y"}, "creationTimestamp": null},
                "data": {"k": "dg==", "empty": ""},
                "stringData": {"p": "q"},
                "type": "Opaque",
                "immutable": false
            })
        );
    }

    #[test]
    fn configmap_binary_data() {
        let v = core(
            "ConfigMap",
            r#"metadata { name: "b" } binaryData { key: "bin" value: "\000\001\377" }"#,
        );
        assert_eq!(v["binaryData"], json!({"bin": "AAH/"}));
        assert!(v.get("data").is_none());
    }

    #[test]
    fn namespace_writes_empty_structs() {
        assert_eq!(
            core("Namespace", r#"metadata { name: "x" }"#),
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "x", "creationTimestamp": null},
                "spec": {},
                "status": {}
            })
        );
        // With nothing at all, metadata is still an object.
        assert_eq!(
            decode(&body("v1", "Namespace", b""), "v1", "Namespace").unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": {}
            })
        );
    }

    #[test]
    fn service_ports_and_int_or_string() {
        let v = core(
            "Service",
            r#"metadata { name: "web" labels { key: "app" value: "web" } }
               spec {
                 ports { name: "80-8080" protocol: "TCP" port: 80 targetPort { type: 0 intVal: 8080 } nodePort: 0 }
                 ports { name: "http" port: 81 targetPort { type: 1 strVal: "http" } }
                 ports { port: 82 }
                 selector { key: "app" value: "web" }
                 type: "ClusterIP" clusterIP: "" sessionAffinity: ""
                 ipFamilyPolicy: "SingleStack"
               }
               status { loadBalancer {} }"#,
        );
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {
                    "ports": [
                        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                        {"name": "http", "port": 81, "targetPort": "http"},
                        {"port": 82, "targetPort": 0}
                    ],
                    "selector": {"app": "web"},
                    "type": "ClusterIP",
                    "ipFamilyPolicy": "SingleStack"
                },
                "status": {"loadBalancer": {}}
            })
        );
    }

    #[test]
    fn service_account_lists() {
        assert_eq!(
            core(
                "ServiceAccount",
                r#"metadata { name: "sa" } secrets { name: "t" } imagePullSecrets { name: "r" }
                   automountServiceAccountToken: true"#,
            ),
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "sa", "creationTimestamp": null},
                "secrets": [{"name": "t"}],
                "imagePullSecrets": [{"name": "r"}],
                "automountServiceAccountToken": true
            })
        );
    }

    #[test]
    fn endpoints_required_fields() {
        assert_eq!(
            core(
                "Endpoints",
                r#"metadata { name: "e" }
                   subsets { addresses { ip: "10.0.0.1" nodeName: "n" } ports { port: 80 } }"#,
            ),
            json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "e", "creationTimestamp": null},
                "subsets": [{
                    "addresses": [{"ip": "10.0.0.1", "nodeName": "n"}],
                    "ports": [{"port": 80}]
                }]
            })
        );
    }

    #[test]
    fn event_times() {
        let v = core(
            "Event",
            r#"metadata { name: "e" namespace: "default" }
               involvedObject { kind: "Pod" name: "p" namespace: "default" }
               reason: "Started" message: "hi" source { component: "kubelet" }
               firstTimestamp { seconds: 1704164645 }
               lastTimestamp { seconds: 1704164645 nanos: 999999999 }
               count: 1 type: "Normal"
               eventTime { seconds: 1704164645 nanos: 123456789 }
               reportingComponent: "kubelet" reportingInstance: "node1""#,
        );
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "e", "namespace": "default", "creationTimestamp": null},
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
                "reason": "Started",
                "message": "hi",
                "source": {"component": "kubelet"},
                "firstTimestamp": "2024-01-02T03:04:05Z",
                "lastTimestamp": "2024-01-02T03:04:05Z",
                "count": 1,
                "type": "Normal",
                "eventTime": "2024-01-02T03:04:05.123456Z",
                "reportingComponent": "kubelet",
                "reportingInstance": "node1"
            })
        );
        // Nothing set: times null, required strings empty.
        assert_eq!(
            decode(&body("v1", "Event", b""), "v1", "Event").unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"creationTimestamp": null},
                "involvedObject": {},
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null,
                "eventTime": null,
                "reportingComponent": "",
                "reportingInstance": ""
            })
        );
    }

    #[test]
    fn lease_micro_times_and_pointers() {
        let raw = text(
            "k8s.io.api.coordination.v1.Lease",
            r#"metadata { name: "l" namespace: "kube-system" }
               spec { holderIdentity: "me" leaseDurationSeconds: 0
                      acquireTime { seconds: 1704164645 nanos: 1999 } renewTime {}
                      leaseTransitions: 3 }"#,
        );
        let v = decode(
            &body("coordination.k8s.io/v1", "Lease", &raw),
            "coordination.k8s.io/v1",
            "Lease",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "l", "namespace": "kube-system", "creationTimestamp": null},
                "spec": {
                    "holderIdentity": "me",
                    "leaseDurationSeconds": 0,
                    "acquireTime": "2024-01-02T03:04:05.000001Z",
                    "renewTime": null,
                    "leaseTransitions": 3
                }
            })
        );
    }

    #[test]
    fn endpoint_slice_nil_lists_are_null() {
        let raw = text(
            "k8s.io.api.discovery.v1.EndpointSlice",
            r#"metadata { name: "es" } addressType: "IPv4"
               endpoints { addresses: "10.0.0.1" conditions { ready: true }
                           nodeName: "n1"
                           hints { forZones { name: "a" } forNodes { name: "n1" } } }"#,
        );
        let v = decode(
            &body("discovery.k8s.io/v1", "EndpointSlice", &raw),
            "discovery.k8s.io/v1",
            "EndpointSlice",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "es", "creationTimestamp": null},
                "addressType": "IPv4",
                "endpoints": [{
                    "addresses": ["10.0.0.1"],
                    "conditions": {"ready": true},
                    "nodeName": "n1",
                    "hints": {"forZones": [{"name": "a"}], "forNodes": [{"name": "n1"}]}
                }],
                "ports": null
            })
        );
        let v = decode(
            &body("discovery.k8s.io/v1", "EndpointSlice", b""),
            "discovery.k8s.io/v1",
            "EndpointSlice",
        )
        .unwrap();
        assert_eq!(v["endpoints"], Value::Null);
        assert_eq!(v["addressType"], json!(""));
    }

    #[test]
    fn custom_resource_definition_schema() {
        let raw = text(
            CRD,
            r#"metadata { name: "widgets.example.com" }
               spec {
                 group: "example.com"
                 names { plural: "widgets" singular: "widget" shortNames: "wg" kind: "Widget" listKind: "WidgetList" }
                 scope: "Namespaced"
                 versions {
                   name: "v1" served: true storage: true
                   schema { openAPIV3Schema {
                     type: "object"
                     properties { key: "spec" value {
                       type: "object"
                       properties { key: "size" value { type: "integer" maximum: 10 minimum: 1.5 default { raw: "3" } } }
                       properties { key: "tags" value { type: "array" items { schema { type: "string" } } } }
                       properties { key: "pair" value { type: "array" items { jSONSchemas { type: "string" } jSONSchemas { type: "integer" } } } }
                       properties { key: "any" value { xKubernetesPreserveUnknownFields: true xKubernetesIntOrString: true } }
                       properties { key: "color" value { type: "string" enum { raw: "\"red\"" } enum { raw: "\"blue\"" } } }
                       additionalProperties { allows: false }
                       dependencies { key: "a" value { property: "b" } }
                       dependencies { key: "c" value { schema { minProperties: 1 } } }
                       required: "size"
                     } }
                     properties { key: "status" value {
                       type: "object"
                       additionalProperties { allows: true schema { type: "string" } }
                       xKubernetesValidations { rule: "self.x > 0" message: "m" }
                       xKubernetesListType: "map"
                     } }
                   } }
                   subresources { status {} scale { specReplicasPath: ".spec.r" statusReplicasPath: ".status.r" } }
                   additionalPrinterColumns { name: "Size" type: "integer" jsonPath: ".spec.size" }
                 }
                 conversion { strategy: "None" }
               }"#,
        );
        let v = decode(
            &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com", "creationTimestamp": null},
                "spec": {
                    "group": "example.com",
                    "names": {
                        "plural": "widgets", "singular": "widget", "shortNames": ["wg"],
                        "kind": "Widget", "listKind": "WidgetList"
                    },
                    "scope": "Namespaced",
                    "versions": [{
                        "name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "size": {"type": "integer", "maximum": 10, "minimum": 1.5, "default": 3},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                        "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                                        "any": {
                                            "x-kubernetes-preserve-unknown-fields": true,
                                            "x-kubernetes-int-or-string": true
                                        },
                                        "color": {"type": "string", "enum": ["red", "blue"]}
                                    },
                                    "additionalProperties": false,
                                    "dependencies": {"a": ["b"], "c": {"minProperties": 1}},
                                    "required": ["size"]
                                },
                                "status": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "x-kubernetes-validations": [{"rule": "self.x > 0", "message": "m"}],
                                    "x-kubernetes-list-type": "map"
                                }
                            }
                        }},
                        "subresources": {
                            "status": {},
                            "scale": {"specReplicasPath": ".spec.r", "statusReplicasPath": ".status.r"}
                        },
                        "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
                    }],
                    "conversion": {"strategy": "None"}
                },
                "status": {"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": null}
            })
        );
    }

    #[test]
    fn delete_options() {
        let raw = text(
            "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            r#"gracePeriodSeconds: 0 preconditions { uid: "u" resourceVersion: "5" }
               propagationPolicy: "Background" dryRun: "All""#,
        );
        assert_eq!(
            decode(
                &body("meta.k8s.io/v1", "DeleteOptions", &raw),
                "meta.k8s.io/v1",
                "DeleteOptions"
            )
            .unwrap(),
            json!({
                "apiVersion": "meta.k8s.io/v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "u", "resourceVersion": "5"},
                "propagationPolicy": "Background",
                "dryRun": ["All"]
            })
        );
        // Any version, and none: the meta scheme takes them all.
        let v = decode(&body("", "", b""), "meta.k8s.io/v1", "DeleteOptions").unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions"})
        );
        let v = decode(
            &body("apps/v1", "DeleteOptions", b""),
            "meta.k8s.io/v1",
            "DeleteOptions",
        )
        .unwrap();
        assert_eq!(v["apiVersion"], "apps/v1");
        // Errors come unwrapped.
        assert_eq!(err(b"", "meta.k8s.io/v1", "DeleteOptions"), "empty data");
        assert_eq!(
            err(
                &body("v1", "ConfigMap", b""),
                "meta.k8s.io/v1",
                "DeleteOptions"
            ),
            r#"no kind "ConfigMap" is registered for version "v1" in scheme "pkg/apis/meta/internalversion/scheme/register.go:27""#
        );
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(
            err(b"", "v1", "ConfigMap"),
            "the object provided is unrecognized (must be of type ConfigMap): empty data (<empty>)"
        );
        assert_eq!(
            err(
                br#"{"kind":"ConfigMap","apiVersion":"v1","data":{}}"#,
                "v1",
                "ConfigMap"
            ),
            r#"the object provided is unrecognized (must be of type ConfigMap): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] ({"kind":"ConfigMap","apiVersio ...)"#
        );
        assert_eq!(
            err(b"k8s\0", "v1", "ConfigMap"),
            "the object provided is unrecognized (must be of type ConfigMap): empty body (6b387300)"
        );
        assert_eq!(
            err(b"k8s\0\x0a", "v1", "ConfigMap"),
            "the object provided is unrecognized (must be of type ConfigMap): unexpected EOF (6b3873000a)"
        );
        assert_eq!(
            err(b"k8s\0\x0a\x01\x08", "v1", "ConfigMap"),
            "the object provided is unrecognized (must be of type ConfigMap): proto: wrong wireType = 0 for field APIVersion (6b3873000a0108)"
        );
        assert_eq!(
            err(b"k8s\0\x00", "v1", "ConfigMap"),
            "the object provided is unrecognized (must be of type ConfigMap): proto: Unknown: illegal tag 0 (wire type 0) (6b38730000)"
        );
        let long = [b"k8s\0".as_slice(), &[0x0c; 40]].concat();
        assert_eq!(
            err(&long, "v1", "ConfigMap"),
            format!(
                "the object provided is unrecognized (must be of type ConfigMap): proto: Unknown: wiretype end group for non-group (6b387300{} ...)",
                "0c".repeat(26)
            )
        );
    }

    #[test]
    fn object_errors_are_gogos() {
        let e = |raw: &[u8]| err(&body("v1", "ConfigMap", raw), "v1", "ConfigMap");
        let pre = r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: "#;
        assert_eq!(
            e(&[0x08, 0x01]),
            format!("{pre}proto: wrong wireType = 0 for field ObjectMeta")
        );
        assert_eq!(
            e(&[0x00]),
            format!("{pre}proto: ConfigMap: illegal tag 0 (wire type 0)")
        );
        assert_eq!(
            e(&[0x02]),
            format!("{pre}proto: ConfigMap: illegal tag 0 (wire type 2)")
        );
        assert_eq!(
            e(&[0x0c]),
            format!("{pre}proto: ConfigMap: wiretype end group for non-group")
        );
        assert_eq!(e(&[0x0a, 0x05, 0x0a]), format!("{pre}unexpected EOF"));
        assert_eq!(
            e(&[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]),
            format!("{pre}proto: negative length found during unmarshaling")
        );
        assert_eq!(
            e(&[[0x0a].as_slice(), &[0xff; 10]].concat()),
            format!("{pre}proto: integer overflow")
        );
        // Unknown fields: a bad wire type, an unclosed group, a stray end.
        assert_eq!(e(&[0xa7, 0x06]), format!("{pre}proto: illegal wireType 7"));
        assert_eq!(e(&[0xa3, 0x06]), format!("{pre}unexpected EOF"));
        assert_eq!(
            e(&[0xa3, 0x06, 0xa0, 0x06, 0x01]),
            format!("{pre}unexpected EOF")
        );
        // Nested: the inner message's Go type names the error.
        assert_eq!(
            e(&ld(1, &[0x00])),
            format!("{pre}proto: ObjectMeta: illegal tag 0 (wire type 0)")
        );
        assert_eq!(
            e(&ld(1, &ld(8, &[0x10, 0x01, 0x0a]))),
            format!("{pre}proto: wrong wireType = 2 for field Seconds")
        );
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let raw = cat(&[
            &ld(1, &ld(1, b"foo")),
            &vf(99, 7),
            &[0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06],
            &ld(100, b"junk"),
            &[0xad, 0x06, 1, 2, 3, 4],
            &[0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8],
        ]);
        assert_eq!(
            decode(&body("v1", "ConfigMap", &raw), "v1", "ConfigMap").unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foo", "creationTimestamp": null}})
        );
    }

    #[test]
    fn repeated_fields_merge_like_gogo() {
        let entry = |k: &[u8], v: &[u8]| ld(2, &cat(&[&ld(1, k), &ld(2, v)]));
        let raw = cat(&[
            &ld(1, &ld(1, b"a")),
            &ld(1, &cat(&[&ld(3, b"ns"), &ld(14, b"f1")])),
            &ld(1, &ld(14, b"f2")),
            &entry(b"a", b"1"),
            &entry(b"a", b"2"),
            &entry(b"b", b"3"),
            // A map entry without its value, and one without its key.
            &ld(2, &ld(1, b"c")),
            &ld(2, &ld(2, b"d")),
        ]);
        assert_eq!(
            decode(&body("v1", "ConfigMap", &raw), "v1", "ConfigMap").unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "ns", "finalizers": ["f1", "f2"], "creationTimestamp": null},
                "data": {"a": "2", "b": "3", "c": "", "": "d"}
            })
        );
    }

    #[test]
    fn go_strings_replace_each_bad_byte() {
        let raw = cat(&[
            &ld(1, &ld(1, b"x")),
            &ld(2, &cat(&[&ld(1, b"k"), &ld(2, b"f\xff\xe2\x82")])),
        ]);
        let v = decode(&body("v1", "ConfigMap", &raw), "v1", "ConfigMap").unwrap();
        assert_eq!(v["data"]["k"], json!("f\u{fffd}\u{fffd}\u{fffd}"));
        assert_eq!(go_string("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(go_string(b"\xed\xa0\x80"), "\u{fffd}\u{fffd}\u{fffd}");
    }

    #[test]
    fn int32_keeps_the_low_bits() {
        let port = cat(&[&vf(3, (1 << 32) + 80), &vf(5, u64::MAX)]);
        let raw = ld(2, &ld(1, &port));
        let v = decode(&body("v1", "Service", &raw), "v1", "Service").unwrap();
        assert_eq!(
            v["spec"]["ports"],
            json!([{"port": 80, "nodePort": -1, "targetPort": 0}])
        );
    }

    #[test]
    fn time_edges() {
        let event = |first: &[u8], event_time: &[u8]| {
            let raw = cat(&[&ld(6, first), &ld(10, event_time)]);
            let v = decode(&body("v1", "Event", &raw), "v1", "Event").unwrap();
            (v["firstTimestamp"].clone(), v["eventTime"].clone())
        };
        // Set to the Unix epoch is not Go's zero time.
        assert_eq!(
            event(&vf(1, 0), &vf(1, 0)),
            (
                json!("1970-01-01T00:00:00Z"),
                json!("1970-01-01T00:00:00.000000Z")
            )
        );
        assert_eq!(event(b"", b""), (Value::Null, Value::Null));
        let zero = vf(1, GO_ZERO_UNIX as u64);
        assert_eq!(event(&zero, &zero), (Value::Null, Value::Null));
        // Negative nanoseconds borrow from the seconds, truncated toward
        // zero to microseconds first.
        let neg = cat(&[&vf(1, 1_704_164_645), &vf(2, (-1500i64) as u64)]);
        assert_eq!(event(&neg, &neg).1, json!("2024-01-02T03:04:04.999999Z"));
        let over = cat(&[&vf(1, 0), &vf(2, 1_500_000_000)]);
        assert_eq!(
            event(&over, &over),
            (
                json!("1970-01-01T00:00:00Z"),
                json!("1970-01-01T00:00:01.500000Z")
            )
        );
        assert_eq!(
            event(&vf(1, (-86_400i64) as u64), b"").0,
            json!("1969-12-31T00:00:00Z")
        );
        assert_eq!(
            event(&vf(1, 253_402_300_799), b"").0,
            json!("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            event(&vf(1, 253_402_300_800), b"").0,
            json!("10000-01-01T00:00:00Z")
        );
        assert_eq!(
            event(&vf(1, (-62_167_219_200i64) as u64), b"").0,
            json!("0000-01-01T00:00:00Z")
        );
        assert_eq!(
            event(&vf(1, (-62_198_755_200i64) as u64), b"").0,
            json!("-0001-01-01T00:00:00Z")
        );
        // Extremes do not panic.
        event(&vf(1, i64::MAX as u64), &vf(1, i64::MIN as u64));
    }

    #[test]
    fn durations_as_go_writes_them() {
        for (ns, s) in [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-1_500, "-1.5µs"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ] {
            assert_eq!(go_duration(ns), s);
        }
    }

    #[test]
    fn floats_as_go_writes_them() {
        assert_eq!(go_float(10.0).unwrap(), json!(10));
        assert_eq!(go_float(-3.0).unwrap(), json!(-3));
        assert_eq!(go_float(1.5).unwrap(), json!(1.5));
        assert_eq!(
            go_float(f64::NAN).unwrap_err().to_string(),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            go_float(f64::INFINITY).unwrap_err().to_string(),
            "json: unsupported value: +Inf"
        );
        assert_eq!(
            go_float(f64::NEG_INFINITY).unwrap_err().to_string(),
            "json: unsupported value: -Inf"
        );
        let raw = text(
            CRD,
            "spec { versions { schema { openAPIV3Schema { maximum: nan } } } }",
        );
        assert_eq!(
            err(
                &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            ),
            r#"CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: json: unsupported value: NaN"#
        );
    }

    #[test]
    fn raw_json_that_is_not_json() {
        let raw = text(
            CRD,
            r#"spec { versions { schema { openAPIV3Schema { default { raw: "{" } } } } }"#,
        );
        assert_eq!(
            err(
                &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            ),
            r#"CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: json: error calling MarshalJSON for type v1.JSON: unexpected end of JSON input"#
        );
        // An empty JSON is null, as Go writes it.
        let raw = text(
            CRD,
            r#"spec { versions { schema { openAPIV3Schema { default { raw: "" } } } } }"#,
        );
        let v = decode(
            &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        )
        .unwrap();
        assert_eq!(
            v["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            json!({"default": null})
        );
    }

    #[test]
    fn managed_fields_embed_their_json() {
        let raw = text(
            &format!("{CORE}ConfigMap"),
            r#"metadata { name: "m" managedFields { manager: "kubectl" operation: "Update" apiVersion: "v1"
                 time { seconds: 1704164645 } fieldsType: "FieldsV1" fieldsV1 { Raw: "{\"f:data\":{}}" } } }"#,
        );
        let v = decode(&body("v1", "ConfigMap", &raw), "v1", "ConfigMap").unwrap();
        assert_eq!(
            v["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {}}
            }])
        );
    }

    #[test]
    fn int_or_string_of_an_impossible_type() {
        let raw = ld(2, &ld(1, &ld(4, &vf(1, 2))));
        assert_eq!(
            err(&body("v1", "Service", &raw), "v1", "Service"),
            r#"Service in version "v1" cannot be handled as a Service: json: error calling MarshalJSON for type intstr.IntOrString: impossible IntOrString.Type"#
        );
    }

    #[test]
    fn kind_and_version_mismatches() {
        let secret = text(&format!("{CORE}Secret"), r#"metadata { name: "s" }"#);
        assert_eq!(
            err(&body("v1", "Secret", &secret), "v1", "ConfigMap"),
            r#"Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion"#
        );
        // A broken object fails to decode before the conversion.
        assert_eq!(
            err(&body("v1", "Secret", &[0x00]), "v1", "ConfigMap"),
            r#"Secret in version "v1" cannot be handled as a ConfigMap: proto: Secret: illegal tag 0 (wire type 0)"#
        );
        assert_eq!(
            err(&body("v1", "Foo", b""), "v1", "ConfigMap"),
            r#"Foo in version "v1" cannot be handled as a ConfigMap: no kind "Foo" is registered for version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        );
        assert_eq!(
            err(&body("apps/v1", "Deployment", b""), "v1", "ConfigMap"),
            r#"Deployment in version "v1" cannot be handled as a ConfigMap: no kind "Deployment" is registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        );
        assert_eq!(
            err(&body("v2", "ConfigMap", b""), "v1", "ConfigMap"),
            r#"ConfigMap in version "v2" cannot be handled as a ConfigMap: no kind "ConfigMap" is registered for version "v2" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        );
        assert_eq!(
            err(
                &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", b""),
                "v1",
                "ConfigMap"
            ),
            r#"CustomResourceDefinition in version "v1" cannot be handled as a ConfigMap: no kind "CustomResourceDefinition" is registered for version "apiextensions.k8s.io/v1" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        );
        assert_eq!(
            err(
                &body("v1", "ConfigMap", b""),
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            ),
            r#"ConfigMap in version "v1" cannot be handled as a CustomResourceDefinition: no kind "ConfigMap" is registered for version "v1" in scheme "pkg/apiserver/apiserver.go:56""#
        );
        assert_eq!(
            err(
                &body("coordination.k8s.io/v1", "Lease", b""),
                "discovery.k8s.io/v1",
                "EndpointSlice"
            ),
            r#"Lease in version "v1" cannot be handled as a EndpointSlice: converting (v1.Lease) to (discovery.EndpointSlice): unknown conversion"#
        );
        assert_eq!(
            err(
                &body("coordination.k8s.io/v1beta1", "Lease", b""),
                "coordination.k8s.io/v1",
                "Lease"
            ),
            "the API version in the data (coordination.k8s.io/v1beta1) does not match the expected API version (coordination.k8s.io/v1)"
        );
        assert_eq!(
            err(
                &body(
                    "apiextensions.k8s.io/v1beta1",
                    "CustomResourceDefinition",
                    b""
                ),
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            ),
            "the API version in the data (apiextensions.k8s.io/v1beta1) does not match the expected API version (apiextensions.k8s.io/v1)"
        );
        // Quotes in the kind are Go-quoted where kube uses %q.
        assert_eq!(
            err(&body("v\"1", "F\"oo", b""), "v1", "ConfigMap"),
            r#"F"oo in version "v\"1" cannot be handled as a ConfigMap: no kind "F\"oo" is registered for version "v\"1" in scheme "pkg/api/legacyscheme/scheme.go:30""#
        );
    }

    #[test]
    fn missing_type_comes_from_the_endpoint() {
        let raw = text(&format!("{CORE}ConfigMap"), r#"metadata { name: "a" }"#);
        for (av, kind) in [
            ("", ""),
            ("", "ConfigMap"),
            ("v1", ""),
            ("/", ""),
            ("a/b/c", ""),
        ] {
            let v = decode(&body(av, kind, &raw), "v1", "ConfigMap").unwrap();
            assert_eq!(
                (v["apiVersion"].as_str(), v["kind"].as_str()),
                (Some("v1"), Some("ConfigMap")),
                "{av} {kind}"
            );
        }
        // No envelope type at all.
        let v = decode(&cat(&[MAGIC, &ld(2, &raw)]), "v1", "ConfigMap").unwrap();
        assert_eq!(v["metadata"]["name"], "a");
        // A group without a version takes the endpoint's group too.
        let v = decode(
            &body("apps/", "Lease", b""),
            "coordination.k8s.io/v1",
            "Lease",
        )
        .unwrap();
        assert_eq!(v["apiVersion"], "coordination.k8s.io/v1");
    }

    #[test]
    fn custom_resources_have_no_protobuf() {
        assert_eq!(
            err(
                &body("example.com/v1", "Widget", b"\x0a\x00"),
                "example.com/v1",
                "Widget"
            ),
            r#"Widget in version "v1" cannot be handled as a Widget: Object 'Kind' is missing in 'object has no kind field '"#
        );
        assert_eq!(
            err(&body("", "", b""), "example.com/v1", "Widget"),
            r#"Widget in version "v1" cannot be handled as a Widget: Object 'Kind' is missing in 'object has no kind field '"#
        );
        assert_eq!(
            err(b"k8s\0", "example.com/v1", "Widget"),
            "the object provided is unrecognized (must be of type Widget): empty body (6b387300)"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut schema: Vec<u8> = Vec::new();
        for _ in 0..100_000 {
            schema = ld(28, &schema);
        }
        let raw = ld(2, &ld(7, &ld(4, &ld(1, &schema))));
        assert_eq!(
            err(
                &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            ),
            r#"CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: proto: messages nest deeper than 100 levels"#
        );
        let mut ok: Vec<u8> = Vec::new();
        for _ in 0..90 {
            ok = ld(28, &ok);
        }
        let raw = ld(2, &ld(7, &ld(4, &ld(1, &ok))));
        decode(
            &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        )
        .unwrap();
    }

    #[test]
    fn many_empty_messages_stay_cheap() {
        // 1M empty allOf schemas in a 3 MB body.
        let one = ld(25, b"");
        let schema = one.repeat(1_000_000);
        let raw = ld(2, &ld(7, &ld(4, &ld(1, &schema))));
        let start = std::time::Instant::now();
        let v = decode(
            &body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &raw),
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        )
        .unwrap();
        assert_eq!(
            v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["allOf"]
                .as_array()
                .map(Vec::len),
            Some(1_000_000)
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let targets = [
            ("v1", "ConfigMap"),
            ("v1", "Service"),
            ("v1", "Event"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            ("meta.k8s.io/v1", "DeleteOptions"),
            ("example.com/v1", "Widget"),
        ];
        let crd = text(
            CRD,
            r#"metadata { name: "w" annotations { key: "a" value: "b" } }
               spec { group: "g" names { plural: "w" kind: "W" } scope: "Cluster"
                 versions { name: "v1" served: true storage: true
                   schema { openAPIV3Schema { type: "object" default { raw: "{}" }
                     properties { key: "p" value { items { schema { type: "string" } } additionalProperties { allows: true } } } } } } }
               status { conditions { type: "Established" status: "True" lastTransitionTime { seconds: 5 } } }"#,
        );
        let service = text(
            &format!("{CORE}Service"),
            r#"metadata { name: "s" creationTimestamp { seconds: 1 } } spec { ports { port: 1 targetPort { type: 1 strVal: "x" } } }"#,
        );
        let valid = [
            body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd),
            body("v1", "Service", &service),
        ];
        for (av, kind) in targets {
            for _ in 0..2_000 {
                let len = rng.random_range(0..64);
                let mut b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                if rng.random_bool(0.7) {
                    b.splice(0..0, MAGIC.iter().copied());
                }
                let _ = decode(&b, av, kind);
            }
            for v in &valid {
                for cut in 0..v.len() {
                    let _ = decode(&v[..cut], av, kind);
                }
                for _ in 0..2_000 {
                    let mut b = v.clone();
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                    let _ = decode(&b, av, kind);
                }
            }
        }
        assert!(
            decode(
                &valid[0],
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition"
            )
            .is_ok()
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(summarize(b""), "<empty>");
        assert_eq!(summarize(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(summarize(&[0xab; 31]), format!("{} ...", "ab".repeat(30)));
        assert_eq!(summarize(&[0x01; 30]), "01".repeat(30));
    }
}
