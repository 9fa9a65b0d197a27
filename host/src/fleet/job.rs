//! The messages of the fleet, as JSON: a [`Job`] (what to run: a plugin by
//! digest, a policy by name, arguments, a deadline) and a [`JobResult`]
//! (the `run --json` object plus the job id, attempt and worker). A job
//! never carries grants, credentials or limits: those live with workers.

use serde::{Deserialize, Serialize};

use crate::cli::{EXIT_PLUGIN_ERROR, EXIT_TRAP, EXIT_USAGE};
use crate::runtime::{RunError, RunReport};

/// Largest job message accepted, in bytes (checked before parsing).
pub const MAX_JOB_BYTES: usize = 256 * 1024;
/// Most arguments a job may pass.
pub const MAX_JOB_ARGS: usize = 1024;
/// Longest job id, policy name or digest, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most bytes of the plugin's stdout, and of its stderr, kept in a result:
/// a result is one NATS message, and servers cap messages at 1 MiB by default.
pub const MAX_RESULT_OUTPUT: usize = 256 * 1024;

/// One unit of work: run `plugin` under the worker's policy `policy`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Unique id: letters, digits, `-` and `_` (it is part of NATS subjects).
    pub id: String,
    /// SHA-256 of the plugin's bytes, lowercase hex (see `ftp-host publish`).
    pub plugin: String,
    /// The name of a policy the worker has.
    pub policy: String,
    /// Arguments for the plugin's `run` export.
    #[serde(default)]
    pub args: Vec<String>,
    /// Milliseconds since the Unix epoch after which the job is not started,
    /// and a running one is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// A job message that cannot be run, and the id it named if any.
