//! The OData query options the security collections accept: `$top`, `$skip`, `$filter`,
//! `$expand`, `$select`, `$orderby`, `$count`.
//!
//! Anything the emulator does not implement is a 400 naming it, never silently ignored, so a
//! connector that depends on an unimplemented option fails in tests instead of in production.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::time::parse_instant;

/// The two collections served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    Incidents,
    Alerts,
}

impl Collection {
    /// OData type name used in Graph's error messages.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Collection::Incidents => "microsoft.graph.security.incident",
            Collection::Alerts => "microsoft.graph.security.alert",
        }
    }

    /// Structural and navigation properties in the v1.0 CSDL, plus the inherited `id`.
    fn properties(self) -> &'static [&'static str] {
        match self {
            Collection::Incidents => &[
                "id",
                "assignedTo",
                "classification",
                "comments",
                "createdDateTime",
                "customTags",
                "description",
                "determination",
                "displayName",
                "incidentWebUrl",
                "lastModifiedBy",
                "lastUpdateDateTime",
                "priorityScore",
                "redirectIncidentId",
                "resolvingComment",
                "severity",
                "status",
                "summary",
                "systemTags",
                "tenantId",
                "alerts",
            ],
            Collection::Alerts => &[
                "id",
                "actorDisplayName",
                "additionalData",
                "alertPolicyId",
                "alertWebUrl",
                "assignedTo",
                "categories",
                "category",
                "classification",
                "comments",
                "createdDateTime",
                "customDetails",
                "description",
                "detectionSource",
                "detectorId",
                "determination",
                "evidence",
                "firstActivityDateTime",
                "incidentId",
                "incidentWebUrl",
                "investigationState",
                "lastActivityDateTime",
                "lastUpdateDateTime",
                "mitreTechniques",
                "productName",
                "providerAlertId",
                "recommendedActions",
                "resolvedDateTime",
                "serviceSource",
                "severity",
                "status",
                "systemTags",
                "tenantId",
                "threatDisplayName",
                "threatFamilyName",
                "title",
            ],
        }
    }

    /// `Edm.DateTimeOffset` properties that `$filter` and `$orderby` accept.
    fn time_properties(self) -> &'static [&'static str] {
        &["lastUpdateDateTime", "createdDateTime"]
    }

    /// String/enum properties that `$filter` accepts with `eq`/`ne` (the documented lists; alerts
    /// also `incidentId`, which connectors use to fetch one incident's alerts).
    fn text_properties(self) -> &'static [&'static str] {
        match self {
            Collection::Incidents => &["status", "severity", "classification", "determination", "assignedTo"],
            Collection::Alerts => {
                &["status", "severity", "classification", "determination", "assignedTo", "serviceSource", "incidentId"]
            }
        }
    }

    fn unknown_property(self, name: &str) -> QueryError {
        QueryError::bad_request(format!("Could not find a property named '{name}' on type '{}'.", self.type_name()))
    }
}

/// A 400 for the query string: Graph error `code`, `message`, and whether `details:[]` is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) details: bool,
}

impl QueryError {
    fn bad_request(message: String) -> QueryError {
        QueryError { code: "BadRequest", message, details: false }
    }

    /// OData validation failures come back with an empty code and `details:[]` (observed).
    fn odata(message: String) -> QueryError {
        QueryError { code: "", message, details: true }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn parse(word: &str) -> Option<Cmp> {
        Some(match word {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "gt" => Cmp::Gt,
            "ge" => Cmp::Ge,
            "lt" => Cmp::Lt,
            "le" => Cmp::Le,
            _ => return None,
        })
    }

    /// The OData library's name, used in its type-mismatch message.
    fn kind(self) -> &'static str {
        match self {
            Cmp::Eq => "Equal",
            Cmp::Ne => "NotEqual",
            Cmp::Gt => "GreaterThan",
            Cmp::Ge => "GreaterThanOrEqual",
            Cmp::Lt => "LessThan",
            Cmp::Le => "LessThanOrEqual",
        }
    }

    fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Ne => left != right,
            Cmp::Gt => left > right,
            Cmp::Ge => left >= right,
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
        }
    }
}

/// One `$filter` comparison; a filter is a conjunction of these.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    /// A timestamp property against an instant (compared as instants, never as text).
    Time { property: String, op: Cmp, at: DateTime<Utc> },
    /// A string/enum property against a quoted literal, or `null` (`None`).
    Text { property: String, op: Cmp, value: Option<String> },
}

