//! The `passwd` subcommand every binary mounts: hash a password into a credentials-file line.
//!
//! ```text
//! $ printf '%s\n' 'wonderland' | torsion-smtp passwd alice@example.test >> users.passwd
//! $ MAILPW=wonderland torsion-smtp passwd alice@example.test --password-env MAILPW
//! alice@example.test:{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$…$…
//! ```
//!
//! The password is read from standard input (or an environment variable), never from the command
//! line, where other local users could see it in the process list. Stdin is read as-is: a terminal
//! will echo what is typed, so pipe it in or use `--password-env`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use super::{hash_password, CredError};

/// Arguments of the `passwd` subcommand.
#[derive(clap::Args, Debug)]
pub struct PasswdArgs {
    /// Account name (e.g. alice or alice@example.test)
    pub user: String,
    /// Read the password from this environment variable instead of the first line of stdin
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

/// A client command's password (`torsion-imap fetch`, `torsion-pop3 retrieve`): from the
/// environment variable `var` (which keeps it out of `ps`), else the first line of stdin.
pub fn client_password(var: &str) -> Result<String, String> {
    if let Ok(p) = std::env::var(var) {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        return Err(format!("no password: set {var} or give it on stdin"));
    }
    Ok(line)
}

/// The `PROGRAM passwd` subcommand every server binary has: [`run_passwd`] on stdin and
/// stdout; exit 0, or 2 with one line `PROGRAM passwd: why` on stderr.
pub fn passwd_main(program: &str, args: &PasswdArgs) -> ExitCode {
    let stdin = std::io::stdin();
    match run_passwd(args, stdin.lock(), std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{program} passwd: {e}");
            }
            ExitCode::from(2)
        }
    }
}

/// Reads the password (from `--password-env`'s variable, else the first line of `stdin` without its
/// line ending), hashes it with Argon2id and writes `user:{ARGON2ID}…` and a newline to `out`.
///
/// Refuses an empty password, and a user name that is empty or contains `:` or whitespace (the
/// line could not be read back).
pub fn run_passwd<R: BufRead, W: Write>(
    args: &PasswdArgs,
    stdin: R,
    out: W,
) -> Result<(), CredError> {
    run_passwd_with_env(args, stdin, out, |var| std::env::var(var))
}

/// [`run_passwd`] with the environment lookup injected, so tests need not mutate the process
/// environment (which is racy with other threads).
fn run_passwd_with_env<R, W, E>(
    args: &PasswdArgs,
    mut stdin: R,
    mut out: W,
    getenv: E,
) -> Result<(), CredError>
where
    R: BufRead,
    W: Write,
    E: Fn(&str) -> Result<String, std::env::VarError>,
{
    check_user(&args.user)?;
    let password = match &args.password_env {
        Some(var) => getenv(var).map_err(|e| CredError::PasswordEnv {
            var: var.clone(),
            reason: match e {
                std::env::VarError::NotPresent => "is not set",
                std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
            },
        })?,
        None => {
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .map_err(|source| CredError::Stdio {
                    what: "reading the password from stdin",
                    source,
                })?;
            let trimmed = line.strip_suffix('\n').unwrap_or(&line);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            trimmed.to_owned()
        }
    };
    if password.is_empty() {
        return Err(CredError::EmptyPassword);
    }
    let hash = hash_password(&password)?;
    writeln!(out, "{}:{hash}", args.user)
        .and_then(|()| out.flush())
        .map_err(|source| CredError::Stdio {
            what: "writing the credentials line",
            source,
        })
}

