//! Message templates: the pre-approved messages a channel allows outside its customer-service
//! window (WhatsApp's, Meta's utility and marketing messages), kept per channel instance, name
//! and language as providers key them, and checked before a send is queued.

use super::db::{sql, Millis};
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

/// What a template is for; providers price and police the three differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

/// Where the provider's review stands; only `approved` templates can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
}

macro_rules! names {
    ($type:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}
names!(TemplateCategory { Marketing = "marketing", Utility = "utility", Authentication = "authentication" });
names!(TemplateStatus { Approved = "approved", Pending = "pending", Rejected = "rejected", Paused = "paused", Disabled = "disabled" });

/// A button under a template's body. Each kind carries what it needs, so the document says
/// exactly what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateButton {
    QuickReply {
        /// The label (1–25 characters, WhatsApp's limit).
        #[schema(min_length = 1, max_length = 25, pattern = r"\S")]
        text: String,
    },
    Url {
        #[schema(min_length = 1, max_length = 25, pattern = r"\S")]
        text: String,
        #[schema(max_length = 2000, pattern = "^https?://[^/\\s]")]
        url: String,
    },
    PhoneNumber {
        #[schema(min_length = 1, max_length = 25, pattern = r"\S")]
        text: String,
        /// E.164.
        #[schema(pattern = "^\\+[0-9]{7,15}$")]
        phone_number: String,
    },
}

impl TemplateButton {
    pub fn text(&self) -> &str {
        match self {
            Self::QuickReply { text } | Self::Url { text, .. } | Self::PhoneNumber { text, .. } => text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: i64,
    pub channel_id: String,
    pub name: String,
    /// The provider's language code (`en`, `en_US`, `pt_BR`).
    pub language: String,
    pub category: TemplateCategory,
    /// The text, with numbered parameters `{{1}}`…`{{n}}`.
    pub body: String,
    /// n: how many parameters a send must give.
    pub parameter_count: i64,
    pub buttons: Vec<TemplateButton>,
    pub status: TemplateStatus,
    /// The provider's id for it, when it came from the provider.
    pub provider_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A template to store.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub channel_id: String,
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub body: String,
    pub buttons: Vec<TemplateButton>,
    pub status: TemplateStatus,
    pub provider_id: Option<String>,
}

/// What may change about a stored template; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct TemplateChange {
    pub category: Option<TemplateCategory>,
    pub body: Option<String>,
    pub buttons: Option<Vec<TemplateButton>>,
    pub status: Option<TemplateStatus>,
}

/// The numbered parameters of `body`: n when it holds exactly `{{1}}`…`{{n}}` (each at least
/// once, in any order, spaces inside the braces allowed), as WhatsApp requires; otherwise why not.
pub fn parameter_count(body: &str) -> Result<usize, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inside = after[..end].trim();
        if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
            match inside.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => {
                    seen.insert(n);
                }
                _ => return Err(format!("`{{{{{inside}}}}}` is not a parameter: they are numbered 1 to 100")),
            }
        }
        rest = &after[end + 2..];
    }
    match seen.last() {
        None => Ok(0),
        Some(&max) if max == seen.len() => Ok(max),
        Some(&max) => {
            let missing: Vec<String> = (1..=max).filter(|n| !seen.contains(n)).map(|n| format!("{{{{{n}}}}}")).collect();
            Err(format!("parameters are numbered from {{{{1}}}} without gaps; missing {}", missing.join(", ")))
        }
    }
}

/// `body` with each `{{n}}` replaced by the n-th of `parameters` (a missing one stays as it is).
pub fn render(body: &str, parameters: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = after[..end].trim().parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| parameters.get(i));
        match value {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + end + 4]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The primary language of a code: `pt` of `pt_BR` and of `pt-BR`, lower case.
pub fn primary_language(code: &str) -> String {
    code.split(['_', '-']).next().unwrap_or(code).to_ascii_lowercase()
}

