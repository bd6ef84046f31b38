//! Publication locks in Redis, so the daily and the weekly job never publish at once: a
//! `SET key token NX PX ttl` taken before the work and released after it (only by its holder:
//! a compare-and-delete script). A holder that died is detected when it ran on this host (its
//! pid is gone): the lock is taken over at once, so a killed job's re-run goes ahead; a holder
//! elsewhere is waited for, and its lock expires by itself.
//!
//! ```text
//! rsn:lock:materialize   held by `trainer materialize` for the whole run (fail fast)
//! rsn:lock:mirror        held by each mirror sync (`--full`, and each sync of `--follow`)
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The lock `trainer materialize` holds.
pub const MATERIALIZE: &str = "rsn:lock:materialize";
/// The lock each mirror sync holds.
pub const MIRROR: &str = "rsn:lock:mirror";

/// Deletes KEYS[1] only if it still holds ARGV[1].
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// Whether `holder` (`"{host} pid {pid} since {t}"`) ran on `host` and its process is gone.
fn died_here(holder: &str, host: &str) -> bool {
    let mut parts = holder.split(' ');
    let (Some(h), Some("pid"), Some(pid)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    h == host
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

/// A held lock; released when dropped.
pub struct Lock {
    conn: redis::Connection,
    key: String,
    token: String,
}

impl Lock {
    /// Takes `key` at `url` for at most `ttl` if it is free now; `None` while another holds
    /// it. Other failures (Redis unreachable) are errors.
    pub fn try_take(url: &str, key: &str, ttl: Duration) -> Result<Option<Lock>> {
        Ok(Self::acquire(url, key, ttl, Duration::ZERO)?.ok())
    }

    /// Takes `key` at `url` for at most `ttl`, waiting up to `wait` for its holder to finish;
    /// the error names the holder.
    pub fn take(url: &str, key: &str, ttl: Duration, wait: Duration) -> Result<Lock> {
        match Self::acquire(url, key, ttl, wait)? {
            Ok(lock) => Ok(lock),
            Err(holder) => bail!(
                "another publication holds {key} ({holder}): the daily and weekly jobs must not \
                 publish at once; run again when it is done (it expires by itself within {} s \
                 if its holder died)",
                ttl.as_secs()
            ),
        }
    }

    /// The lock, or (inner `Err`) who still holds it after `wait`; the outer error is Redis's.
    fn acquire(
        url: &str,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<std::result::Result<Lock, String>> {
        let client = redis::Client::open(url)
            .with_context(|| format!("REDIS_URL: `{url}` is not a Redis URL"))?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .with_context(|| format!("cannot connect to Redis at {url} for {key}"))?;
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let token = format!(
            "{} pid {} since {}",
            host.trim(),
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp()
        );
        let began = Instant::now();
        loop {
            let taken: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query(&mut conn)
                .with_context(|| format!("Redis at {url}: taking {key}"))?;
            if taken.is_some() {
                return Ok(Ok(Lock {
                    conn,
                    key: key.to_string(),
                    token,
                }));
            }
            let holder: Option<String> = redis::cmd("GET").arg(key).query(&mut conn)?;
            if let Some(dead) = holder.filter(|h| died_here(h, host.trim())) {
                // Compare-and-delete: only the dead holder's value goes.
                let _: i64 = redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(key)
                    .arg(&dead)
                    .query(&mut conn)
                    .with_context(|| format!("Redis at {url}: releasing {key} of a dead holder"))?;
                eprintln!("took over {key} from {dead}: that process is gone");
                continue;
            }
            if began.elapsed() >= wait {
                let holder: Option<String> = redis::cmd("GET").arg(key).query(&mut conn)?;
                return Ok(Err(holder.unwrap_or_else(|| "just released".into())));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&self.key)
            .arg(&self.token)
            .query(&mut self.conn);
    }
}

#[cfg(test)]
mod tests {
    use super::died_here;

    #[test]
    fn a_holder_is_dead_only_on_this_host_and_when_its_process_is_gone() {
        assert!(died_here("box pid 3999999999 since 1", "box"));
        assert!(!died_here("other pid 3999999999 since 1", "box"));
        let me = format!("box pid {} since 1", std::process::id());
        assert!(!died_here(&me, "box"));
        assert!(!died_here("box pid 1 since 1", "box"), "pid 1 is alive");
        assert!(!died_here("garbage", "box"));
    }
}