impl Clause {
    pub(crate) fn matches(&self, item: &Value) -> bool {
        match self {
            Clause::Time { property, op, at } => {
                item.get(property).and_then(Value::as_str).and_then(parse_instant).is_some_and(|t| op.holds(&t, at))
            }
            Clause::Text { property, op, value } => {
                let actual = item.get(property).and_then(Value::as_str);
                let equal = actual == value.as_deref();
                if *op == Cmp::Eq { equal } else { !equal }
            }
        }
    }
}

/// A parsed query string.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub(crate) top: Option<u64>,
    pub(crate) skip: u64,
    pub(crate) filter: Vec<Clause>,
    pub(crate) expand_alerts: bool,
    pub(crate) select: Option<Vec<String>>,
    /// `(property, descending)`.
    pub(crate) order: Option<(String, bool)>,
    pub(crate) count: bool,
    /// Every option except `$skip`, decoded, in request order: the nextLink repeats them.
    pub(crate) kept: Vec<(String, String)>,
}

/// Options that need the `$` prefix here; a bare `top=` would otherwise be silently ignored.
const BARE_NAMES: [&str; 8] = ["top", "skip", "filter", "expand", "select", "orderby", "count", "search"];

/// Parses a raw (undecoded) query string; `+` decodes to a space, as Graph reads it.
pub(crate) fn parse(raw: &str, collection: Collection, max_top: u32) -> Result<ListQuery, QueryError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut query = ListQuery::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in &pairs {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with('$') {
            if seen.contains(&lower) {
                return Err(QueryError::bad_request(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                )));
            }
            seen.push(lower.clone());
        }
        if lower != "$skip" {
            query.kept.push((name.clone(), value.clone()));
        }
        match lower.as_str() {
            "$top" => {
                let top = non_negative(value, "$top")?;
                if top > u64::from(max_top) {
                    return Err(QueryError::odata(format!(
                        "The query specified in the URI is not valid. The limit of '{max_top}' for Top query has been exceeded. The value from the incoming request is '{top}'."
                    )));
                }
                query.top = Some(top);
            }
            "$skip" => query.skip = non_negative(value, "$skip")?,
            "$filter" => query.filter = parse_filter(value, collection)?,
            "$expand" => {
                let wanted = value.trim();
                if collection == Collection::Incidents && wanted == "alerts" {
                    query.expand_alerts = true;
                } else {
                    return Err(collection.unknown_property(wanted));
                }
            }
            "$select" => {
                let fields: Vec<String> = value.split(',').map(|f| f.trim().to_string()).collect();
                if let Some(bad) = fields.iter().find(|f| !collection.properties().contains(&f.as_str())) {
                    return Err(collection.unknown_property(bad));
                }
                query.select = Some(fields);
            }
            "$orderby" => query.order = Some(parse_orderby(value, collection)?),
            "$count" => {
                query.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(QueryError::bad_request(format!(
                            "Invalid value '{value}' for $count query option found. Valid values are 'true' and 'false'."
                        )));
                    }
                }
            }
            other if other.starts_with('$') => {
                return Err(QueryError::bad_request(format!("The query parameter '{name}' is not supported.")));
            }
            other if BARE_NAMES.contains(&other) => {
                return Err(QueryError::bad_request(format!(
                    "The emulator requires the '$' prefix on query option '{name}' (use '${other}')."
                )));
            }
            _ => {}
        }
    }
    Ok(query)
}

fn non_negative(value: &str, option: &str) -> Result<u64, QueryError> {
    if !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = value.parse::<u64>()
    {
        return Ok(n);
    }
    Err(QueryError::odata(format!(
        "Invalid value '{value}' for {option} query option found. The {option} query option requires a non-negative integer value."
    )))
}

