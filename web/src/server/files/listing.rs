//! Directory listings (nginx's autoindex, Twisted's DirectoryLister): an HTML page of the
//! entries, directories first, then by name; names are HTML-escaped and their links
//! percent-encoded, so a file called `<script>` or `a"b` is shown, not run. Entries whose name
//! starts with `.` are not listed (as nginx does), nor names that are not UTF-8.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::proto::path::encode_segment;
use crate::server::html_escape;

/// Most entries listed (a directory with more shows the first ones by name, and says so).
pub const MAX_ENTRIES: usize = 10_000;

/// The listing page for `dir`, shown at URL path `href` (ending in `/`).
pub fn render(dir: &Path, href: &str) -> std::io::Result<String> {
    let mut entries: Vec<(bool, String, u64, u64)> = Vec::new();
    let mut truncated = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if entries.len() >= MAX_ENTRIES {
            truncated = true;
            break;
        }
        // Follow symlinks for the type and size, as a reader following the link would.
        let meta = match fs::metadata(entry.path()) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        entries.push((meta.is_dir(), name, meta.len(), modified));
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let title = html_escape(&percent_encoding::percent_decode_str(href).decode_utf8_lossy());
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body>\n<h1>Index of {title}</h1>\n<table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
    );
    if href != "/" {
        page.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for (is_dir, name, size, modified) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        let date = torsion_core::date::iso8601_millis(
            UNIX_EPOCH + std::time::Duration::from_secs(*modified),
        );
        let date = date.get(..16).unwrap_or(&date).replace('T', " ");
        let size = if *is_dir {
            "-".to_owned()
        } else {
            size.to_string()
        };
        page.push_str(&format!(
            "<tr><td><a href=\"{link}{slash}\">{shown}{slash}</a></td><td>{date}</td><td>{size}</td></tr>\n",
            link = encode_segment(name),
            shown = html_escape(name),
        ));
    }
    page.push_str("</table>\n");
    if truncated {
        page.push_str(&format!(
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>\n"
        ));
    }
    page.push_str("</body></html>\n");
    Ok(page)
}
