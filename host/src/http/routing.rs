//! The routing chain as admins see it.

use super::error::{Forbidden, Unauthorized};
use super::AppState;
use crate::plugins::router::PolicyInfo;
use axum::extract::State;
use axum::Json;

#[utoipa::path(get, path = "/admin/routing/policies", tag = "routing",
    responses(
        (status = 200, description = "The routing policies in the order they run (`[[routing.policies]]`)", body = Vec<PolicyInfo>),
        Unauthorized, Forbidden))]
pub async fn routing_policies(State(state): State<AppState>) -> Json<Vec<PolicyInfo>> {
    Json(state.policies.0.iter().map(|policy| policy.info()).collect())
}
