//! What access costs a request, natively: verifying a listener token (one HMAC-SHA256 and a
//! JSON parse), recognising the service token (one SHA-256, constant-time compare), and
//! reading the configuration (once per isolate in the Worker).
//!
//!   cargo bench -p resonance-access --bench verify

use criterion::{Criterion, criterion_group, criterion_main};
use resonance_access::Access;

const KEYS: &str = r#"{"k1": "a-listener-signing-secret-of-32-bytes+"}"#;
const SERVICE: &str = "service-token-0123456789";

fn configured() -> Access {
    Access::from_env(|name| match name {
        "LISTENER_TOKEN_KEYS" => Some(KEYS.into()),
        "SERVICE_TOKEN" => Some(SERVICE.into()),
        "ADMIN_TOKEN" => Some("admin-token-0123456789".into()),
        "ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
        _ => None,
    })
}

fn bench(c: &mut Criterion) {
    let access = configured();
    let now = 1_800_000_000;
    let token = access
        .listener_keys()
        .unwrap()
        .mint("k1", "u00042", 600, now)
        .unwrap();
    let listener = format!("Bearer {token}");
    let service = format!("Bearer {SERVICE}");
    c.bench_function("listener token", |b| {
        b.iter(|| access.caller(Some(&listener), now).unwrap())
    });
    c.bench_function("service token", |b| {
        b.iter(|| access.caller(Some(&service), now).unwrap())
    });
    c.bench_function("configuration", |b| b.iter(configured));
}

criterion_group!(benches, bench);
criterion_main!(benches);
