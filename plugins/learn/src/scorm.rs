//! SCORM packages: a zip the tenant uploaded (and the host's scan passed), read through the
//! files capability, checked entry by entry, and its `imsmanifest.xml` parsed (SCORM 1.2 and
//! 2004 3rd/4th edition): organizations, items, and each SCO's launch path.
//!
//! Anything wrong is `400 invalid_package` saying what: no manifest, no SCO, a path that leaves
//! the package, too many entries, more uncompressed bytes than the cap (a zip bomb).

use std::io::Read;

use mobieus_sdk::prelude::*;

pub const MIGRATION: &str = "
    CREATE TABLE learn_scorm_packages (
        id                TEXT PRIMARY KEY,
        file_id           TEXT NOT NULL,
        title             TEXT NOT NULL,
        version           TEXT NOT NULL CHECK (version IN ('1.2', '2004')),
        edition           TEXT,
        organizations     TEXT NOT NULL,
        scos              TEXT NOT NULL,
        entries           INTEGER NOT NULL,
        uncompressed_size INTEGER NOT NULL,
        created_at        TEXT NOT NULL
    );";

const TABLE: &str = "learn_scorm_packages";
const MAX_ENTRIES: usize = 10_000;
/// What the entries may add up to, uncompressed, as their headers declare them.
const MAX_UNCOMPRESSED: u64 = 512 * 1024 * 1024;
/// What the manifest may be, whatever its header says (read no further).
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
const MAX_ITEMS: usize = 5_000;

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Package {
    #[schemars(regex(pattern = "^pkg_[0-9A-Z]{26}$"))]
    pub id: String,
    /// The uploaded zip (fil_…).
    pub file_id: String,
    pub title: String,
    /// `1.2` or `2004`.
    pub version: String,
    /// For 2004: `2nd`, `3rd` or `4th`, when the manifest says.
    pub edition: Option<String>,
    pub organizations: Vec<Organization>,
    /// Every item that launches a SCO, in outline order.
    pub scos: Vec<Sco>,
    pub entries: i64,
    pub uncompressed_size: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

impl HasId for Package {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
pub struct Organization {
    pub identifier: String,
    pub title: String,
    /// The manifest's default organization.
    pub default: bool,
    /// Its items in outline order, each naming its parent: the tree, flat.
    pub items: Vec<Item>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
pub struct Item {
    pub identifier: String,
    pub title: String,
    /// The item it sits under; `null` at the organization's top level.
    pub parent: Option<String>,
    /// 0 at the top level.
    pub depth: u32,
    /// Its SCO's launch path inside the package (with the item's parameters), if it launches one.
    pub launch: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Sco {
    pub item: String,
    pub title: String,
    pub launch: String,
}

pub fn find(cx: &Ctx, id: &str) -> Result<Package> {
    cx.db().select_one(TABLE, "WHERE id = ?1", &[&id])?.ok_or_else(|| Error::new(404, "scorm_package_not_found", "No SCORM package has this id."))
}

pub fn list(cx: &mut Ctx) -> Result<Page<Package>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("version = ?", page.filter_one_of("version", &["1.2", "2004"])?);
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Package>> {
    find(cx, &id).map(Json)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewPackage {
    /// An uploaded zip the scan found clean (fil_…).
    #[garde(length(min = 1, max = 100))]
    file_id: String,
    /// Defaults to the default organization's title.
    #[garde(length(chars, min = 1, max = 200))]
    title: Option<String>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewPackage>) -> Result<Created<Package>> {
    let info = cx.file(&new.file_id)?.ok_or_else(|| Error::validation("file_id", "no such file"))?;
    if info.status != "clean" {
        return Err(Error::conflict("file_not_clean", "The file has not passed the scan (it is pending, quarantined or rejected).").with("status", info.status));
    }
    // Read in place: the central directory and the manifest, never the whole zip.
    let parsed = parse(cx.open_file(&new.file_id)?).map_err(|why| Error::bad_request("invalid_package", why))?;
    let package = Package {
        id: cx.new_id("pkg_"),
        file_id: new.file_id,
        title: new.title.unwrap_or(parsed.title),
        version: parsed.version,
        edition: parsed.edition,
        organizations: parsed.organizations,
        scos: parsed.scos,
        entries: parsed.entries as i64,
        uncompressed_size: parsed.uncompressed as i64,
        created_at: cx.now(),
    };
    cx.db().insert(TABLE, &package)?;
    Ok(Created(package))
}

/// A package as read from its zip.
#[derive(Debug)]
pub struct Parsed {
    pub title: String,
    pub version: String,
    pub edition: Option<String>,
    pub organizations: Vec<Organization>,
    pub scos: Vec<Sco>,
    pub entries: usize,
    pub uncompressed: u64,
}

/// Checks the zip and parses its manifest; the error says what is wrong, for the client.
pub fn parse(mut file: impl std::io::Read + std::io::Seek) -> std::result::Result<Parsed, String> {
    check_directory(&mut file)?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("not a zip file ({e})"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("{} entries; at most {MAX_ENTRIES}", zip.len()));
    }
    let mut names = std::collections::HashSet::new();
    let mut uncompressed: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| format!("entry {i} cannot be read ({e})"))?;
        let name = entry.name().map_err(|e| format!("entry {i} has no usable name ({e})"))?.into_owned();
        if entry.enclosed_name().is_none() || name.contains('\\') || name.split('/').any(|part| part == "..") {
            return Err(format!("the entry `{name}` leaves the package (an absolute path or `..`)"));
        }
        uncompressed = uncompressed.saturating_add(entry.size());
        if uncompressed > MAX_UNCOMPRESSED {
            return Err(format!("more than {MAX_UNCOMPRESSED} bytes uncompressed (a zip bomb?)"));
        }
        names.insert(name);
    }
    let manifest = {
        let mut entry = zip.by_name("imsmanifest.xml").map_err(|_| "no imsmanifest.xml at the package's root".to_owned())?;
        let mut text = String::new();
        entry
            .by_ref()
            .take(MAX_MANIFEST + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("imsmanifest.xml cannot be read ({e})"))?;
        if text.len() as u64 > MAX_MANIFEST {
            return Err(format!("imsmanifest.xml is larger than {MAX_MANIFEST} bytes"));
        }
        text
    };
    let mut parsed = parse_manifest(&manifest)?;
    for sco in &parsed.scos {
        let file = sco.launch.split(['?', '#']).next().unwrap_or_default();
        if !names.contains(file) {
            return Err(format!("the SCO `{}` launches `{file}`, which is not in the package", sco.item));
        }
    }
    parsed.entries = names.len();
    parsed.uncompressed = uncompressed;
    Ok(parsed)
}

/// The biggest central directory read: 10,000 entries with long names fit in it.
const MAX_DIRECTORY: u64 = 8 * 1024 * 1024;

/// Refuses, from the end-of-central-directory record alone, a zip whose directory would not fit
/// in a plugin's memory once parsed (millions of entries), before the zip crate reads it.
fn check_directory(file: &mut (impl std::io::Read + std::io::Seek)) -> std::result::Result<(), String> {
    use std::io::SeekFrom;
    let size = file.seek(SeekFrom::End(0)).map_err(|e| format!("the file cannot be read ({e})"))?;
    // The record is 22 bytes plus a comment of up to 65,535.
    let tail_len = size.min(22 + 65_535);
    let mut tail = vec![0; tail_len as usize];
    file.seek(SeekFrom::Start(size - tail_len)).and_then(|_| file.read_exact(&mut tail)).map_err(|e| format!("the file cannot be read ({e})"))?;
    let Some(at) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06]) else {
        return Err("not a zip file (no end of central directory)".into());
    };
    let entries = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    let directory = u32::from_le_bytes([tail[at + 12], tail[at + 13], tail[at + 14], tail[at + 15]]);
    // 0xFFFF and 0xFFFFFFFF defer to the Zip64 record, which the zip crate reads.
    if entries != u16::MAX && usize::from(entries) > MAX_ENTRIES {
        return Err(format!("{entries} entries; at most {MAX_ENTRIES}"));
    }
    if directory != u32::MAX && u64::from(directory) > MAX_DIRECTORY {
        return Err(format!("a central directory of {directory} bytes; at most {MAX_DIRECTORY}"));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| format!("the file cannot be read ({e})"))?;
    Ok(())
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: Option<roxmltree::Node>) -> String {
    node.and_then(|n| n.text()).map(|t| t.trim().to_owned()).unwrap_or_default()
}

