//! The routes of the public surface and the OpenAPI document served at
//! `/api/v1/openapi.json`, built from one list.
//!
//! Every documented route is registered through `utoipa_axum::routes!`, which takes the
//! method and path from the handler's `#[utoipa::path]`: a route cannot exist undocumented,
//! and the document cannot describe a route that does not exist. The parameters and answers
//! each operation declares are checked against the running server by schemathesis in
//! `cargo xtask test` (`tests/api_fuzz`), and their shape by the tests below.

use super::auth::{QUERY_TOKEN_EXTENSION, ROLE_EXTENSION};
use super::{agents, api, canned, channels, delivery, events, health, media, merges, plugins, presence, routing, saved_views, templates, webchat, webhooks, workflow, AppState};
use crate::auth::Role;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use serde_json::{json, Value};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's fixed parts; the paths come from [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Omnichannel messaging gateway: webhooks in, unified inbox API out."),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        // `metrics.token`, when set.
        components.add_security_scheme("metrics", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

type Routes = utoipa_axum::router::UtoipaMethodRouter<AppState>;

/// Every route of the main listener except the document itself, with its documentation and
/// the role it needs: the one place where routes declare their roles ([`super::auth`]
/// enforces what is declared here). `/metrics` is left out when `metrics.listen` serves it
/// elsewhere.
pub fn routes(metrics_here: bool) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(public(routes!(agents::login)))
        .routes(agent(routes!(agents::logout)))
        .routes(agent(routes!(agents::me, agents::update_me)))
        .routes(agent(routes!(agents::my_tokens, agents::create_token)))
        .routes(agent(routes!(agents::revoke_token)))
        .routes(agent(routes!(agents::directory)))
        .routes(admin(routes!(agents::list_agents, agents::create_agent)))
        .routes(admin(routes!(agents::get_agent, agents::update_agent, agents::delete_agent)))
        .routes(agent(routes!(agents::list_teams)))
        .routes(admin(routes!(agents::create_team)))
        .routes(admin(routes!(agents::rename_team, agents::delete_team)))
        .routes(admin(routes!(agents::add_member, agents::remove_member)))
        .routes(agent(routes!(api::list_conversations)))
        .routes(agent(routes!(api::conversation_counts)))
        .routes(agent(routes!(api::get_conversation, workflow::update_conversation)))
        .routes(agent(routes!(workflow::activity)))
        .routes(agent(routes!(workflow::routing)))
        .routes(admin(routes!(routing::routing_policies)))
        .routes(admin(routes!(plugins::list_plugins)))
        .routes(admin(routes!(plugins::reload_plugin)))
        .routes(admin(routes!(plugins::roll_back_plugin)))
        .routes(agent(routes!(workflow::add_note)))
        .routes(agent(routes!(workflow::mark_read)))
        .routes(agent(routes!(presence::heartbeat, presence::leave)))
        .routes(agent(routes!(presence::list)))
        .routes(agent(routes!(canned::expand)))
        .routes(agent(routes!(canned::list)))
        .routes(admin(routes!(canned::create)))
        .routes(admin(routes!(canned::update, canned::delete)))
        .routes(agent(routes!(templates::list)))
        .routes(admin(routes!(templates::create)))
        .routes(agent(routes!(templates::get)))
        .routes(admin(routes!(templates::update, templates::delete)))
        .routes(agent(routes!(api::conversation_messages, api::reply)))
        .routes(agent(routes!(delivery::delivery)))
        .routes(agent(routes!(delivery::retry)))
        .routes(agent(routes!(delivery::dead_letters)))
        .routes(agent(routes!(delivery::conversation_windows)))
        .routes(agent(routes!(media::download)))
        .routes(agent(routes!(api::get_contact, api::update_contact)))
        .routes(agent(routes!(api::contact_timeline)))
        .routes(agent(routes!(merges::merge)))
        .routes(admin(routes!(merges::undo)))
        .routes(admin(routes!(merges::audit)))
        .routes(agent(routes!(saved_views::list, saved_views::create)))
        .routes(agent(routes!(saved_views::update, saved_views::delete)))
        .routes(agent(routes!(channels::list_channels)))
        .routes(admin(routes!(channels::get_channel)))
        .routes(admin(routes!(channels::check_connection)))
        // Web chat visitors: public as far as roles go, each checks the visitor's session token.
        .routes(public(routes!(webchat::create_session)))
        .routes(public(routes!(webchat::history)))
        .routes(public(routes!(webchat::upload)))
        .routes(public(routes!(webchat::media)))
        .routes(declare(routes!(events::stream), Some(Role::Agent), true));
    let mut root = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(public(routes!(webhooks::handshake, webhooks::receive)))
        .nest("/api/v1", api)
        .routes(public(routes!(health::healthz)))
        .routes(public(routes!(health::readyz)));
    if metrics_here {
        // Public as far as roles go; `metrics.token` guards it when set.
        root = root.routes(public(routes!(health::metrics)));
    }
    root
}

