//! `gatehouse migrate --from OLD_DATA_DIR`: moves a single proxy's deployment (SQLite,
//! keys and recordings in its data directory) to the cluster this config describes
//! (PostgreSQL, a shared keys folder, this proxy's recordings). Safe to run again: it
//! adds what is missing and leaves what is there.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::open;
use crate::config::Config;
use crate::store::copy;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The old deployment's data directory (holding gatehouse.db, ca/ and recordings/).
    #[arg(long)]
    from: PathBuf,
}

pub fn run(config: Config, args: MigrateArgs) -> anyhow::Result<()> {
    if config.database.url.is_none() {
        anyhow::bail!("migrate copies into PostgreSQL: set [database] url in this config first");
    }
    let old_db = args.from.join("gatehouse.db");
    if !old_db.exists() {
        anyhow::bail!("{} has no gatehouse.db: --from takes the old data directory", args.from.display());
    }
    // The keys first: the copied TOTP secrets and desktop passwords are sealed with the
    // old vault key, and the nodes trust the old CAs.
    copy_keys(&args.from.join("ca"), &config.keys_dir())?;
    let from = SqliteStore::open(&old_db).with_context(|| format!("cannot open {}", old_db.display()))?;
    let to = PostgresStore::connect(&config.database).context("cannot open the PostgreSQL database")?;
    copy::sqlite_to_postgres(&from, &to, |c| {
        println!("{:<11} {:>7} rows, {:>7} added ({} there already)", c.table, c.rows, c.added, c.rows - c.added);
    })?;
    let old_recordings = args.from.join("recordings");
    let (archive, _) = open::archive(&config, false)?;
    let (files, added) = match archive.objects() {
        Some(objects) => tokio::runtime::Runtime::new()?.block_on(upload_recordings(&old_recordings, objects))?,
        None => copy_recordings(&old_recordings, &crate::recordings::directory(&config.data_dir))?,
    };
    println!("recordings  {files:>7} files, {added:>7} added");
    // Open the keys as a proxy would, so a mismatch is told now rather than at start.
    let cas = open::authorities(&config)?;
    let vault = open::vault(&config)?;
    open::agree_keys(&config, &to, &cas, &vault)?;
    println!("Done. Start the proxies with this config; sign-ins, passkeys and recordings carry over.");
    Ok(())
}

/// Copies the old key files that `keys_dir` lacks; a key there that differs from the
/// old one stops the migration (the old secrets open only with the old keys).
fn copy_keys(old: &Path, keys_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(keys_dir)?;
    std::fs::set_permissions(keys_dir, std::fs::Permissions::from_mode(0o700))?;
    for name in open::KEY_FILES.iter().flat_map(|k| [k.to_string(), format!("{k}.pub")]) {
        let (source, target) = (old.join(&name), keys_dir.join(&name));
        let Ok(bytes) = std::fs::read(&source) else { continue };
        match std::fs::read(&target) {
            Ok(there) if there == bytes => {}
            Ok(_) => anyhow::bail!(
                "{} differs from the old deployment's {}: the copied secrets open only with the old keys; \
                 point keys_dir at an empty folder or at a copy of {}",
                target.display(),
                source.display(),
                old.display()
            ),
            Err(_) => {
                std::fs::write(&target, &bytes).with_context(|| format!("cannot write {}", target.display()))?;
                let mode = if name.ends_with(".pub") { 0o644 } else { 0o600 };
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    Ok(())
}

/// Uploads the recording files the object store does not have whole yet (or has at
/// another size), as a proxy does at a session's end.
async fn upload_recordings(old: &Path, objects: &crate::recordings::objects::Objects) -> anyhow::Result<(u64, u64)> {
    use crate::recordings::objects::Layout;
    use crate::recordings::part::Part;
    let Ok(entries) = std::fs::read_dir(old) else { return Ok((0, 0)) };
    let (mut files, mut added) = (0, 0);
    for entry in entries {
        let path = entry?.path();
        let (Some(id), Some(part)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()).and_then(Part::from_extension),
        ) else {
            continue;
        };
        files += 1;
        let size = std::fs::metadata(&path)?.len();
        if let Some(Layout::Whole { len }) = objects.layout(id, part, false).await?
            && len == size
        {
            continue;
        }
        objects.put_whole(id, part, &path).await.with_context(|| format!("cannot upload {}", path.display()))?;
        added += 1;
    }
    Ok((files, added))
}

/// Copies recording files that are not there yet (or are shorter there: a copy that
/// stopped midway is done again).
fn copy_recordings(old: &Path, new: &Path) -> anyhow::Result<(u64, u64)> {
    let Ok(entries) = std::fs::read_dir(old) else { return Ok((0, 0)) };
    std::fs::create_dir_all(new)?;
    let (mut files, mut added) = (0, 0);
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        files += 1;
        let target = new.join(entry.file_name());
        let size = entry.metadata()?.len();
        if std::fs::metadata(&target).is_ok_and(|m| m.len() == size) {
            continue;
        }
        let partial = target.with_extension("copying");
        std::fs::copy(entry.path(), &partial).with_context(|| format!("cannot copy {}", entry.path().display()))?;
        std::fs::rename(&partial, &target)?;
        added += 1;
    }
    Ok((files, added))
}
