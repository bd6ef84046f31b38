//! CORS by allow-list: `ALLOWED_ORIGINS` is a comma-separated list of exact origins
//! (`https://app.example.com`); an allowed `Origin` is echoed back, any other gets no
//! `Access-Control-Allow-Origin` at all (the browser then withholds the answer). `*` is
//! refused: every route but `/health` and `/v1/model` carries a listener's data.

/// The browser origins allowed to call the API.
#[derive(Debug, Default)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// Parses `ALLOWED_ORIGINS`; absent or empty allows no browser origin.
    pub fn parse(list: Option<&str>) -> Result<AllowedOrigins, String> {
        let mut origins = Vec::new();
        for entry in list
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry.contains('*') {
                return Err(format!(
                    "ALLOWED_ORIGINS may not hold {entry:?}: name each origin (no wildcard)"
                ));
            }
            let origin = entry.trim_end_matches('/');
            let scheme_ok = origin.starts_with("https://") || origin.starts_with("http://");
            let host = origin.split_once("://").map_or("", |(_, h)| h);
            if !scheme_ok || host.is_empty() || host.contains('/') {
                return Err(format!(
                    "ALLOWED_ORIGINS: {entry:?} is not an origin (scheme://host[:port], no path)"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(AllowedOrigins { origins })
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    pub fn allow<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then_some(origin)
    }

    /// How many origins are allowed.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether no browser origin is allowed.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}
