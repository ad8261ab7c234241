//! What the community publishes: articles, products, and the atlas (hotspots in categories).

use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;
use mobieus_sdk::garde;

use crate::paging::{OffsetPage, Window};


pub const MIGRATION: &str = "
CREATE TABLE community_articles (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    published_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX community_articles_published ON community_articles (published_at, id);
CREATE TABLE community_products (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE community_atlas_categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE community_atlas_hotspots (
    id TEXT PRIMARY KEY,
    category_id TEXT,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX community_atlas_hotspots_category ON community_atlas_hotspots (category_id, id);
";

type Row = mobieus_sdk::Row;

use crate::IdPath;

#[derive(Deserialize)]
pub struct SkuPath {
    #[allow(dead_code)]
    tag: String,
    sku: String,
}

/// A published article.
#[derive(Serialize, JsonSchema)]
pub struct Article {
    pub id: String,
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[schemars(extend("format" = "date-time"))]
    pub published_at: Option<String>,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    #[garde(length(min = 1, max = 100), custom(crate::slug))]
    pub slug: String,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub title: String,
    #[serde(default)]
    #[garde(length(chars, max = 60000))]
    pub body: String,
    /// Published at once (default), or kept as a draft.
    #[serde(default = "yes")]
    #[garde(skip)]
    pub published: bool,
}

fn yes() -> bool {
    true
}

fn article_of(r: &Row) -> Result<Article> {
    Ok(Article { id: r.get("id")?, slug: r.get("slug")?, title: r.get("title")?, body: r.get("body")?, published_at: r.get("published_at")? })
}

pub fn articles(cx: &mut Ctx) -> Result<Json<OffsetPage<Article>>> {
    let window = Window::of(cx)?;
    let page = window.fetch(
        cx,
        "id, slug, title, body, published_at",
        "community_articles WHERE published_at IS NOT NULL",
        "published_at DESC, id DESC",
        &[],
        article_of,
    )?;
    Ok(Json(page))
}

pub fn create_article(cx: &mut Ctx, Json(new): Json<NewArticle>) -> Result<Created<Article>> {
    if cx.db().query_one("SELECT 1 AS one FROM community_articles WHERE slug = ?1", &[&new.slug])?.is_some() {
        return Err(Error::conflict("slug_taken", "Another article has this slug."));
    }
    let now = cx.now();
    let article = Article { id: cx.new_id("art_"), slug: new.slug, title: new.title, body: new.body, published_at: new.published.then(|| now.clone()) };
    cx.db().execute(
        "INSERT INTO community_articles (id, slug, title, body, published_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&article.id, &article.slug, &article.title, &article.body, &article.published_at, &now],
    )?;
    Ok(Created(article))
}

/// A product the community sells.
#[derive(Serialize, JsonSchema)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// In minor units (cents).
    pub price: i64,
    pub currency: String,
    pub active: bool,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// The stock-keeping unit, unique: letters, digits, `-` and `_`.
    #[garde(length(min = 1, max = 64), custom(sku_chars))]
    pub sku: String,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 20000))]
    pub description: String,
    #[garde(range(min = 0_i64, max = 10_000_000_000_i64))]
    pub price: i64,
    #[garde(inner(length(min = 3, max = 3)))]
    pub currency: Option<String>,
}

fn sku_chars(value: &str, _: &()) -> garde::Result {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(garde::Error::new("letters, digits, - and _"))
    }
}

fn product_of(r: &Row) -> Result<Product> {
    Ok(Product {
        id: r.get("id")?,
        sku: r.get("sku")?,
        name: r.get("name")?,
        description: r.get("description")?,
        price: r.get("price")?,
        currency: r.get("currency")?,
        active: r.get("active")?,
    })
}

const PRODUCT_COLUMNS: &str = "id, sku, name, description, price, currency, active";

pub fn products(cx: &mut Ctx) -> Result<Json<OffsetPage<Product>>> {
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, PRODUCT_COLUMNS, "community_products WHERE active = 1", "name, id", &[], product_of)?))
}

pub fn product(cx: &mut Ctx, Path(p): Path<SkuPath>) -> Result<Json<Product>> {
    let row = cx.db().query_one(&format!("SELECT {PRODUCT_COLUMNS} FROM community_products WHERE sku = ?1"), &[&p.sku])?;
    Ok(Json(row.as_ref().map(product_of).transpose()?.ok_or_else(|| Error::not_found("product"))?))
}