/// An attribute by local name, whatever its namespace (`adlcp:scormtype`, `adlcp:scormType`,
/// `xml:base`).
fn attr<'a>(node: roxmltree::Node<'a, '_>, local: &str) -> Option<&'a str> {
    node.attributes().find(|a| a.name().eq_ignore_ascii_case(local)).map(|a| a.value())
}

/// A path inside the package, joined from `xml:base` parts and an `href`; refused if it is a URL
/// or leaves the package.
fn inside(parts: &[&str]) -> std::result::Result<String, String> {
    let joined: String = parts.concat();
    if joined.contains("://") || joined.starts_with('/') || joined.contains('\\') {
        return Err(format!("the launch path `{joined}` is not inside the package"));
    }
    let (path, rest) = match joined.find(['?', '#']) {
        Some(i) => joined.split_at(i),
        None => (joined.as_str(), ""),
    };
    let mut out: Vec<&str> = vec![];
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop().ok_or_else(|| format!("the launch path `{joined}` leaves the package"))?;
            }
            p => out.push(p),
        }
    }
    Ok(format!("{}{rest}", out.join("/")))
}

pub fn parse_manifest(xml: &str) -> std::result::Result<Parsed, String> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(xml, options).map_err(|e| format!("imsmanifest.xml is not well-formed XML ({e})"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "manifest" {
        return Err("imsmanifest.xml's root is not <manifest>".into());
    }
    let schema_version = child(root, "metadata").map(|m| text_of(child(m, "schemaversion"))).unwrap_or_default();
    let namespaces: Vec<&str> = root.namespaces().map(|n| n.uri()).collect();
    let (version, edition) = if schema_version == "1.2" || namespaces.iter().any(|n| n.contains("adlcp_rootv1p2")) {
        ("1.2", None)
    } else if schema_version.starts_with("2004") || schema_version == "CAM 1.3" || namespaces.iter().any(|n| n.contains("adlcp_v1p3")) {
        let edition = ["2nd", "3rd", "4th"].into_iter().find(|e| schema_version.contains(e)).map(str::to_owned);
        ("2004", edition)
    } else {
        return Err(format!("not a SCORM 1.2 or 2004 manifest (schemaversion `{schema_version}`)"));
    };
    let manifest_base = attr(root, "base").unwrap_or("");
    let mut resources = std::collections::HashMap::new();
    if let Some(res) = child(root, "resources") {
        let resources_base = attr(res, "base").unwrap_or("");
        for r in children(res, "resource") {
            let id = attr(r, "identifier").unwrap_or("").to_owned();
            let sco = attr(r, "scormtype").is_some_and(|t| t.eq_ignore_ascii_case("sco"));
            let launch = match attr(r, "href") {
                Some(href) => Some(inside(&[manifest_base, resources_base, attr(r, "base").unwrap_or(""), href])?),
                None => None,
            };
            resources.insert(id, (sco, launch));
        }
    }
    let organizations_node = child(root, "organizations").ok_or("imsmanifest.xml has no <organizations>")?;
    let default_org = attr(organizations_node, "default").unwrap_or("");
    let mut scos = vec![];
    let mut count = 0;
    let mut organizations = vec![];
    for org in children(organizations_node, "organization") {
        let identifier = attr(org, "identifier").unwrap_or("").to_owned();
        let mut items_out = vec![];
        items(org, None, &resources, &mut scos, &mut items_out, 0)?;
        count += items_out.len();
        if count > MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} items"));
        }
        let items = items_out;
        organizations.push(Organization { default: identifier == default_org, title: text_of(child(org, "title")), identifier, items });
    }
    if organizations.is_empty() {
        return Err("imsmanifest.xml has no organization".into());
    }
    if !organizations.iter().any(|o| o.default) {
        organizations[0].default = true;
    }
    if scos.is_empty() {
        return Err("the package has no SCO (no item launches a resource of scormtype sco)".into());
    }
    let title = organizations.iter().find(|o| o.default).map(|o| o.title.clone()).filter(|t| !t.is_empty()).unwrap_or_else(|| "Untitled package".into());
    Ok(Parsed { title, version: version.into(), edition, organizations, scos, entries: 0, uncompressed: 0 })
}

