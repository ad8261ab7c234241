//! The SCIM schemas this server keeps (RFC 7643): `User` with the enterprise extension, and
//! `Group`. One declaration per attribute, from which the `/Schemas` documents, the case rules of
//! filters and sorting, and the canonical spelling of attribute names are all derived.

use serde_json::{Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub description: &'static str,
    pub sub: &'static [Attr],
}

const fn text(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind: Kind::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        description,
        sub: &[],
    }
}

const fn complex(
    name: &'static str,
    multi: bool,
    description: &'static str,
    sub: &'static [Attr],
) -> Attr {
    Attr {
        name,
        kind: Kind::Complex,
        multi,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        description,
        sub,
    }
}

const PRIMARY: Attr = Attr {
    kind: Kind::Boolean,
    ..text("primary", "Whether this is the primary value.")
};

/// `value`, `display`, `type`, `primary`: the shape of emails and phone numbers.
const TYPED_VALUE: &[Attr] = &[
    text("value", "The value."),
    text("display", "A human-readable name."),
    text("type", "work, home, other…"),
    PRIMARY,
];

pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..text(
            "userName",
            "Unique identifier for the user, compared without case.",
        )
    },
    complex(
        "name",
        false,
        "The components of the user's name.",
        &[
            text("formatted", "The full name."),
            text("familyName", "The family name."),
            text("givenName", "The given name."),
            text("middleName", "The middle name."),
            text("honorificPrefix", "e.g. Ms."),
            text("honorificSuffix", "e.g. III"),
        ],
    ),
    text("displayName", "The name shown to other members."),
    text("nickName", "The casual name."),
    text("title", "The user's title, e.g. Vice President."),
    text("userType", "e.g. Employee, Contractor."),
    text("preferredLanguage", "e.g. en-US."),
    text("locale", "e.g. en-US."),
    text("timezone", "e.g. Europe/Paris."),
    Attr {
        kind: Kind::Boolean,
        ..text(
            "active",
            "false deactivates the user; they are never deleted by it.",
        )
    },
    complex("emails", true, "Email addresses.", TYPED_VALUE),
    complex("phoneNumbers", true, "Phone numbers.", TYPED_VALUE),
    complex(
        "addresses",
        true,
        "Physical addresses.",
        &[
            text("formatted", "The full address."),
            text("streetAddress", "Street."),
            text("locality", "City."),
            text("region", "State or region."),
            text("postalCode", "Postal code."),
            text("country", "Country."),
            text("type", "work, home, other."),
            PRIMARY,
        ],
    ),
    Attr {
        mutability: Mutability::ReadOnly,
        ..complex(
            "groups",
            true,
            "The groups the user belongs to (change them through the Group).",
            &[
                Attr {
                    mutability: Mutability::ReadOnly,
                    case_exact: true,
                    ..text("value", "The group's id.")
                },
                Attr {
                    kind: Kind::Reference,
                    mutability: Mutability::ReadOnly,
                    case_exact: true,
                    ..text("$ref", "The group's URI.")
                },
                Attr {
                    mutability: Mutability::ReadOnly,
                    ..text("display", "The group's name.")
                },
                Attr {
                    mutability: Mutability::ReadOnly,
                    ..text("type", "direct.")
                },
            ],
        )
    },
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    text("employeeNumber", "The employee number."),
    text("costCenter", "The cost center."),
    text("organization", "The organization."),
    text("division", "The division."),
    text("department", "The department."),
    complex(
        "manager",
        false,
        "The user's manager.",
        &[
            Attr {
                case_exact: true,
                ..text("value", "The manager's id.")
            },
            Attr {
                mutability: Mutability::ReadOnly,
                ..text("displayName", "The manager's name.")
            },
        ],
    ),
];

pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..text("displayName", "The group's name, unique without case.")
    },
    complex(
        "members",
        true,
        "The group's members: users of this community.",
        &[
            Attr {
                case_exact: true,
                mutability: Mutability::Immutable,
                ..text("value", "The user's id.")
            },
            Attr {
                kind: Kind::Reference,
                case_exact: true,
                mutability: Mutability::Immutable,
                ..text("$ref", "The user's URI.")
            },
        ],
    ),
];

