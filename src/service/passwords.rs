//! Password hashing with argon2id (OWASP parameters), always off the async runtime: on a few
//! threads of its own, each reusing one preallocated argon2 memory block.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::ServiceError;

/// Hashing threads at most, whatever the core count: each keeps 19 MiB of argon2 memory for
/// good, so this bounds that memory (76 MiB) while still hashing about a hundred passwords a
/// second, many times what sign-ins need.
const MAX_THREADS: usize = 4;

/// A hashing job, run on a pool thread with that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The pool's queue. Its threads (one per core, at most [`MAX_THREADS`]) start with the first
/// job and live as long as the process.
///
/// Each argon2 computation needs 19 MiB. On tokio's blocking pool (up to 512 threads) every
/// thread that ever hashed kept its 19 MiB in glibc's per-thread arena after freeing it, so a
/// burst of failed sign-ins left hundreds of MiB behind. A fixed set of threads, each
/// allocating its block once and reusing it, keeps that memory bounded (threads × 19 MiB);
/// the queue also does what a semaphore did before: at most one computation per thread at a
/// time, so a burst waits here instead of starving the runtime's workers.
fn pool() -> &'static mpsc::Sender<Job> {
    static POOL: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, MAX_THREADS);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        // With no thread started, the receiver goes with `rx` here and every job is refused.
        tx
    })
}

fn worker(jobs: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else {
            return;
        };
        // A panic fails that one request (its answer channel is dropped), not the thread.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory))).is_err() {
            memory = Vec::new();
        }
    }
}

/// Runs `work` on the pool and waits for its result without blocking the runtime.
async fn run<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |memory| {
        // The request went away while queued (the client hung up): nobody needs the answer.
        if !tx.is_closed() {
            let _ = tx.send(work(memory));
        }
    });
    pool()
        .send(job)
        .map_err(|_| ServiceError::Internal("password hashing is unavailable".to_string()))?;
    rx.await
        .map_err(|_| ServiceError::Internal("password hashing failed".to_string()))?
}

/// argon2's working memory for `params`: the thread's own block, allocated on first use at
/// the production size; a stored hash with larger parameters gets a buffer of its own for
/// that one computation, so the thread does not keep it.
fn with_memory<T>(
    memory: &mut Vec<Block>,
    params: &Params,
    f: impl FnOnce(&mut [Block]) -> T,
) -> T {
    let needed = params.block_count();
    if needed > Params::DEFAULT.block_count() {
        return f(&mut vec![Block::new(); needed]);
    }
    if memory.len() < Params::DEFAULT.block_count() {
        *memory = vec![Block::new(); Params::DEFAULT.block_count()];
    }
    f(&mut memory[..needed])
}

fn hashing_failed(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("hashing failed: {e}"))
}

/// Hashes a password into a PHC string. argon2's default parameters are OWASP's:
/// m=19456 KiB, t=2, p=1; the salt is 16 random bytes.
pub async fn hash(password: String) -> Result<String, ServiceError> {
    run(move |memory| {
        let params = Params::DEFAULT;
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(hashing_failed)?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        with_memory(memory, &params, |blocks| {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(hashing_failed)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(hashing_failed)?,
            salt: Some(Salt::new(&salt).map_err(hashing_failed)?),
            hash: Some(Output::new(&out).map_err(hashing_failed)?),
        };
        Ok(phc.to_string())
    })
    .await
}

/// Password checks begun since the process started: the sign-in tests count them to show that
/// throttling stops attempts before their check, and that every sign-in does the same work.
static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn checks_begun() -> u64 {
    CHECKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Checks a password against a stored PHC string. `None` means "no such person": a dummy hash
/// is verified instead so unknown e-mails take as long as wrong passwords.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ServiceError> {
    CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    run(move |memory| {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let ok = matches(password.as_bytes(), &stored, memory)?;
        Ok(ok && stored != DUMMY_HASH)
    })
    .await
}

/// Recomputes the hash with the stored string's own algorithm, version, parameters and salt,
/// and compares in constant time (`Output`'s equality).
fn matches(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> Result<bool, ServiceError> {
    let unreadable =
        |e: &dyn std::fmt::Display| ServiceError::Internal(format!("stored hash unreadable: {e}"));
    let parsed = PasswordHash::new(stored).map_err(|e| unreadable(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| unreadable(&e))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or_else(|| unreadable(&"hash too long"))?;
    with_memory(memory, &params, |blocks| {
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password, salt, out, blocks)
    })
    .map_err(hashing_failed)?;
    let computed = Output::new(out).map_err(hashing_failed)?;
    Ok(computed == *expected)
}

/// What an invited person's row holds until they choose a password: `verify` refuses it
/// whatever is typed, and it reads as a valid hash, so every check takes its usual time.
pub fn unusable_hash() -> String {
    DUMMY_HASH.to_string()
}

/// An argon2id hash with the production parameters of a password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9oWBe6eodHTb+1wlwE7V5vAkWbbtKh0aPcbOM7JfuWY";

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[tokio::test]
    async fn hashes_verify_and_dummy_never_matches() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }

    /// The PHC strings are argon2's own: the library verifies ours, and we verify the
    /// library's, whatever parameters they were made with.
    #[tokio::test]
    async fn phc_strings_interoperate_with_the_library() {
        let ours = hash("correct horse battery".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"correct horse battery",
                &parsed
            )
            .is_ok()
        );
        let small = Params::new(4096, 1, 1, Some(32)).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, small)
            .hash_password(b"another fine phrase")
            .unwrap()
            .to_string();
        assert!(theirs.contains("m=4096,t=1,p=1"));
        assert!(
            verify("another fine phrase".into(), Some(theirs.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("another fine phras".into(), Some(theirs))
                .await
                .unwrap()
        );
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::DEFAULT)
            .hash_password(b"another fine phrase")
            .unwrap()
            .to_string();
        assert!(
            verify("another fine phrase".into(), Some(argon2i))
                .await
                .unwrap()
        );
        assert!(verify("x".into(), Some("not a hash".into())).await.is_err());
    }

    /// Many at once all get their own answer (the pool's threads share the queue).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_is_queued_and_answered() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        let checks: Vec<_> = (0..12)
            .map(|i| {
                let stored = stored.clone();
                tokio::spawn(async move {
                    let guess = if i % 2 == 0 {
                        "correct horse battery".to_string()
                    } else {
                        format!("wrong guess {i}")
                    };
                    (i, verify(guess, Some(stored)).await.unwrap())
                })
            })
            .collect();
        for c in checks {
            let (i, ok) = c.await.unwrap();
            assert_eq!(ok, i % 2 == 0, "check {i}");
        }
    }
}