const SELECT: &str = "SELECT id, channel_id, name, language, category, body, parameter_count, buttons, status, provider_id, created_at, updated_at
    FROM message_templates";

type Row = (i64, String, String, String, String, String, i64, Json<Vec<TemplateButton>>, String, Option<String>, Millis, Millis);

fn template((id, channel_id, name, language, category, body, parameter_count, buttons, status, provider_id, created_at, updated_at): Row) -> Result<Template, StoreError> {
    let unknown = |what: &str, text: &str| StoreError::Database(sqlx::Error::Decode(format!("unknown template {what} `{text}`").into()));
    Ok(Template {
        id,
        channel_id,
        name,
        language,
        category: TemplateCategory::parse(&category).ok_or_else(|| unknown("category", &category))?,
        body,
        parameter_count,
        buttons: buttons.0,
        status: TemplateStatus::parse(&status).ok_or_else(|| unknown("status", &status))?,
        provider_id,
        created_at: created_at.0,
        updated_at: updated_at.0,
    })
}

fn taken(error: sqlx::Error, channel_id: &str, name: &str, language: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Taken(format!("channel `{channel_id}` already has template `{name}` in `{language}`"))
        }
        _ => StoreError::Database(error),
    }
}

impl Store {
    /// Templates of `channel_id` (all channels' without one), by channel, name and language.
    pub async fn templates(&self, channel_id: Option<&str>) -> Result<Vec<Template>, StoreError> {
        let mut conn = self.db.read().await?;
        let sql = format!("{SELECT} WHERE $1 IS NULL OR channel_id = $1 ORDER BY channel_id, name, language");
        let rows: Vec<Row> = sql!(conn, query_as(&sql, channel_id).fetch_all)?;
        rows.into_iter().map(template).collect()
    }

    /// Every language of template `name` on `channel_id`.
    pub async fn template_languages(&self, channel_id: &str, name: &str) -> Result<Vec<Template>, StoreError> {
        let mut conn = self.db.read().await?;
        let sql = format!("{SELECT} WHERE channel_id = $1 AND name = $2 ORDER BY language");
        let rows: Vec<Row> = sql!(conn, query_as(&sql, channel_id, name).fetch_all)?;
        rows.into_iter().map(template).collect()
    }

    pub async fn template(&self, id: i64) -> Result<Option<Template>, StoreError> {
        let mut conn = self.db.read().await?;
        let sql = format!("{SELECT} WHERE id = $1");
        let row: Option<Row> = sql!(conn, query_as(&sql, id).fetch_optional)?;
        row.map(template).transpose()
    }

