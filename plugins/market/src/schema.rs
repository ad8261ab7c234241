//! JSON Schemas for the OpenAPI document and the event catalog. Functions, so a request (a fresh
//! instance each time) never builds them; only `manifest()` does.

use mobieus_sdk::json::Value;
use mobieus_sdk::json;

pub fn listing() -> Value {
    let nullable_time = json!({"type": ["string", "null"], "format": "date-time"});
    json!({
        "type": "object",
        "required": ["id", "title", "description", "price", "currency", "seller_id", "status", "file_ids", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^lst_[0-9A-Z]{26}$"},
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 10000},
            "price": {"type": "integer", "minimum": 0, "description": "In the currency's minor units (cents for EUR)."},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217."},
            "seller_id": {"type": "string"},
            "buyer_id": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": ["active", "sold", "withdrawn"]},
            "file_ids": {"type": "array", "items": {"type": "string"}},
            "withdrawn_reason": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "sold_at": nullable_time,
            "withdrawn_at": nullable_time
        }
    })
}

pub fn listing_page() -> Value {
    mobieus_sdk::page_schema(listing())
}

pub fn new_listing() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "price", "currency", "seller_id"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 10000},
            "price": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
            "seller_id": {"type": "string"},
            "file_ids": {"type": "array", "maxItems": 10, "uniqueItems": true, "items": {"type": "string"}}
        }
    })
}

pub fn listing_patch() -> Value {
    let mut schema = new_listing();
    schema["required"] = json!([]);
    schema["minProperties"] = json!(1);
    if let Some(props) = schema["properties"].as_object_mut() {
        props.remove("seller_id");
    }
    schema
}

pub fn sale() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["buyer_id"],
        "properties": {"buyer_id": {"type": "string"}}
    })
}

pub fn withdrawal() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}
    })
}
