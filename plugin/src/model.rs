//! Graph's wire shapes, read leniently: unknown fields are ignored here (they stay in the raw JSON),
//! enums are plain strings, numbers where strings are expected are accepted, nulls are empty.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// One page of a Graph collection; items are kept as raw JSON so nothing is lost.
#[derive(Deserialize)]
pub struct Page<'a> {
    /// Items exactly as sent.
    #[serde(borrow, default)]
    pub value: Option<Vec<&'a RawValue>>,
    /// Absolute URL of the next page, if any.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// A Graph incident.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct GraphIncident {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub severity: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub classification: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub determination: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub created_date_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub last_update_date_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub assigned_to: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub incident_web_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub redirect_incident_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_objects")]
    pub alerts: Vec<GraphAlert>,
}

/// A Graph alert (alerts_v2).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct GraphAlert {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub severity: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub classification: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub determination: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub created_date_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub last_update_date_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_source: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub detection_source: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub assigned_to: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub alert_web_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub incident_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub mitre_techniques: Vec<String>,
    #[serde(default, deserialize_with = "lenient_values")]
    pub evidence: Vec<Value>,
}

/// Any scalar as a string; null as none; objects and arrays as their JSON text.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| scalar_text(&v)))
}

/// The text of a JSON value, if it is not null.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// A list of scalars (a lone scalar is a list of one); null or missing is empty.
fn lenient_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(v) => scalar_text(&v).into_iter().collect(),
        None => Vec::new(),
    })
}

/// Any array of values; anything else is empty.
fn lenient_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    })
}

/// An array of objects of type `T`; non-objects and null are skipped (they stay in the raw JSON).
fn lenient_objects<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(lenient_values(d)?.into_iter().filter(Value::is_object).filter_map(|v| serde_json::from_value(v).ok()).collect())
}
