//! JSON Schemas for the OpenAPI document and the event catalog. Functions, so a request (a fresh
//! instance each time) never builds them; only `manifest()` does.

use mobieus_sdk::json;
use mobieus_sdk::json::Value;

fn target() -> Value {
    json!({
        "type": "object",
        "required": ["type", "id"],
        "properties": {
            "type": {"type": "string", "enum": ["post", "listing", "user", "file"]},
            "id": {"type": "string"}
        }
    })
}

pub fn report() -> Value {
    json!({
        "type": "object",
        "required": ["id", "target", "reason", "status", "created_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^rpt_[0-9A-Z]{26}$"},
            "target": target(),
            "reason": {"type": "string"},
            "reporter_id": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": ["open", "resolved", "dismissed"]},
            "note": {"type": ["string", "null"]},
            "action_id": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "closed_at": {"type": ["string", "null"], "format": "date-time"}
        }
    })
}

pub fn action() -> Value {
    json!({
        "type": "object",
        "required": ["id", "type", "report_id", "target", "taken_by_key", "created_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^mact_[0-9A-Z]{26}$"},
            "type": {"type": "string", "enum": ["remove_content", "warn_user", "suspend_user"]},
            "report_id": {"type": "string"},
            "target": target(),
            "user_id": {"type": ["string", "null"]},
            "note": {"type": ["string", "null"]},
            "taken_by_key": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"}
        }
    })
}

pub fn page(item: Value) -> Value {
    mobieus_sdk::page_schema(item)
}

pub fn new_report() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["target", "reason"],
        "properties": {
            "target": target(),
            "reason": {"type": "string", "minLength": 1, "maxLength": 1000},
            "reporter_id": {"type": "string"}
        }
    })
}

pub fn dismissal() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"note": {"type": "string", "maxLength": 2000}}
    })
}

pub fn resolution() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "action": {"type": "string", "enum": ["remove_content", "warn_user", "suspend_user"]},
            "note": {"type": "string", "maxLength": 2000},
            "user_id": {"type": "string", "description": "Whom warn_user/suspend_user is for when the target is not a user."}
        }
    })
}