pub fn create_product(cx: &mut Ctx, Json(new): Json<NewProduct>) -> Result<Created<Product>> {
    if cx.db().query_one("SELECT 1 AS one FROM community_products WHERE sku = ?1", &[&new.sku])?.is_some() {
        return Err(Error::conflict("sku_taken", "Another product has this SKU."));
    }
    let currency = new.currency.unwrap_or_else(|| "EUR".into()).to_ascii_uppercase();
    let product = Product { id: cx.new_id("prd_"), sku: new.sku, name: new.name, description: new.description, price: new.price, currency, active: true };
    cx.db().execute(
        "INSERT INTO community_products (id, sku, name, description, price, currency, active, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)",
        &[&product.id, &product.sku, &product.name, &product.description, &product.price, &product.currency, &cx.now()],
    )?;
    Ok(Created(product))
}

/// A category of the atlas.
#[derive(Serialize, JsonSchema)]
pub struct Category {
    pub id: String,
    pub name: String,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[garde(length(chars, min = 1, max = 100), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub name: String,
}

pub fn categories(cx: &mut Ctx) -> Result<Json<OffsetPage<Category>>> {
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, "id, name", "community_atlas_categories", "name, id", &[], |r| Ok(Category { id: r.get("id")?, name: r.get("name")? }))?))
}

pub fn create_category(cx: &mut Ctx, Json(new): Json<NewCategory>) -> Result<Created<Category>> {
    if cx.db().query_one("SELECT 1 AS one FROM community_atlas_categories WHERE name = ?1", &[&new.name])?.is_some() {
        return Err(Error::conflict("name_taken", "Another category has this name."));
    }
    let category = Category { id: cx.new_id("cat_"), name: new.name };
    cx.db().execute(
        "INSERT INTO community_atlas_categories (id, name, created_at) VALUES (?1, ?2, ?3)",
        &[&category.id, &category.name, &cx.now()],
    )?;
    Ok(Created(category))
}

/// A place on the community's map.
#[derive(Serialize, JsonSchema)]
pub struct Hotspot {
    pub id: String,
    pub category_id: Option<String>,
    pub name: String,
    pub description: String,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewHotspot {
    #[garde(inner(length(max = 64)))]
    pub category_id: Option<String>,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 5000))]
    pub description: String,
    #[garde(range(min = -90.0, max = 90.0))]
    pub latitude: f64,
    #[garde(range(min = -180.0, max = 180.0))]
    pub longitude: f64,
}

fn hotspot_of(r: &Row) -> Result<Hotspot> {
    Ok(Hotspot {
        id: r.get("id")?,
        category_id: r.get("category_id")?,
        name: r.get("name")?,
        description: r.get("description")?,
        latitude: r.get("latitude")?,
        longitude: r.get("longitude")?,
    })
}

const HOTSPOT_COLUMNS: &str = "id, category_id, name, description, latitude, longitude";

pub fn hotspots(cx: &mut Ctx) -> Result<Json<OffsetPage<Hotspot>>> {
    let window = Window::of(cx)?;
    Ok(Json(match cx.query("category_id") {
        Some(category) => window.fetch(cx, HOTSPOT_COLUMNS, "community_atlas_hotspots WHERE category_id = ?1", "name, id", &[&category], hotspot_of)?,
        None => window.fetch(cx, HOTSPOT_COLUMNS, "community_atlas_hotspots", "name, id", &[], hotspot_of)?,
    }))
}

pub fn hotspot(cx: &mut Ctx, Path(p): Path<IdPath>) -> Result<Json<Hotspot>> {
    let row = cx.db().query_one(&format!("SELECT {HOTSPOT_COLUMNS} FROM community_atlas_hotspots WHERE id = ?1"), &[&p.id])?;
    Ok(Json(row.as_ref().map(hotspot_of).transpose()?.ok_or_else(|| Error::not_found("hotspot"))?))
}

pub fn create_hotspot(cx: &mut Ctx, Json(new): Json<NewHotspot>) -> Result<Created<Hotspot>> {
    if let Some(category) = &new.category_id
        && cx.db().query_one("SELECT 1 AS one FROM community_atlas_categories WHERE id = ?1", &[category])?.is_none()
    {
        return Err(Error::validation("category_id", "no such category"));
    }
    let hotspot = Hotspot {
        id: cx.new_id("hsp_"),
        category_id: new.category_id,
        name: new.name,
        description: new.description,
        latitude: new.latitude,
        longitude: new.longitude,
    };
    cx.db().execute(
        "INSERT INTO community_atlas_hotspots (id, category_id, name, description, latitude, longitude, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[&hotspot.id, &hotspot.category_id, &hotspot.name, &hotspot.description, &hotspot.latitude, &hotspot.longitude, &cx.now()],
    )?;
    Ok(Created(hotspot))
}