    /// Store a template. Its parameter count comes from its body, which the caller has checked
    /// with [`parameter_count`].
    pub async fn create_template(&self, new: &NewTemplate) -> Result<Template, StoreError> {
        let count = parameter_count(&new.body).map_err(StoreError::Invalid)?;
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO message_templates (channel_id, name, language, category, body, parameter_count, buttons, status, provider_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            &new.channel_id,
            &new.name,
            &new.language,
            new.category.as_str(),
            &new.body,
            count as i64,
            Json(&new.buttons),
            new.status.as_str(),
            &new.provider_id,
            now,
        ).fetch_one)
        .map_err(|error| taken(error, &new.channel_id, &new.name, &new.language))?;
        drop(conn);
        self.template(id).await?.ok_or_else(|| StoreError::NotFound(format!("template {id}")))
    }

    pub async fn update_template(&self, id: i64, change: &TemplateChange) -> Result<Template, StoreError> {
        let count = change.body.as_deref().map(parameter_count).transpose().map_err(StoreError::Invalid)?;
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let updated = sql!(conn, execute(
            "UPDATE message_templates SET category = COALESCE($2, category), body = COALESCE($3, body),
                 parameter_count = COALESCE($4, parameter_count), buttons = COALESCE($5, buttons), status = COALESCE($6, status), updated_at = $7
             WHERE id = $1",
            id,
            change.category.map(TemplateCategory::as_str),
            &change.body,
            count.map(|n| n as i64),
            change.buttons.as_ref().map(Json),
            change.status.map(TemplateStatus::as_str),
            now,
        ))?;
        drop(conn);
        if updated == 0 {
            return Err(StoreError::NotFound(format!("template {id}")));
        }
        self.template(id).await?.ok_or_else(|| StoreError::NotFound(format!("template {id}")))
    }

    pub async fn delete_template(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM message_templates WHERE id = $1", id))? {
            0 => Err(StoreError::NotFound(format!("template {id}"))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{on_both_backends, TestStore};

    #[test]
    fn parameters_are_numbered_from_one_without_gaps() {
        assert_eq!(parameter_count("Hello"), Ok(0));
        assert_eq!(parameter_count("Hi {{1}}, order {{2}} ships {{ 3 }}. {{1}}!"), Ok(3));
        assert_eq!(parameter_count("{{2}} then {{1}}"), Ok(2), "any order");
        assert!(parameter_count("Hi {{1}} and {{3}}").unwrap_err().contains("{{2}}"));
        assert!(parameter_count("{{0}}").is_err());
        assert_eq!(parameter_count("{{name}} and {{1}}"), Ok(1), "named braces are text");
        assert_eq!(render("Hi {{1}}, order {{ 2 }} ({{3}}) {{x}} {{", &["Ana".into(), "#12".into()]), "Hi Ana, order #12 ({{3}}) {{x}} {{");
        assert_eq!(primary_language("pt_BR"), "pt");
        assert_eq!(primary_language("EN-us"), "en");
    }

    on_both_backends!(templates_are_stored_per_channel_name_and_language);

    async fn templates_are_stored_per_channel_name_and_language(store: TestStore) {
        store.upsert_channel("messenger", "messenger", &crate::model::PluginInfo::bare("m")).await.unwrap();
        let new = NewTemplate {
            channel_id: "messenger".into(),
            name: "order_update".into(),
            language: "en".into(),
            category: TemplateCategory::Utility,
            body: "Hi {{1}}, your order {{2}} shipped.".into(),
            buttons: vec![TemplateButton::Url { text: "Track".into(), url: "https://x.test/t".into() }],
            status: TemplateStatus::Pending,
            provider_id: None,
        };
        let created = store.create_template(&new).await.unwrap();
        assert_eq!((created.parameter_count, created.status, created.buttons.len()), (2, TemplateStatus::Pending, 1));
        assert!(matches!(store.create_template(&new).await, Err(StoreError::Taken(_))), "one per channel, name and language");
        store.create_template(&NewTemplate { language: "pt_BR".into(), body: "Olá {{1}}".into(), ..new.clone() }).await.unwrap();
        assert_eq!(store.template_languages("messenger", "order_update").await.unwrap().len(), 2);

        let change = TemplateChange { status: Some(TemplateStatus::Approved), body: Some("{{1}}: {{2}} {{3}}".into()), ..TemplateChange::default() };
        let updated = store.update_template(created.id, &change).await.unwrap();
        assert_eq!((updated.status, updated.parameter_count, updated.category), (TemplateStatus::Approved, 3, TemplateCategory::Utility));
        let gap = TemplateChange { body: Some("{{2}}".into()), ..TemplateChange::default() };
        assert!(matches!(store.update_template(created.id, &gap).await, Err(StoreError::Invalid(_))));
        assert_eq!(store.templates(Some("messenger")).await.unwrap().len(), 2);
        assert!(store.templates(Some("other")).await.unwrap().is_empty());
        store.delete_template(created.id).await.unwrap();
        assert!(matches!(store.delete_template(created.id).await, Err(StoreError::NotFound(_))));
        assert_eq!(store.templates(None).await.unwrap().len(), 1);
    }
}