/// A name that a credentials file can hold: non-empty, no `:` (the separator), no whitespace.
fn check_user(user: &str) -> Result<(), CredError> {
    let reason = if user.is_empty() {
        "it is empty"
    } else if user.contains(':') {
        "it contains `:`"
    } else if user.chars().any(char::is_whitespace) {
        "it contains whitespace"
    } else {
        return Ok(());
    };
    Err(CredError::BadUser {
        user: user.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cred::{CredentialStore, StoredPassword};
    use std::env::VarError;

    fn args(user: &str, password_env: Option<&str>) -> PasswdArgs {
        PasswdArgs {
            user: user.to_owned(),
            password_env: password_env.map(str::to_owned),
        }
    }

    fn no_env(_: &str) -> Result<String, VarError> {
        Err(VarError::NotPresent)
    }

    #[test]
    fn writes_a_line_the_store_verifies() {
        let mut out = Vec::new();
        run_passwd(
            &args("alice@example.test", None),
            &b"wonderland\r\nignored second line\n"[..],
            &mut out,
        )
        .unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("alice@example.test:{ARGON2ID}$argon2id$"),
            "{line}"
        );
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );

        // Back through a file spec, as a server would load it.
        let path = std::env::temp_dir().join(format!(
            "torsion-cred-passwd-test-{}.passwd",
            std::process::id()
        ));
        std::fs::write(&path, &line).unwrap();
        let store = CredentialStore::from_auth_spec(&format!("file:{}", path.display()));
        let _ = std::fs::remove_file(&path);
        let store = store.unwrap();
        assert!(store.check_sync("alice@example.test", b"wonderland"));
        // The line ending was stripped (one default-cost verification is enough to show it).
        assert!(!store.check_sync("alice@example.test", b"wonderland\r"));
    }

    #[test]
    fn password_from_env() {
        let mut out = Vec::new();
        let getenv = |var: &str| {
            if var == "TORSION_TEST_PW" {
                Ok("from env\n".to_owned())
            } else {
                Err(VarError::NotPresent)
            }
        };
        run_passwd_with_env(
            &args("bob", Some("TORSION_TEST_PW")),
            &b"not this\n"[..],
            &mut out,
            getenv,
        )
        .unwrap();
        let line = String::from_utf8(out).unwrap();
        let stored = line.trim_end_matches('\n').strip_prefix("bob:").unwrap();
        let stored = StoredPassword::parse(stored).unwrap();
        // The variable's value is taken verbatim, newline included.
        assert!(stored.verify(b"from env\n"));
    }

    #[test]
    fn missing_env_var_is_an_error() {
        let err = run_passwd_with_env(
            &args("bob", Some("TORSION_TEST_UNSET")),
            &b"pw\n"[..],
            Vec::new(),
            no_env,
        )
        .unwrap_err();
        assert!(
            matches!(&err, CredError::PasswordEnv { var, .. } if var == "TORSION_TEST_UNSET"),
            "{err:?}"
        );
        assert!(err.to_string().contains("TORSION_TEST_UNSET"), "{err}");
        // The real lookup, on a name nobody sets.
        let err = run_passwd(
            &args("bob", Some("TORSION_CRED_TEST_SURELY_UNSET_4f1c")),
            &b"pw\n"[..],
            Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, CredError::PasswordEnv { .. }), "{err:?}");
    }

    #[test]
    fn empty_password_is_an_error() {
        for input in [&b""[..], b"\n", b"\r\n"] {
            let mut out = Vec::new();
            let err = run_passwd_with_env(&args("bob", None), input, &mut out, no_env).unwrap_err();
            assert!(matches!(err, CredError::EmptyPassword), "{err:?}");
            assert!(out.is_empty());
        }
        let err = run_passwd_with_env(&args("bob", Some("PW")), &b"x\n"[..], Vec::new(), |_| {
            Ok(String::new())
        })
        .unwrap_err();
        assert!(matches!(err, CredError::EmptyPassword), "{err:?}");
    }

    #[test]
    fn bad_user_names_are_errors() {
        for user in ["", "al:ice", "al ice", "alice\t", "a\nb"] {
            let mut out = Vec::new();
            let err =
                run_passwd_with_env(&args(user, None), &b"pw\n"[..], &mut out, no_env).unwrap_err();
            assert!(
                matches!(err, CredError::BadUser { .. }),
                "{user:?}: {err:?}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn clap_mounts_as_subcommand() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(subcommand)]
            command: Command,
        }
        #[derive(clap::Subcommand, Debug)]
        enum Command {
            Passwd(PasswdArgs),
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "torsion-x",
            "passwd",
            "alice@example.test",
            "--password-env",
            "PW",
        ])
        .unwrap();
        let Command::Passwd(args) = cli.command;
        assert_eq!(args.user, "alice@example.test");
        assert_eq!(args.password_env.as_deref(), Some("PW"));
    }
}