/// Attributes every resource has (RFC 7643 §3.1).
const COMMON_ATTRS: &[Attr] = &[
    Attr {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..text("id", "The server's id.")
    },
    Attr {
        case_exact: true,
        ..text("externalId", "The identity provider's id.")
    },
    complex(
        "meta",
        false,
        "Resource metadata.",
        &[
            Attr {
                mutability: Mutability::ReadOnly,
                case_exact: true,
                ..text("resourceType", "User or Group.")
            },
            Attr {
                kind: Kind::DateTime,
                mutability: Mutability::ReadOnly,
                ..text("created", "When it was created.")
            },
            Attr {
                kind: Kind::DateTime,
                mutability: Mutability::ReadOnly,
                ..text("lastModified", "When it last changed.")
            },
            Attr {
                kind: Kind::Reference,
                mutability: Mutability::ReadOnly,
                case_exact: true,
                ..text("location", "Its URI.")
            },
            Attr {
                mutability: Mutability::ReadOnly,
                case_exact: true,
                ..text("version", "Its ETag.")
            },
        ],
    ),
];

/// A resource type: its core schema, extensions, and where it is served.
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub schema: &'static str,
    pub attrs: &'static [Attr],
    pub extensions: &'static [(&'static str, &'static [Attr])],
}

pub const USERS: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    schema: USER,
    attrs: USER_ATTRS,
    extensions: &[(ENTERPRISE, ENTERPRISE_ATTRS)],
};

pub const GROUPS: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    schema: GROUP,
    attrs: GROUP_ATTRS,
    extensions: &[],
};

/// An attribute named by a filter, a sort, a projection or a PATCH path, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `None` for the core schema (top level of the resource); else the extension's URN.
    pub extension: Option<&'static str>,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl Resolved {
    pub fn case_exact(&self) -> bool {
        self.sub.unwrap_or(self.attr).case_exact
    }

    pub fn kind(&self) -> Kind {
        self.sub.unwrap_or(self.attr).kind
    }
}

fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

impl ResourceType {
    /// Resolves `uri:attr.sub` (names without case, the URN optional for the core schema);
    /// `None` for an attribute the type does not have.
    pub fn resolve(&self, uri: Option<&str>, attr: &str, sub: Option<&str>) -> Option<Resolved> {
        let (extension, attrs): (Option<&'static str>, &'static [Attr]) = match uri {
            None => (None, self.attrs),
            Some(u) if u.eq_ignore_ascii_case(self.schema) => (None, self.attrs),
            Some(u) => self
                .extensions
                .iter()
                .find(|(urn, _)| urn.eq_ignore_ascii_case(u))
                .map(|(urn, attrs)| (Some(*urn), *attrs))?,
        };
        let attr = find(attrs, attr).or_else(|| {
            if extension.is_none() {
                find(COMMON_ATTRS, attr)
            } else {
                None
            }
        })?;
        let sub = match sub {
            None => None,
            Some(s) => Some(find(attr.sub, s)?),
        };
        Some(Resolved {
            extension,
            attr,
            sub,
        })
    }

    /// The extension whose URN is `name` (without case), if any.
    pub fn extension(&self, name: &str) -> Option<&'static str> {
        self.extensions
            .iter()
            .find(|(urn, _)| urn.eq_ignore_ascii_case(name))
            .map(|(urn, _)| *urn)
    }

    pub fn schemas(&self) -> Vec<&'static str> {
        std::iter::once(self.schema)
            .chain(self.extensions.iter().map(|(urn, _)| *urn))
            .collect()
    }

    /// The `/ResourceTypes` entry.
    pub fn document(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": format!("{}s of this community.", self.name),
            "schema": self.schema,
            "schemaExtensions": self.extensions.iter()
                .map(|(urn, _)| json!({ "schema": urn, "required": false }))
                .collect::<Vec<_>>(),
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{}", self.name),
            },
        })
    }
}

fn attr_document(a: &Attr) -> Value {
    let mut doc = json!({
        "name": a.name,
        "type": match a.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::DateTime => "dateTime",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
        },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "mutability": match a.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
        },
        "returned": "default",
        "uniqueness": if a.name == "userName" || (a.name == "displayName" && a.required) { "server" } else { "none" },
    });
    if matches!(a.kind, Kind::String | Kind::Reference) {
        doc["caseExact"] = json!(a.case_exact);
    }
    if a.kind == Kind::Reference {
        doc["referenceTypes"] = json!(if a.name == "$ref" {
            vec!["User", "Group"]
        } else {
            vec!["external"]
        });
    }
    if a.kind == Kind::Complex {
        doc["subAttributes"] = a.sub.iter().map(attr_document).collect();
    }
    doc
}

/// The `/Schemas` documents.
pub fn documents(base: &str) -> Vec<Value> {
    [
        (USER, "User", "A member of the community.", USER_ATTRS),
        (
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise attributes of a user.",
            ENTERPRISE_ATTRS,
        ),
        (GROUP, "Group", "A group of users.", GROUP_ATTRS),
    ]
    .into_iter()
    .map(|(id, name, description, attrs)| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attrs.iter().map(attr_document).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
        })
    })
    .collect()
}
