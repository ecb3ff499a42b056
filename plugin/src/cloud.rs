//! National clouds: one `cloud` setting picks the login host, Graph host, token scopes and the
//! Microsoft 365 Defender API host together, so a tenant cannot end up with a mixed pair.
//!
//! Hosts: Graph national cloud deployments page and the Defender XDR US Government page (see
//! `graph-api.md` §1). The Graph scope is `<graph root>/.default`; the Defender API scope is its
//! host plus `/.default` (the global one, `https://api.security.microsoft.com`, is documented; the
//! US Government ones follow the same rule).

use crate::error::ConnectorError;

/// A cloud the security APIs are offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Worldwide service (commercial tenants).
    Global,
    /// Microsoft 365 GCC: worldwide login and Graph, the GCC Defender API host.
    Gcc,
    /// US Government L4 (GCC High).
    GccHigh,
    /// US Government L5 (DoD).
    Dod,
}

/// Every preset, in the order `describe` lists them.
pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod];

impl Cloud {
    /// The setting's value for this cloud.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
        }
    }

    /// Entra ID login base URL.
    pub fn login(self) -> &'static str {
        match self {
            Cloud::Global | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
        }
    }

    /// Microsoft Graph base URL.
    pub fn graph(self) -> &'static str {
        match self {
            Cloud::Global | Cloud::Gcc => "https://graph.microsoft.com",
            Cloud::GccHigh => "https://graph.microsoft.us",
            Cloud::Dod => "https://dod-graph.microsoft.us",
        }
    }

    /// Microsoft 365 Defender (Microsoft Threat Protection) API base URL.
    pub fn defender(self) -> &'static str {
        match self {
            Cloud::Global => "https://api.security.microsoft.com",
            Cloud::Gcc => "https://api-gcc.security.microsoft.us",
            Cloud::GccHigh | Cloud::Dod => "https://api-gov.security.microsoft.us",
        }
    }

    /// Client-credentials scope for Microsoft Graph.
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.graph())
    }

    /// Client-credentials scope for the Microsoft 365 Defender API.
    pub fn defender_scope(self) -> String {
        format!("{}/.default", self.defender())
    }

    /// Reads the `cloud` setting: case-insensitive, `_` or a space for `-` (the host applies the same
    /// rule when it picks the preset's hosts).
    pub fn parse(value: &str) -> Result<Cloud, ConnectorError> {
        let v = value.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Ok(match v.as_str() {
            "global" => Cloud::Global,
            "gcc" => Cloud::Gcc,
            "gcc-high" => Cloud::GccHigh,
            "dod" => Cloud::Dod,
            "china" | "21vianet" => {
                return Err(ConnectorError::config(
                    crate::config::CLOUD,
                    "Microsoft Defender XDR's security APIs (incidents, alerts_v2, advanced hunting) are not offered in Microsoft Azure operated by 21Vianet (China), so this connector cannot serve such a tenant",
                ));
            }
            _ => {
                return Err(ConnectorError::config(
                    crate::config::CLOUD,
                    format!("`{value}` is not a cloud: use global (also for GCC's Graph), gcc, gcc-high or dod"),
                ));
            }
        })
    }

    /// The sign-in cloud a known Microsoft host belongs to (its tokens come from that cloud's
    /// login): GCC's Defender API is a `.us` host but takes tokens of the worldwide login.
    pub fn of_host(url: &str) -> Option<&'static str> {
        let host = crate::http::split_url(url).ok()?.authority.to_ascii_lowercase();
        let host = host.split(':').next().unwrap_or_default().to_string();
        let known: &[(&str, &str)] = &[
            ("login.microsoftonline.com", "global"),
            ("login.windows.net", "global"),
            ("graph.microsoft.com", "global"),
            ("api.security.microsoft.com", "global"),
            ("api-us.security.microsoft.com", "global"),
            ("api-eu.security.microsoft.com", "global"),
            ("api-uk.security.microsoft.com", "global"),
            ("login.microsoftonline.us", "us-government"),
            ("graph.microsoft.us", "us-government"),
            ("dod-graph.microsoft.us", "us-government"),
            ("api-gcc.security.microsoft.us", "global"),
            ("api-gov.security.microsoft.us", "us-government"),
            ("login.chinacloudapi.cn", "china"),
            ("microsoftgraph.chinacloudapi.cn", "china"),
        ];
        known.iter().find(|(h, _)| *h == host).map(|(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_set_hosts_and_scopes_together() {
        let table: Vec<_> = ALL
            .iter()
            .map(|c| (c.name(), c.login(), c.graph(), c.graph_scope(), c.defender(), c.defender_scope()))
            .collect();
        assert_eq!(
            table,
            vec![
                (
                    "global",
                    "https://login.microsoftonline.com",
                    "https://graph.microsoft.com",
                    "https://graph.microsoft.com/.default".to_string(),
                    "https://api.security.microsoft.com",
                    "https://api.security.microsoft.com/.default".to_string()
                ),
                (
                    "gcc",
                    "https://login.microsoftonline.com",
                    "https://graph.microsoft.com",
                    "https://graph.microsoft.com/.default".to_string(),
                    "https://api-gcc.security.microsoft.us",
                    "https://api-gcc.security.microsoft.us/.default".to_string()
                ),
                (
                    "gcc-high",
                    "https://login.microsoftonline.us",
                    "https://graph.microsoft.us",
                    "https://graph.microsoft.us/.default".to_string(),
                    "https://api-gov.security.microsoft.us",
                    "https://api-gov.security.microsoft.us/.default".to_string()
                ),
                (
                    "dod",
                    "https://login.microsoftonline.us",
                    "https://dod-graph.microsoft.us",
                    "https://dod-graph.microsoft.us/.default".to_string(),
                    "https://api-gov.security.microsoft.us",
                    "https://api-gov.security.microsoft.us/.default".to_string()
                ),
            ]
        );
    }

    #[test]
    fn names_and_aliases_parse_and_china_is_refused_with_the_reason() {
        assert_eq!(Cloud::parse("GCC High").unwrap(), Cloud::GccHigh);
        assert_eq!(Cloud::parse("gcc_high").unwrap(), Cloud::GccHigh);
        assert_eq!(Cloud::parse("DoD").unwrap(), Cloud::Dod);
        assert!(Cloud::parse("commercial").is_err());
        let e = Cloud::parse("china").unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Config { key, message } if key == "cloud" && message.contains("not offered in Microsoft Azure operated by 21Vianet")),
            "{e:?}"
        );
        let e = Cloud::parse("azure-germany").unwrap_err();
        assert_eq!(
            e,
            ConnectorError::config(
                "cloud",
                "`azure-germany` is not a cloud: use global (also for GCC's Graph), gcc, gcc-high or dod"
            )
        );
    }

    #[test]
    fn hosts_are_assigned_to_their_cloud() {
        assert_eq!(Cloud::of_host("https://login.microsoftonline.us"), Some("us-government"));
        assert_eq!(Cloud::of_host("https://GRAPH.microsoft.com:443"), Some("global"));
        assert_eq!(Cloud::of_host("http://127.0.0.1:8080"), None);
    }
}
