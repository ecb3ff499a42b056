//! Graph's wire shapes, read leniently: unknown fields are ignored here (they stay in the raw JSON),
//! enums are plain strings, numbers where strings are expected are accepted, nulls are empty.

use serde::de::{MapAccess, SeqAccess, Visitor};
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
    #[serde(default, deserialize_with = "lenient_evidence")]
    pub evidence: Vec<Option<Evidence>>,
}

/// Any scalar as a string; null as none; objects and arrays as their JSON text.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(LenientText)
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

/// [`scalar_text`] straight from the parser: strings are taken as they are decoded, and only an
/// object or array is built into a `Value` (for its text). Building every field as a `Value`
/// first was a third of the component's time on a page.
struct LenientText;

impl<'de> Visitor<'de> for LenientText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LenientText)
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // The same text `Value::Number` would give.
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Some(Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(Some(Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?.to_string()))
    }
}

/// One element read with [`LenientText`].
struct LenientElement(Option<String>);

impl<'de> Deserialize<'de> for LenientElement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientText).map(LenientElement)
    }
}

/// A list of scalars (a lone scalar is a list of one); null or missing is empty.
fn lenient_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of values")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(LenientElement(item)) = seq.next_element()? {
                out.extend(item);
            }
            Ok(out)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(List)
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(vec![v])
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()).into_iter().collect())
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ok(LenientText.visit_map(map)?.into_iter().collect())
        }
    }
    d.deserialize_any(List)
}

/// Each element of an array, as JSON text parsed on its own when it is an object: `None` for
/// anything else and for an object that does not fit `T`. Anything but an array is empty.
fn lenient_items<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<Option<T>>, D::Error> {
    struct Items<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for Items<T> {
        type Value = Vec<Option<T>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            // Raw text per element (a scan, no allocation per field); a bad element costs only itself.
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                let text = raw.get();
                out.push(if text.starts_with('{') { from_str_last_wins(text).ok() } else { None });
            }
            Ok(out)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Items(std::marker::PhantomData))
}

/// An array of objects of type `T`; non-objects and null are skipped (they stay in the raw JSON).
fn lenient_objects<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(lenient_items(d)?.into_iter().flatten().collect())
}

/// Evidence items: `None` for one that is not an object (counted as "other").
fn lenient_evidence<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<Evidence>>, D::Error> {
    lenient_items(d)
}

/// The fields of an evidence item the summary reads (the whole item stays in the raw JSON).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    #[serde(rename = "@odata.type", default, deserialize_with = "lenient_string")]
    pub odata_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub device_dns_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub host_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub mde_device_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_object")]
    pub user_account: Option<UserAccount>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub ip_address: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_object")]
    pub file_details: Option<FileDetails>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub primary_address: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub upn: Option<String>,
}

/// `userAccount` of a user evidence item.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct UserAccount {
    #[serde(default, deserialize_with = "lenient_string")]
    pub user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub domain_name: Option<String>,
}

/// `fileDetails` of a file evidence item.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FileDetails {
    #[serde(default, deserialize_with = "lenient_string")]
    pub file_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub sha256: Option<String>,
}

/// An object of type `T`, or none for anything else (or an object that does not fit).
fn lenient_object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(d)?;
    Ok(raw.filter(|r| r.get().starts_with('{')).and_then(|r| from_str_last_wins(r.get()).ok()))
}

/// `T` from JSON text; an object with a key given twice (which the derived parsers refuse) is read
/// as a `serde_json::Value` would read it, the last value winning. Only that rare text pays for
/// the second parse.
pub fn from_str_last_wins<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) if first.to_string().starts_with("duplicate field") => {
            let value: Value = serde_json::from_str(text).map_err(|_| first)?;
            serde_json::from_str(&value.to_string())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct One {
        #[serde(default, deserialize_with = "lenient_string")]
        v: Option<String>,
        #[serde(default, deserialize_with = "lenient_strings")]
        list: Vec<String>,
    }

    #[test]
    fn lenient_text_is_what_scalar_text_of_the_value_gives() {
        for json in [
            r#""plain""#,
            r#""esc\"aped \u00e9""#,
            "null",
            "true",
            "-42",
            "18446744073709551615",
            "123456789012345678901234567890",
            "1.5",
            "2.0e-7",
            r#"{"b":1,"a":[true,null]}"#,
            r#"[1,"x",{"k":"v"}]"#,
        ] {
            let got: One = serde_json::from_str(&format!(r#"{{"v":{json},"list":{json}}}"#)).unwrap();
            let value: Value = serde_json::from_str(json).unwrap();
            assert_eq!(got.v, scalar_text(&value), "{json}");
            let list: Vec<String> = match &value {
                Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
                v => scalar_text(v).into_iter().collect(),
            };
            assert_eq!(got.list, list, "{json}");
        }
        let missing: One = serde_json::from_str("{}").unwrap();
        assert_eq!((missing.v, missing.list), (None, Vec::<String>::new()));
    }

    #[test]
    fn odd_alerts_and_evidence_are_skipped_or_counted_not_fatal() {
        let incident: GraphIncident = serde_json::from_str(
            r##"{"id":"1","alerts":[{"id":"a","evidence":[{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"10.0.0.1"},"text",7,{"@odata.type":"x","userAccount":"not an object"}]},null,"odd",{"id":{"n":2}}]}"##,
        )
        .unwrap();
        assert_eq!(incident.alerts.len(), 2, "null and a string are not alerts");
        assert_eq!(incident.alerts[1].id.as_deref(), Some(r#"{"n":2}"#));
        let evidence = &incident.alerts[0].evidence;
        assert_eq!(evidence.len(), 4);
        assert_eq!(evidence[0].as_ref().unwrap().ip_address.as_deref(), Some("10.0.0.1"));
        assert!(evidence[1].is_none() && evidence[2].is_none());
        assert!(evidence[3].as_ref().unwrap().user_account.is_none());
        let not_a_list: GraphIncident = serde_json::from_str(r#"{"id":"2","alerts":{"id":"x"}}"#).unwrap();
        assert!(not_a_list.alerts.is_empty());
    }

    #[test]
    fn a_key_given_twice_is_read_with_the_last_value_at_every_level() {
        let incident: GraphIncident = from_str_last_wins(
            r##"{"id":"1","status":"active","status":"resolved","alerts":[{"id":"a1","severity":"high","severity":"low","evidence":[{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"10.0.0.1","ipAddress":"10.0.0.2"},{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{"accountName":"x","accountName":"bob"}}]}]}"##,
        )
        .unwrap();
        assert_eq!(incident.status.as_deref(), Some("resolved"));
        assert_eq!(incident.alerts.len(), 1);
        let alert = &incident.alerts[0];
        assert_eq!((alert.id.as_deref(), alert.severity.as_deref()), (Some("a1"), Some("low")));
        assert_eq!(alert.evidence[0].as_ref().unwrap().ip_address.as_deref(), Some("10.0.0.2"));
        let account = alert.evidence[1].as_ref().unwrap().user_account.as_ref().unwrap();
        assert_eq!(account.account_name.as_deref(), Some("bob"));
    }
}
