//! `/api/v1/templates`: the message templates admins keep per channel, and the check a template
//! send passes before it is queued.

use super::api::{Id, IdParam};
use super::error::{ApiError, ErrorBody, Forbidden, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::model::Capability;
use crate::store::templates::{self, NewTemplate, Template, TemplateButton, TemplateCategory, TemplateChange, TemplateStatus};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_template", message)
}

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// WhatsApp's rule for names: lower-case letters, digits and `_`, at most 512.
fn valid_name(name: &str) -> bool {
    (1..=512).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A provider language code: `en`, `en_US`, `zh_Hant_TW`, `pt-BR` (the document's pattern).
pub(super) fn valid_language(code: &str) -> bool {
    let mut parts = code.split(['_', '-']);
    let primary = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && rest.len() <= 2
        && rest.iter().all(|part| (2..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn check_body(body: &str) -> Result<(), ApiError> {
    if rules::is_blank(body) || body.chars().count() > 1024 {
        return Err(invalid("a template body is 1 to 1024 characters, not only spaces"));
    }
    templates::parameter_count(body).map(|_| ()).map_err(invalid)
}

/// Buttons as the document's schema admits them (its patterns, exactly).
fn check_buttons(buttons: &[TemplateButton]) -> Result<(), ApiError> {
    if buttons.len() > 10 {
        return Err(invalid("a template has at most 10 buttons"));
    }
    for button in buttons {
        let text = button.text();
        if text.is_empty() || text.chars().count() > 25 || rules::is_blank(text) {
            return Err(invalid("a button's `text` is 1 to 25 characters, not only spaces"));
        }
        match button {
            TemplateButton::QuickReply { .. } => {}
            TemplateButton::Url { url, .. } => {
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                let host_first = rest.and_then(|rest| rest.chars().next());
                if url.chars().count() > 2000 || !host_first.is_some_and(|c| c != '/' && !c.is_whitespace()) {
                    return Err(invalid(format!("button `{text}`: `url` is an absolute http(s) URL of at most 2000 characters")));
                }
            }
            TemplateButton::PhoneNumber { phone_number, .. } => {
                let digits = phone_number.strip_prefix('+').unwrap_or("");
                if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!("button `{text}`: `phone_number` is an E.164 number such as +15551234567")));
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Only this channel's.
    #[param(max_length = 64)]
    pub channel: Option<String>,
}

#[utoipa::path(get, path = "/templates", tag = "templates", params(TemplateQuery),
    responses(
        (status = 200, description = "Templates, by channel, name and language", body = Vec<Template>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn list(State(state): State<AppState>, query: Result<Query<TemplateQuery>, QueryRejection>) -> Result<Json<Vec<Template>>, ApiError> {
    let Query(query) = query?;
    if query.channel.as_ref().is_some_and(|c| c.chars().count() > 64) {
        return Err(ApiError::bad_request("invalid_query", "`channel` is at most 64 characters"));
    }
    Ok(Json(state.store.templates(query.channel.as_deref()).await?))
}

#[utoipa::path(get, path = "/templates/{id}", tag = "templates", params(IdParam),
    responses(
        (status = 200, body = Template),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Result<Json<Template>, ApiError> {
    let template = state.store.template(id).await?;
    template.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("template {id} not found")))
}

/// A template as the provider approved it (or is reviewing it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// The channel instance it belongs to; its plugin must support templates.
    #[schema(min_length = 1, max_length = 64)]
    pub channel_id: String,
    /// Lower-case letters, digits and `_`, as the provider names it.
    #[schema(pattern = "^[a-z0-9_]{1,512}$")]
    pub name: String,
    /// The provider's language code.
    #[schema(pattern = "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,2}$")]
    pub language: String,
    pub category: TemplateCategory,
    /// 1–1024 characters, with parameters `{{1}}`…`{{n}}` numbered without gaps.
    #[schema(min_length = 1, max_length = 1024, pattern = r"\S")]
    pub body: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub buttons: Vec<TemplateButton>,
    /// What the provider says (default `approved`: an admin records a template they had approved).
    pub status: Option<TemplateStatus>,
    /// The provider's id for it.
    #[schema(max_length = 128)]
    pub provider_id: Option<String>,
}

#[utoipa::path(post, path = "/templates", tag = "templates", request_body = TemplateRequest,
    responses(
        (status = 201, body = Template),
        (status = 400, description = "An invalid name, language, body (parameters with gaps) or button, or an unknown channel", body = ErrorBody),
        (status = 409, description = "The channel has a template of that name in that language", body = ErrorBody),
        (status = 422, description = "The channel does not support templates (`unsupported_content`)", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn create(State(state): State<AppState>, rules::JsonBody(request): rules::JsonBody<TemplateRequest>) -> Result<(StatusCode, Json<Template>), ApiError> {
    let Some(channel) = state.channels.get(&request.channel_id) else {
        return Err(ApiError::bad_request("unknown_channel", format!("no channel `{}` is configured", request.channel_id.chars().take(64).collect::<String>())));
    };
    if !channel.info().capabilities.contains(&Capability::Templates) {
        return Err(refused("unsupported_content", format!("channel `{}` does not support templates", request.channel_id)));
    }
    if !valid_name(&request.name) {
        return Err(invalid("a template name is 1 to 512 lower-case letters, digits or `_`"));
    }
    if !valid_language(&request.language) {
        return Err(invalid("`language` is a language code such as `en`, `en_US` or `pt_BR`"));
    }
    check_body(&request.body)?;
    check_buttons(&request.buttons)?;
    if request.provider_id.as_ref().is_some_and(|id| id.chars().count() > 128) {
        return Err(invalid("`provider_id` is at most 128 characters"));
    }
    let new = NewTemplate {
        channel_id: request.channel_id,
        name: request.name,
        language: request.language,
        category: request.category,
        body: request.body,
        buttons: request.buttons,
        status: request.status.unwrap_or(TemplateStatus::Approved),
        // Blank is none.
        provider_id: request.provider_id.filter(|id| !rules::is_blank(id)),
    };
    Ok((StatusCode::CREATED, Json(state.store.create_template(&new).await?)))
}

/// What may change; the channel, name and language are the template's identity and do not.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateUpdate {
    pub category: Option<TemplateCategory>,
    #[schema(min_length = 1, max_length = 1024, pattern = r"\S")]
    pub body: Option<String>,
    #[schema(max_items = 10)]
    pub buttons: Option<Vec<TemplateButton>>,
    pub status: Option<TemplateStatus>,
}

#[utoipa::path(patch, path = "/templates/{id}", tag = "templates", params(IdParam), request_body = TemplateUpdate,
    responses(
        (status = 200, body = Template),
        (status = 400, description = "An invalid body or button", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn update(State(state): State<AppState>, Id(id): Id, rules::JsonBody(request): rules::JsonBody<TemplateUpdate>) -> Result<Json<Template>, ApiError> {
    if let Some(body) = &request.body {
        check_body(body)?;
    }
    if let Some(buttons) = &request.buttons {
        check_buttons(buttons)?;
    }
    let change = TemplateChange { category: request.category, body: request.body, buttons: request.buttons, status: request.status };
    Ok(Json(state.store.update_template(id, &change).await?))
}

#[utoipa::path(delete, path = "/templates/{id}", tag = "templates", params(IdParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.store.delete_template(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check a template send on `channel_id` to a contact who reads `contact_language` (when
/// known), before it is queued: the template exists in that language, is approved, and gets
/// exactly its parameters. Returns its body filled in, which the inbox shows.
pub(super) async fn check_send(
    state: &AppState,
    channel_id: &str,
    name: &str,
    language: &str,
    parameters: &[String],
    contact_language: Option<&str>,
) -> Result<String, ApiError> {
    let languages = state.store.template_languages(channel_id, name).await?;
    if languages.is_empty() {
        return Err(refused("unknown_template", format!("channel `{channel_id}` has no template `{name}`; an admin adds it under Templates")));
    }
    let available: Vec<&str> = languages.iter().map(|t| t.language.as_str()).collect();
    if let Some(reads) = contact_language.filter(|reads| templates::primary_language(reads) != templates::primary_language(language)) {
        let theirs: Vec<&str> = available.iter().copied().filter(|l| templates::primary_language(l) == templates::primary_language(reads)).collect();
        let hint = if theirs.is_empty() { format!("`{name}` has no version in it (only {})", available.join(", ")) } else { format!("send it in {}", theirs.join(" or ")) };
        return Err(refused("template_language", format!("the contact reads `{reads}`, not `{language}`: {hint}")));
    }
    let Some(template) = languages.iter().find(|t| t.language.eq_ignore_ascii_case(language)) else {
        return Err(refused("template_language", format!("template `{name}` is not in `{language}`; it is in {}", available.join(", "))));
    };
    if template.status != TemplateStatus::Approved {
        return Err(refused(
            "template_not_approved",
            format!("template `{name}` ({}) is {}; only approved templates can be sent", template.language, template.status.as_str()),
        ));
    }
    let wanted = usize::try_from(template.parameter_count).unwrap_or(0);
    if parameters.len() != wanted {
        return Err(refused(
            "template_parameters",
            format!("template `{name}` takes {wanted} parameter{}, not {}", if wanted == 1 { "" } else { "s" }, parameters.len()),
        ));
    }
    if parameters.iter().any(|p| rules::is_blank(p)) {
        return Err(refused("template_parameters", "template parameters must not be empty"));
    }
    Ok(templates::render(&template.body, parameters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_languages_and_buttons() {
        assert!(valid_name("order_update_2") && !valid_name("Order") && !valid_name("") && !valid_name("a-b"));
        for ok in ["en", "en_US", "pt-BR", "zh_Hant_TW", "fil"] {
            assert!(valid_language(ok), "{ok}");
        }
        for bad in ["e", "english", "en_", "en_US_x_y", "12", "en US"] {
            assert!(!valid_language(bad), "{bad}");
        }
        let url = |url: &str| TemplateButton::Url { text: "Go".into(), url: url.into() };
        let phone = |phone_number: &str| TemplateButton::PhoneNumber { text: "Call".into(), phone_number: phone_number.into() };
        assert!(check_buttons(&[url("https://x.test"), phone("+15551234567"), TemplateButton::QuickReply { text: "Yes".into() }]).is_ok());
        for bad in [url("ftp://x.test"), url("https:///x"), phone("5551234567"), phone("+1"), TemplateButton::QuickReply { text: " ".into() }] {
            assert!(check_buttons(std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
        let too_long: Result<TemplateButton, _> = serde_json::from_str(r#"{"type":"url","text":"Go","url":"https://x.test","extra":1}"#);
        assert!(too_long.is_err(), "unknown fields are refused");
        assert!(check_body("Hi {{1}} {{3}}").is_err());
    }
}
