//! Turns a raw User-Agent header into the readable device string shown on cards.

/// "Chrome 131 on Windows 10", "Firefox 133 on Linux", or "Unknown device".
pub fn describe(user_agent: &str) -> String {
    let Some(r) = woothee::parser::Parser::new().parse(user_agent) else {
        return "Unknown device".to_string();
    };
    if r.name == "UNKNOWN" || r.name.is_empty() {
        return "Unknown device".to_string();
    }
    // Libraries and bots: their own product token says more than woothee's category name.
    if !matches!(r.category, "pc" | "smartphone" | "mobilephone") {
        let token = user_agent.split_whitespace().next().unwrap_or("");
        return match token.split_once('/') {
            Some((product, version)) if !product.is_empty() => {
                format!("{product} {}", version.split('.').next().unwrap_or(""))
                    .trim()
                    .to_string()
            }
            _ => "Unknown device".to_string(),
        };
    }
    let major = r.version.split('.').next().unwrap_or("");
    let browser = if major.is_empty() || major == "UNKNOWN" {
        r.name.to_string()
    } else {
        format!("{} {}", r.name, major)
    };
    let os = match (r.os, r.os_version.as_ref()) {
        ("UNKNOWN", _) | ("", _) => return browser,
        ("Mac OSX", v) if v != "UNKNOWN" && !v.is_empty() => format!("macOS {v}"),
        ("Mac OSX", _) => "macOS".to_string(),
        (os, _) => os.to_string(),
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_common_browsers() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(describe(chrome), "Chrome 131 on Windows 10");
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(describe(firefox), "Firefox 133 on Linux");
        assert_eq!(describe(""), "Unknown device");
        assert_eq!(describe("curl/8.5.0"), "curl 8");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(describe(iphone), "Safari 17 on iPhone");
    }
}