fn parse_orderby(value: &str, collection: Collection) -> Result<(String, bool), QueryError> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let (property, descending) = match words.as_slice() {
        [p] => (*p, false),
        [p, "asc"] => (*p, false),
        [p, "desc"] => (*p, true),
        _ => {
            return Err(QueryError::bad_request(format!(
                "The emulator supports $orderby on one timestamp property only, not '{value}'."
            )));
        }
    };
    if collection.time_properties().contains(&property) {
        Ok((property.to_string(), descending))
    } else if collection.properties().contains(&property) {
        Err(QueryError::bad_request(format!(
            "The emulator supports $orderby on lastUpdateDateTime and createdDateTime only, not '{property}'."
        )))
    } else {
        Err(collection.unknown_property(property))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    /// A quoted literal, unescaped (`''` is one quote).
    Quoted(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Tok::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Tok::Close);
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(ch) => literal.push(ch),
                        None => {
                            return Err(QueryError::bad_request(format!(
                                "Invalid filter clause: unterminated string literal in '{text}'."
                            )));
                        }
                    }
                }
                tokens.push(Tok::Quoted(literal));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '(' || ch == ')' || ch == '\'' {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push(Tok::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses `a and (b and c)`, where each term is `property op literal`.
pub(crate) fn parse_filter(text: &str, collection: Collection) -> Result<Vec<Clause>, QueryError> {
    let tokens = tokenize(text)?;
    let mut parser = FilterParser { tokens, pos: 0, text, collection };
    let clauses = parser.conjunction()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(clauses),
        Some(tok) => Err(parser.unsupported(tok)),
    }
}

struct FilterParser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    text: &'a str,
    collection: Collection,
}