#[derive(Debug, thiserror::Error)]
#[error("malformed job: {reason}")]
pub struct MalformedJob {
    /// The job's id, if the message had a valid one (its result goes there).
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Whether `name` may be a job id or policy name: it becomes a NATS subject token.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `digest` is a SHA-256 in lowercase hex.
pub fn valid_digest(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Job {
    /// Parse and validate a job message.
    pub fn parse(bytes: &[u8]) -> Result<Job, MalformedJob> {
        if bytes.len() > MAX_JOB_BYTES {
            return Err(MalformedJob {
                id: None,
                reason: format!("{} bytes, more than the {MAX_JOB_BYTES} a job may have", bytes.len()),
            });
        }
        let job: Job = match serde_json::from_slice(bytes) {
            Ok(job) => job,
            Err(e) => {
                // Salvage the id so the submitter still gets a result.
                let id = serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(String::from))
                    .filter(|id| valid_name(id));
                return Err(MalformedJob { id, reason: format!("not a job object: {e}") });
            }
        };
        job.validate().map_err(|reason| MalformedJob { id: valid_name(&job.id).then(|| job.id.clone()), reason })?;
        Ok(job)
    }

    /// Check the fields; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_name(&self.id) {
            return Err(format!(
                "id {:?}: use 1 to {MAX_NAME_BYTES} letters, digits, `-` or `_`",
                truncate(&self.id, 80)
            ));
        }
        if !valid_digest(&self.plugin) {
            return Err(format!(
                "plugin {:?}: expected a SHA-256 in lowercase hex (as `ftp-host publish` prints)",
                truncate(&self.plugin, 80)
            ));
        }
        if !valid_name(&self.policy) {
            return Err(format!(
                "policy {:?}: use 1 to {MAX_NAME_BYTES} letters, digits, `-` or `_`",
                truncate(&self.policy, 80)
            ));
        }
        if self.args.len() > MAX_JOB_ARGS {
            return Err(format!("{} arguments, more than the {MAX_JOB_ARGS} a job may pass", self.args.len()));
        }
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What became of a job: the `run --json` object plus where and when it ran.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobResult {
    /// The job's id.
    pub job: String,
    /// Which delivery of the job this is (1 for the first).
    pub attempt: u64,
    /// The worker that ran it.
    pub worker: String,
    /// `ok`, `plugin-error`, `trap`, `limit`, `not-a-plugin`, or `rejected`
    /// (the job cannot run here: unknown policy, missing plugin, digest
    /// mismatch, malformed, past its deadline).
    pub outcome: String,
    /// The exit code `ftp-host run` would have returned (2 for `rejected`).
    pub exit_code: u8,
    /// The plugin's success message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The plugin's error, or the host's or worker's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall-clock time of the run.
    pub duration_ms: f64,
    /// FTP operations performed.
    pub operations: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Limits the run hit.
    pub limits_hit: Vec<crate::LimitKind>,
    /// `compiled` or `cached`, when the plugin loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The plugin's stdout (at most [`MAX_RESULT_OUTPUT`] bytes, lossy UTF-8).
    pub stdout: String,
    /// The plugin's stderr (likewise).
    pub stderr: String,
}

impl JobResult {
    /// A result with no run behind it.
    pub fn bare(job: &str, attempt: u64, worker: &str, outcome: &str, exit_code: u8, error: String) -> Self {
        JobResult {
            job: job.to_string(),
            attempt,
            worker: worker.to_string(),
            outcome: outcome.to_string(),
            exit_code,
            message: None,
            error: Some(error),
            duration_ms: 0.0,
            operations: 0,
            bytes_downloaded: 0,
            bytes_uploaded: 0,
            limits_hit: vec![],
            plugin: None,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// The job could not run here; retrying would not help.
    pub fn rejected(job: &str, attempt: u64, worker: &str, why: String) -> Self {
        Self::bare(job, attempt, worker, "rejected", EXIT_USAGE, why)
    }

    /// A finished run, mapped as `ftp-host run --json` maps it.
    pub fn from_run(
        job: &str,
        attempt: u64,
        worker: &str,
        outcome: &Result<RunReport, RunError>,
        origin: &str,
        duration_ms: f64,
    ) -> Self {
        match outcome {
            Ok(report) => JobResult {
                job: job.to_string(),
                attempt,
                worker: worker.to_string(),
                outcome: if report.result.is_ok() { "ok" } else { "plugin-error" }.into(),
                exit_code: if report.result.is_ok() { 0 } else { EXIT_PLUGIN_ERROR },
                message: report.result.as_ref().ok().cloned(),
                error: report.result.as_ref().err().cloned(),
                duration_ms: report.duration.as_secs_f64() * 1000.0,
                operations: report.stats.operations,
                bytes_downloaded: report.stats.bytes_downloaded,
                bytes_uploaded: report.stats.bytes_uploaded,
                limits_hit: report.limits_hit.clone(),
                plugin: Some(origin.to_string()),
                stdout: capped(&report.stdout),
                stderr: capped(&report.stderr),
            },
            Err(e) => {
                let mut r = Self::bare(
                    job,
                    attempt,
                    worker,
                    if matches!(e, RunError::Limit { .. }) { "limit" } else { "trap" },
                    EXIT_TRAP,
                    e.to_string(),
                );
                if let RunError::Limit { limit, .. } = e {
                    r.limits_hit = vec![*limit];
                }
                r.plugin = Some(origin.to_string());
                r.duration_ms = duration_ms;
                r
            }
        }
    }
}

/// Output kept in a result: the first [`MAX_RESULT_OUTPUT`] bytes, marked when cut.
fn capped(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_RESULT_OUTPUT {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut text = String::from_utf8_lossy(&bytes[..MAX_RESULT_OUTPUT]).into_owned();
    text.push_str(&format!("\n[ftp-host: output cut at {MAX_RESULT_OUTPUT} of {} bytes]\n", bytes.len()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_valid_job_round_trips() {
        let job = Job {
            id: "job-1".into(),
            plugin: DIGEST.into(),
            policy: "nightly".into(),
            args: vec!["ls".into()],
            deadline_ms: None,
        };
        assert_eq!(Job::parse(&serde_json::to_vec(&job).unwrap()).unwrap(), job);
    }

    #[test]
    fn malformed_jobs_say_why_and_keep_the_id_when_they_can() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("not json", None, "not a job object"),
            (r#"{"id":"a1","plugin":"zz","policy":"p"}"#, Some("a1"), "SHA-256"),
            (&format!(r#"{{"id":"a.b","plugin":"{DIGEST}","policy":"p"}}"#), None, "id"),
            (&format!(r#"{{"id":"a2","plugin":"{DIGEST}","policy":"p/q"}}"#), Some("a2"), "policy"),
            (&format!(r#"{{"id":"a3","plugin":"{DIGEST}","policy":"p","grants":[]}}"#), Some("a3"), "unknown field"),
            (r#"{"id":"a4","plugin":5}"#, Some("a4"), "not a job object"),
        ];
        for (text, id, needle) in cases {
            let e = Job::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.id.as_deref(), *id, "{text}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        let big = vec![b' '; MAX_JOB_BYTES + 1];
        assert!(Job::parse(&big).unwrap_err().reason.contains("more than"));
    }

    #[test]
    fn long_output_is_cut_and_marked() {
        let text = capped(&vec![b'x'; MAX_RESULT_OUTPUT + 10]);
        assert!(text.len() < MAX_RESULT_OUTPUT + 100 && text.contains("output cut"));
    }
}
