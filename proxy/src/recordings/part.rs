//! The files of a recording, and their names.

/// The files of a recording: the three the player reads, and a terminal recording's
/// search file (the screen's text over time, [`gatehouse_recording::search::file`]),
/// which a desktop recording does not have and an old recording may not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Recording,
    Index,
    Keyframes,
    Search,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Recording, Part::Index, Part::Keyframes, Part::Search];

    pub fn extension(self) -> &'static str {
        match self {
            Part::Recording => "ghrec",
            Part::Index => "ghidx",
            Part::Keyframes => "ghkf",
            Part::Search => "ghsrch",
        }
    }

    /// The part a file of this extension holds.
    pub fn from_extension(extension: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|part| part.extension() == extension)
    }

    /// The names the player's API uses (`/data/recording`, …); the search file is the
    /// proxy's own and is not served.
    pub fn from_name(name: &str) -> Option<Part> {
        match name {
            "recording" => Some(Part::Recording),
            "index" => Some(Part::Index),
            "keyframes" => Some(Part::Keyframes),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Part::Recording => "recording",
            Part::Index => "index",
            Part::Keyframes => "keyframes",
            Part::Search => "search",
        }
    }
}

/// A file name for part `part` of recording `id`, refusing an id that is not ours
/// (hex, as `recordings::new_id` makes them): the name is built, never taken.
pub fn file_name(id: &str, part: Part) -> std::io::Result<String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::other(format!("refusing the recording id {id:?}")));
    }
    Ok(format!("{id}.{}", part.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_built_from_our_ids_only() {
        assert_eq!(file_name("00ff", Part::Keyframes).unwrap(), "00ff.ghkf");
        for bad in ["", "../x", "a/b", "zz", &"a".repeat(65)] {
            assert!(file_name(bad, Part::Recording).is_err(), "{bad}");
        }
        for part in [Part::Recording, Part::Index, Part::Keyframes] {
            assert_eq!(Part::from_name(part.name()), Some(part));
        }
        assert_eq!(Part::from_name("search"), None, "the search file is not served");
        assert_eq!(Part::from_name("gatehouse.db"), None);
    }
}
