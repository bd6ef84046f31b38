//! `trainer listener-token`: mint a listener token, as the music service's backend would, for
//! trying the Worker's listener routes with curl or a load generator.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use resonance_access::ListenerKeys;
use resonance_access::listener::MAX_LIFETIME_S;

/// Print a listener token (a JWT, HS256) that lets USER's browser ask the Worker about USER.
///
/// In production the music service's backend mints these with the JWT library it already has
/// (docs/DESIGN.md §5); this command is for development and benchmarks. The keys are the
/// Worker's LISTENER_TOKEN_KEYS (`{"<kid>": "<secret>"}`), read from the environment so they
/// stay out of the shell's history: scripts/worker.sh keeps the local ones in .dev.vars.
///
///   curl -H "Authorization: Bearer $(trainer listener-token --user-id u00042)" …
#[derive(Args)]
pub struct ListenerTokenArgs {
    /// The listener the token is for (its `sub`).
    #[arg(long, value_name = "ID")]
    pub user_id: String,
    /// How long the token lives, in seconds.
    #[arg(long, value_name = "S", default_value_t = 600,
          value_parser = clap::value_parser!(i64).range(1..=MAX_LIFETIME_S))]
    pub seconds: i64,
    /// The key id to sign with (default: the first).
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
    /// The Worker's listener keys, as JSON.
    #[arg(long, env = "RESONANCE_LISTENER_TOKEN_KEYS", hide_env_values = true)]
    pub keys: Option<String>,
}

pub fn run(args: ListenerTokenArgs) -> Result<()> {
    resonance_shared::validate::id("--user-id", &args.user_id)?;
    let keys = args.keys.as_deref().context(
        "the Worker's listener keys are needed: set RESONANCE_LISTENER_TOKEN_KEYS (or --keys) \
         to its LISTENER_TOKEN_KEYS",
    )?;
    let keys = ListenerKeys::parse(keys).map_err(|e| anyhow!("--keys: {e}"))?;
    let kid = match &args.kid {
        Some(kid) => kid.clone(),
        None => keys.kids().next().context("no key")?.to_string(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let token = keys
        .mint(&kid, &args.user_id, args.seconds, now)
        .map_err(|e| anyhow!("--kid: {e}"))?;
    println!("{token}");
    Ok(())
}