type Resources = std::collections::HashMap<String, (bool, Option<String>)>;

/// Appends `parent`'s items to `out` in outline order.
fn items(parent: roxmltree::Node, parent_id: Option<&str>, resources: &Resources, scos: &mut Vec<Sco>, out: &mut Vec<Item>, depth: u32) -> std::result::Result<(), String> {
    if depth > 32 {
        return Err("items nest deeper than 32 levels".into());
    }
    for node in children(parent, "item") {
        if out.len() >= MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} items"));
        }
        let identifier = attr(node, "identifier").unwrap_or("").to_owned();
        let title = text_of(child(node, "title"));
        let launch = match attr(node, "identifierref") {
            Some(r) => {
                let (sco, href) = resources.get(r).ok_or_else(|| format!("the item `{identifier}` refers to `{r}`, which is not a resource"))?;
                match (sco, href) {
                    (true, Some(href)) => {
                        let launch = format!("{href}{}", attr(node, "parameters").unwrap_or(""));
                        scos.push(Sco { item: identifier.clone(), title: title.clone(), launch: launch.clone() });
                        Some(launch)
                    }
                    (_, href) => href.clone(),
                }
            }
            None => None,
        };
        out.push(Item { identifier: identifier.clone(), title, parent: parent_id.map(str::to_owned), depth, launch });
        items(node, Some(&identifier), resources, scos, out, depth + 1)?;
    }
    Ok(())
}