fn public(routes: Routes) -> Routes {
    declare(routes, None, false)
}

fn agent(routes: Routes) -> Routes {
    declare(routes, Some(Role::Agent), false)
}

fn admin(routes: Routes) -> Routes {
    declare(routes, Some(Role::Admin), false)
}

/// Mark each operation of `routes` with the role it needs (and whether `?access_token=` is
/// taken); an operation that needs one is secured by the bearer scheme.
fn declare((schemas, mut paths, router): Routes, role: Option<Role>, query_token: bool) -> Routes {
    for item in paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options, &mut item.trace];
        for operation in operations.into_iter().flatten() {
            let extensions = operation.extensions.get_or_insert_with(Default::default);
            extensions.insert(ROLE_EXTENSION.into(), json!(role.map_or("public", Role::as_str)));
            if query_token {
                extensions.insert(QUERY_TOKEN_EXTENSION.into(), json!(true));
            }
            if role.is_some() {
                operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            }
        }
    }
    (schemas, paths, router)
}

/// The document alone (for tests and tools), with every route, for these channel ids.
pub fn document(channel_ids: &[String], webchat: &[(String, Vec<String>)]) -> Value {
    finish(routes(true).into_openapi(), channel_ids, webchat)
}

/// The served document: what the handlers declare, plus the request rules utoipa cannot
/// derive from the types, so that a request the document allows is one the server takes:
///
/// - a reply carries exactly one of `text` and `content` (the handler refuses both or neither);
/// - a template's parameters are at most 4,096 characters each, labels 1–64 without spaces;
/// - each `content` variant, and each template button's, refuses unknown fields
///   (`deny_unknown_fields` on an internally tagged enum, which utoipa does not carry over to
///   the variants);
/// - `channel_id` (webhooks' path, a reply's field) names a configured channel, and in the web
///   chat routes a web chat channel; an upload's content types are those channels take.
pub fn finish(document: utoipa::openapi::OpenApi, channel_ids: &[String], webchat: &[(String, Vec<String>)]) -> Value {
    let mut doc = serde_json::to_value(document).unwrap_or_default();
    let schemas = &mut doc["components"]["schemas"];
    if let Some(variants) = schemas["ReplyContent"]["oneOf"].as_array_mut() {
        for variant in variants {
            variant["additionalProperties"] = Value::Bool(false);
            // `Vec<String>` items carry no attributes of their own.
            if let Some(items) = variant["properties"].get_mut("parameters").and_then(|p| p.get_mut("items")) {
                items["maxLength"] = json!(4096);
            }
        }
    }
    // Label lists' items: `Vec<String>` items carry no attributes of their own.
    for list in ["add_labels", "remove_labels"] {
        schemas["ConversationUpdate"]["properties"][list]["items"] = json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^\\S+$"});
    }
    // The same for a template's buttons.
    if let Some(variants) = schemas["TemplateButton"]["oneOf"].as_array_mut() {
        for variant in variants {
            variant["additionalProperties"] = Value::Bool(false);
        }
    }
    let request = &mut schemas["ReplyRequest"];
    request["oneOf"] = json!([
        { "required": ["text"], "properties": { "text": { "type": "string" }, "content": { "type": "null" } } },
        { "required": ["content"], "properties": { "content": { "$ref": "#/components/schemas/ReplyContent" }, "text": { "type": "null" } } },
    ]);
    let mut ids: Vec<Value> = channel_ids.iter().map(|id| Value::String(id.clone())).collect();
    ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    request["properties"]["channel_id"]["enum"] = Value::Array(ids.iter().cloned().chain([Value::Null]).collect());
    // A template belongs to a configured channel (one that sends templates, or it is a 422).
    schemas["TemplateRequest"]["properties"]["channel_id"]["enum"] = Value::Array(ids.clone());
    // Webhooks come to every channel but the web chat ones (their visitors use the widget).
    let hooks: Vec<Value> = ids.iter().filter(|id| !webchat.iter().any(|(chat, _)| id.as_str() == Some(chat))).cloned().collect();
    for method in ["get", "post"] {
        let parameters = doc["paths"]["/webhooks/{channel_id}"][method]["parameters"].as_array_mut();
        for parameter in parameters.into_iter().flatten().filter(|p| p["name"] == "channel_id") {
            parameter["schema"]["enum"] = Value::Array(hooks.clone());
        }
    }
    // The web chat routes take a web chat channel's id (one with `[channels.webchat]`), and an
    // upload is a file of a type some web chat channel takes.
    let mut chats: Vec<Value> = webchat.iter().map(|(id, _)| Value::String(id.clone())).collect();
    let mut types: Vec<&str> = webchat.iter().flat_map(|(_, types)| types.iter().map(String::as_str)).collect();
    types.sort_unstable();
    types.dedup();
    if !types.is_empty() {
        let body = &mut doc["paths"]["/api/v1/webchat/{channel_id}/uploads"]["post"]["requestBody"]["content"];
        let schema = body["application/octet-stream"]["schema"].take();
        *body = Value::Object(types.into_iter().map(|mime| (mime.to_string(), json!({ "schema": schema }))).collect());
    }
    chats.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (_, item) in paths.iter_mut().filter(|(path, _)| path.starts_with("/api/v1/webchat/{channel_id}")) {
            for operation in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
                let parameters = operation["parameters"].as_array_mut();
                for parameter in parameters.into_iter().flatten().filter(|p| p["name"] == "channel_id") {
                    parameter["schema"]["enum"] = Value::Array(chats.clone());
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        super::document(&["whatsapp".into(), "sms".into(), "chat".into()], &[("chat".into(), vec!["image/png".into()])])
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                out.push((path.clone(), method.clone(), operation));
            }
        }
        out
    }

    /// Every `{name}` in a path is a declared path parameter of each of its operations, and
    /// every declared path parameter appears in the path.
    #[test]
    fn path_parameters_match_the_path_templates() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            let mut in_path: Vec<&str> = path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
            let mut declared: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{method} {path}: path parameters are required");
                    p["name"].as_str().unwrap()
                })
                .collect();
            in_path.sort_unstable();
            declared.sort_unstable();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }

    /// Query parameters are optional and never declared in the path; `limit` carries the
    /// range the handlers enforce.
    #[test]
    fn query_parameters_are_optional_with_enforced_ranges() {
        let doc = document();
        let mut limits = 0;
        for (path, method, operation) in operations(&doc) {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if ["limit", "cursor", "before", "access_token"].contains(&name) {
                    assert_eq!(parameter["in"], "query", "{method} {path} {name}");
                    assert_ne!(parameter["required"], true, "{method} {path} {name}");
                }
                if name == "limit" {
                    limits += 1;
                    let schema = &parameter["schema"];
                    assert_eq!(schema["minimum"], 1, "{method} {path}");
                    // Conversations page by 200 at most; messages, activity, timelines, audit and
                    // dead letters by 500.
                    let max = if path == "/api/v1/conversations" { 200 } else { 500 };
                    assert_eq!(schema["maximum"], max, "{method} {path}");
                }
            }
        }
        assert_eq!(limits, 6, "conversations, messages, activity, timelines, the audit log and dead letters");
    }

    /// Operations behind a bearer token document 401; those with a JSON body document 415;
    /// every operation documents at least one error, and every error is an `ErrorBody`.
    #[test]
    fn errors_are_documented() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            let responses = operation["responses"].as_object().unwrap();
            let secured = operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if secured {
                assert!(responses.contains_key("401"), "{method} {path} needs a 401");
            }
            if operation[ROLE_EXTENSION] == "admin" {
                assert!(responses.contains_key("403"), "{method} {path} needs a 403");
            }
            assert!(operation[ROLE_EXTENSION].is_string(), "{method} {path} declares no role");
            if operation["requestBody"]["content"].get("application/json").is_some() {
                assert!(responses.contains_key("415"), "{method} {path} needs a 415");
                assert!(responses.contains_key("413"), "{method} {path} needs a 413");
            }
            for (status, response) in responses {
                if status.starts_with('4') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
        }
    }

    #[test]
    fn the_webhook_handshake_and_metrics_are_documented() {
        let doc = document();
        let webhook = &doc["paths"]["/webhooks/{channel_id}"];
        assert!(webhook.get("get").is_some() && webhook.get("post").is_some());
        assert!(doc["paths"]["/api/v1/conversations/{id}/messages"].get("post").is_some());
        assert!(doc["paths"].get("/metrics").is_some());
        assert!(!routes(false).into_openapi().paths.paths.contains_key("/metrics"));
    }

    #[test]
    fn channel_ids_and_reply_shape_are_exact() {
        let doc = document();
        let post = &doc["paths"]["/webhooks/{channel_id}"]["post"]["parameters"][0];
        assert_eq!(post["schema"]["enum"], json!(["sms", "whatsapp"]), "web chat takes no webhooks");
        let reply = &doc["components"]["schemas"]["ReplyRequest"];
        assert_eq!(reply["properties"]["channel_id"]["enum"], json!(["chat", "sms", "whatsapp", null]));
        let session = &doc["paths"]["/api/v1/webchat/{channel_id}/sessions"]["post"]["parameters"][0];
        assert_eq!(session["schema"]["enum"], json!(["chat"]));
        let upload = &doc["paths"]["/api/v1/webchat/{channel_id}/uploads"]["post"]["requestBody"]["content"];
        assert_eq!(upload.as_object().map(|types| types.keys().cloned().collect::<Vec<_>>()), Some(vec!["image/png".to_string()]));
        assert_eq!(reply["oneOf"].as_array().map(Vec::len), Some(2));
        assert_eq!(reply["additionalProperties"], false);
        let buttons = doc["components"]["schemas"]["TemplateButton"]["oneOf"].as_array().unwrap().iter();
        for variant in doc["components"]["schemas"]["ReplyContent"]["oneOf"].as_array().unwrap().iter().chain(buttons) {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
        }
    }
}
