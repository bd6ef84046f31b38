//! Who may ask the edge about a listener (`docs/DESIGN.md` §5, "Access"): the listener
//! themself, with a short-lived token their music service minted (`listener`), and the music
//! service's backend, with its service token (`bearer`); operators, with the admin token;
//! browsers only from allowed origins (`origins`). Plain logic over the Worker's
//! configuration, the request's `Authorization` header and the time: no I/O, no KV, tested
//! natively; the Worker (`crates/worker`) reads the headers and secrets and answers.

pub mod bearer;
pub mod listener;
pub mod origins;

use resonance_shared::api::ApiError;

pub use bearer::BearerTokens;
pub use listener::ListenerKeys;
pub use origins::AllowedOrigins;

/// Who is asking, once their token verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The music service's backend (the service token): may ask about any listener.
    Service,
    /// A listener (a listener token): may ask about themself only.
    Listener(String),
}

/// The Worker's access configuration, each part either usable or why not.
pub struct Access {
    listener: Result<ListenerKeys, String>,
    service: Result<BearerTokens, String>,
    admin: Result<BearerTokens, String>,
    origins: Result<AllowedOrigins, String>,
}

impl Access {
    /// Reads the configuration through `get` (the Worker's secrets and vars):
    /// `LISTENER_TOKEN_KEYS`, `SERVICE_TOKEN[_NEXT]`, `ADMIN_TOKEN[_NEXT]`, `ALLOWED_ORIGINS`.
    /// A part that is missing or unsafe (too short, shared between roles) is disabled, and
    /// says why in [`Access::problems`]; its routes then answer 503, never open.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Access {
        let listener = match get("LISTENER_TOKEN_KEYS") {
            Some(keys) if !keys.trim().is_empty() => ListenerKeys::parse(&keys),
            _ => Err(
                "no LISTENER_TOKEN_KEYS secret is configured: listener tokens cannot be verified"
                    .into(),
            ),
        };
        let tokens = |name: &'static str| {
            let next = format!("{name}_NEXT");
            BearerTokens::parse(name, get(name).as_deref(), get(&next).as_deref())
        };
        let mut service = tokens("SERVICE_TOKEN");
        let mut admin = tokens("ADMIN_TOKEN");
        if let (Ok(s), Ok(a)) = (&service, &admin)
            && s.overlaps(a)
        {
            service =
                Err("SERVICE_TOKEN shares a value with ADMIN_TOKEN: give each role its own".into());
        }
        for role in [&mut service, &mut admin] {
            if let (Ok(tokens), Ok(keys)) = (&*role, &listener)
                && tokens.digests().iter().any(|d| keys.holds_digest(d))
            {
                *role = Err(format!(
                    "{} equals a LISTENER_TOKEN_KEYS secret: give each role its own",
                    tokens.name
                ));
            }
        }
        Access {
            listener,
            service,
            admin,
            origins: AllowedOrigins::parse(get("ALLOWED_ORIGINS").as_deref()),
        }
    }

    /// What this Worker refuses to serve, and why (for `/health`).
    pub fn problems(&self) -> Vec<String> {
        [
            self.listener.as_ref().err(),
            self.service.as_ref().err(),
            self.admin.as_ref().err(),
            self.origins.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    /// Whether listener tokens can be verified (browser-facing routes can be served).
    pub fn listener_tokens(&self) -> bool {
        self.listener.is_ok()
    }

    /// Who sends `authorization` (an `Authorization` header) at `now_s` (unix seconds), for
    /// the routes about a listener: the service token, or a valid listener token. 401 for a
    /// missing or bad token; 503 when the kind of token given cannot be checked here.
    pub fn caller(&self, authorization: Option<&str>, now_s: i64) -> Result<Caller, ApiError> {
        let unauthorized = |m: &str| ApiError::new(401, "unauthorized", m);
        let token = bearer::bearer(authorization).map_err(unauthorized)?;
        let Some(token) = token else {
            return match &self.listener {
                Ok(_) => Err(unauthorized(
                    "this route needs `Authorization: Bearer <token>`: a listener token, or the service token",
                )),
                Err(why) => Err(unconfigured(why)),
            };
        };
        if let Ok(service) = &self.service
            && service.accepts(token)
        {
            return Ok(Caller::Service);
        }
        if token.split('.').count() != 3 {
            if let Err(why) = &self.service {
                return Err(unconfigured(why));
            }
            return Err(unauthorized(
                "the bearer token is neither the service token nor a listener token (a JWT)",
            ));
        }
        match &self.listener {
            Ok(keys) => keys.verify(token, now_s).map(Caller::Listener),
            Err(why) => Err(unconfigured(why)),
        }
    }

    /// Checks that `caller` may ask about `user_id`: 403 for another listener's token.
    pub fn admit(caller: &Caller, user_id: &str) -> Result<(), ApiError> {
        match caller {
            Caller::Listener(sub) if sub != user_id => Err(ApiError::new(
                403,
                "forbidden",
                "the listener token is for another listener than user_id",
            )),
            _ => Ok(()),
        }
    }

    /// Checks the admin token (`Authorization: Bearer <ADMIN_TOKEN or ADMIN_TOKEN_NEXT>`).
    pub fn admin(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let tokens = self
            .admin
            .as_ref()
            .map_err(|why| ApiError::new(503, "admin_disabled", why.clone()))?;
        let unauthorized = |m: &str| ApiError::new(401, "unauthorized", m);
        let token = bearer::bearer(authorization)
            .map_err(unauthorized)?
            .ok_or_else(|| unauthorized("an Authorization: Bearer <token> header is required"))?;
        if tokens.accepts(token) {
            Ok(())
        } else {
            Err(unauthorized("the admin token is wrong"))
        }
    }

    /// The `Access-Control-Allow-Origin` for a request's `Origin`, when it is allowed.
    pub fn allow_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        self.origins.as_ref().ok()?.allow(origin)
    }

    /// The listener keys, when configured (to mint tokens with).
    pub fn listener_keys(&self) -> Option<&ListenerKeys> {
        self.listener.as_ref().ok()
    }
}

fn unconfigured(why: &str) -> ApiError {
    ApiError::new(503, "access_unconfigured", why)
}

#[cfg(test)]
mod tests;