impl FilterParser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn unsupported(&self, tok: &Tok) -> QueryError {
        let shown = match tok {
            Tok::Open => "(".to_string(),
            Tok::Close => ")".to_string(),
            Tok::Quoted(s) => format!("'{s}'"),
            Tok::Word(w) => w.clone(),
        };
        QueryError::bad_request(format!(
            "Invalid filter clause: the emulator does not support '{shown}' in '{}' (it supports 'and' of property comparisons).",
            self.text
        ))
    }

    fn truncated(&self) -> QueryError {
        QueryError::bad_request(format!("Invalid filter clause: '{}' ends too early.", self.text))
    }

    fn conjunction(&mut self) -> Result<Vec<Clause>, QueryError> {
        let mut clauses = self.term()?;
        while let Some(Tok::Word(w)) = self.tokens.get(self.pos) {
            if w != "and" {
                return Err(self.unsupported(&Tok::Word(w.clone())));
            }
            self.pos += 1;
            clauses.extend(self.term()?);
        }
        Ok(clauses)
    }

    fn term(&mut self) -> Result<Vec<Clause>, QueryError> {
        match self.next() {
            Some(Tok::Open) => {
                let inner = self.conjunction()?;
                match self.next() {
                    Some(Tok::Close) => Ok(inner),
                    Some(tok) => Err(self.unsupported(&tok)),
                    None => Err(self.truncated()),
                }
            }
            Some(Tok::Word(property)) => {
                if self.tokens.get(self.pos) == Some(&Tok::Open) {
                    // A function call such as contains(...) or any(...).
                    return Err(self.unsupported(&Tok::Word(property)));
                }
                let op = match self.next() {
                    Some(Tok::Word(op)) => Cmp::parse(&op).ok_or_else(|| self.unsupported(&Tok::Word(op)))?,
                    Some(tok) => return Err(self.unsupported(&tok)),
                    None => return Err(self.truncated()),
                };
                let literal = self.next().ok_or_else(|| self.truncated())?;
                self.comparison(property, op, literal).map(|c| vec![c])
            }
            Some(tok) => Err(self.unsupported(&tok)),
            None => Err(self.truncated()),
        }
    }

    fn comparison(&self, property: String, op: Cmp, literal: Tok) -> Result<Clause, QueryError> {
        let collection = self.collection;
        if collection.time_properties().contains(&property.as_str()) {
            return match literal {
                // Graph rejects quoted timestamps with the OData library's type-mismatch message.
                Tok::Quoted(_) => Err(QueryError::bad_request(format!(
                    "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind '{}'.",
                    op.kind()
                ))),
                Tok::Word(w) => match parse_instant(&w) {
                    Some(at) => Ok(Clause::Time { property, op, at }),
                    None => Err(QueryError::bad_request(format!(
                        "Invalid filter clause: '{w}' is not a DateTimeOffset literal such as 2024-01-31T12:00:00Z (fractional seconds allowed; '+' in an offset must be sent as %2B)."
                    ))),
                },
                tok => Err(self.unsupported(&tok)),
            };
        }
        if collection.text_properties().contains(&property.as_str()) {
            if !matches!(op, Cmp::Eq | Cmp::Ne) {
                return Err(QueryError::bad_request(format!(
                    "Invalid filter clause: the emulator supports only eq and ne on '{property}'."
                )));
            }
            return match literal {
                Tok::Quoted(value) => Ok(Clause::Text { property, op, value: Some(value) }),
                Tok::Word(w) if w == "null" => Ok(Clause::Text { property, op, value: None }),
                tok => Err(self.unsupported(&tok)),
            };
        }
        if collection.properties().contains(&property.as_str()) {
            Err(QueryError::bad_request(format!(
                "Invalid filter clause: the emulator does not support filtering on '{property}'."
            )))
        } else {
            Err(collection.unknown_property(&property))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    #[test]
    fn filter_with_and_and_parens() {
        let clauses = parse_filter(
            "lastUpdateDateTime ge 2024-03-26T13:35:45.23Z and (lastUpdateDateTime lt 2024-03-27T00:00:00Z and status eq 'active')",
            Collection::Incidents,
        )
        .unwrap();
        assert_eq!(
            clauses,
            vec![
                Clause::Time { property: "lastUpdateDateTime".into(), op: Cmp::Ge, at: at("2024-03-26T13:35:45.23Z") },
                Clause::Time { property: "lastUpdateDateTime".into(), op: Cmp::Lt, at: at("2024-03-27T00:00:00Z") },
                Clause::Text { property: "status".into(), op: Cmp::Eq, value: Some("active".into()) },
            ]
        );
    }

    #[test]
    fn filter_errors_name_the_problem() {
        let err = parse_filter("incidentId eq '1'", Collection::Incidents).unwrap_err();
        assert_eq!(
            err.message,
            "Could not find a property named 'incidentId' on type 'microsoft.graph.security.incident'."
        );
        let err = parse_filter("status eq 'a' or status eq 'b'", Collection::Incidents).unwrap_err();
        assert!(err.message.contains("'or'"), "{}", err.message);
        let err = parse_filter("lastUpdateDateTime ge '2024-01-01T00:00:00Z'", Collection::Alerts).unwrap_err();
        assert_eq!(
            err.message,
            "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThanOrEqual'."
        );
        let err = parse_filter("displayName eq 'x'", Collection::Incidents).unwrap_err();
        assert!(err.message.contains("'displayName'"));
        assert!(parse_filter("contains(title,'x')", Collection::Alerts).is_err());
        assert!(parse_filter("lastUpdateDateTime ge", Collection::Alerts).is_err());
        assert!(parse_filter("lastUpdateDateTime ge 2024-01-01", Collection::Alerts).is_err());
    }

    #[test]
    fn quoted_literal_unescapes() {
        let clauses = parse_filter("assignedTo eq 'o''brien@contoso.com'", Collection::Alerts).unwrap();
        assert_eq!(
            clauses[0],
            Clause::Text { property: "assignedTo".into(), op: Cmp::Eq, value: Some("o'brien@contoso.com".into()) }
        );
    }

    #[test]
    fn options() {
        let q =
            parse("%24top=10&$skip=20&$filter=status+eq+%27active%27&$expand=alerts&x=1", Collection::Incidents, 50)
                .unwrap();
        assert_eq!(q.top, Some(10));
        assert_eq!(q.skip, 20);
        assert!(q.expand_alerts);
        assert_eq!(
            q.kept,
            vec![
                ("$top".to_string(), "10".to_string()),
                ("$filter".to_string(), "status eq 'active'".to_string()),
                ("$expand".to_string(), "alerts".to_string()),
                ("x".to_string(), "1".to_string()),
            ]
        );
        assert_eq!(parse("$top=-1", Collection::Incidents, 50).unwrap_err().code, "");
        assert!(parse("$top=1&$top=2", Collection::Incidents, 50).is_err());
        assert!(parse("top=1", Collection::Incidents, 50).is_err());
        assert!(parse("$search=x", Collection::Incidents, 50).is_err());
        assert!(parse("$expand=alerts", Collection::Alerts, 50).is_err());
        assert!(parse("$orderby=severity", Collection::Alerts, 50).is_err());
        assert_eq!(
            parse("$orderby=createdDateTime asc", Collection::Alerts, 50).unwrap().order,
            Some(("createdDateTime".to_string(), false))
        );
    }
}
