//! Deterministic names for artists, albums and tracks, built from word lists and syllables.
//!
//! A few patterns put commas or double quotes into names (`Okafor, Amara`, `Ben "Lucky"
//! Marsh`, `Oh, Harbour`) so every CSV writer and reader downstream has to quote properly.

use rand::Rng;

const FIRST_NAMES: &[&str] = &[
    "Amara", "Ben", "Clara", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Leo", "Maya", "Nico", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wes",
    "Xenia", "Yusuf", "Zoe", "Aiko", "Bram", "Chiara", "Dev", "Emeka", "Freya", "Gus", "Hana",
    "Ivo", "Jade", "Kofi", "Lena", "Mateo", "Nadia", "Otis", "Priya",
];

const LAST_NAMES: &[&str] = &[
    "Abara",
    "Bellini",
    "Castell",
    "Dumont",
    "Eriksen",
    "Ferreira",
    "Gallo",
    "Haddad",
    "Ibarra",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quint",
    "Romero",
    "Sato",
    "Takahashi",
    "Umeh",
    "Varga",
    "Whitlock",
    "Xu",
    "Yilmaz",
    "Zeller",
    "Adeyemi",
    "Blackwood",
    "Cho",
    "Delacroix",
    "Engel",
    "Fitzgerald",
    "Grey",
    "Holm",
    "Iversen",
    "Jovanovic",
    "Kim",
    "Laurent",
    "Marsh",
    "Novak",
];

const ADJECTIVES: &[&str] = &[
    "Velvet",
    "Electric",
    "Silent",
    "Golden",
    "Paper",
    "Neon",
    "Hollow",
    "Crimson",
    "Lunar",
    "Wild",
    "Quiet",
    "Broken",
    "Northern",
    "Static",
    "Gentle",
    "Midnight",
    "Amber",
    "Restless",
    "Glass",
    "Burning",
    "Distant",
    "Secret",
    "Silver",
    "Faded",
    "Endless",
    "Frozen",
    "Sweet",
    "Hidden",
    "Lucky",
    "Lonely",
    "Bright",
    "Salt",
    "Iron",
    "Violet",
    "Tiny",
    "Heavy",
    "Summer",
    "Winter",
    "Wandering",
    "Crooked",
];

/// Singular nouns; [`plural`] knows how to pluralise every one of them.
const NOUNS: &[&str] = &[
    "Fox",
    "River",
    "Engine",
    "Garden",
    "Harbour",
    "Mirror",
    "Signal",
    "Lantern",
    "Horizon",
    "Echo",
    "Comet",
    "Orchard",
    "Canyon",
    "Tide",
    "Ghost",
    "Parade",
    "Window",
    "Satellite",
    "Forest",
    "Desert",
    "Ocean",
    "Thunder",
    "Feather",
    "Highway",
    "Island",
    "Machine",
    "Mountain",
    "Shadow",
    "Stone",
    "Storm",
    "Valley",
    "Wolf",
    "Heart",
    "Season",
    "City",
    "Ember",
    "Meadow",
    "Compass",
    "Anchor",
    "Circuit",
    "Crown",
    "Dream",
    "Flame",
    "Planet",
    "Rain",
    "Rose",
    "Sky",
    "Star",
    "Bridge",
    "Letter",
];

const PLACES: &[&str] = &[
    "Lisbon",
    "Osaka",
    "Memphis",
    "Berlin",
    "Lagos",
    "Havana",
    "Reykjavik",
    "Marseille",
    "Brooklyn",
    "Seoul",
    "Nairobi",
    "Detroit",
    "Kingston",
    "Bristol",
    "Oaxaca",
    "Tbilisi",
];

const VERBS: &[&str] = &[
    "Run", "Fall", "Hold On", "Wait", "Dance", "Burn", "Breathe", "Drift", "Call", "Shine", "Stay",
    "Fly", "Go", "Believe", "Forget", "Remember",
];

/// Verbs that take "Me": "Call Me", "Remember Me".
const VERBS_TAKING_ME: &[&str] = &[
    "Call", "Hold", "Believe", "Remember", "Forget", "Save", "Take", "Tell", "Show", "Find",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ve", "zu", "no", "sa", "ti", "be", "lu", "da", "ne", "ko", "ri", "ma",
    "so", "fe", "ya", "xo", "el", "an", "or", "is", "quo", "tha",
];

const CLASSICAL_FORMS: &[&str] = &[
    "Sonata", "Nocturne", "Prelude", "Etude", "Concerto", "Symphony", "Suite", "Fugue", "Waltz",
    "Mazurka", "Serenade",
];

const KEYS: &[&str] = &[
    "C major",
    "C minor",
    "D major",
    "D minor",
    "E-flat major",
    "E minor",
    "F major",
    "G major",
    "G minor",
    "A minor",
    "B-flat major",
    "F-sharp minor",
];

fn one_of<'a>(rng: &mut impl Rng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// A made-up word of two or three syllables, capitalised: "Kalomi", "Veza".
fn invented_word(rng: &mut impl Rng) -> String {
    let syllables = rng.random_range(2..=3);
    let word: String = (0..syllables).map(|_| one_of(rng, SYLLABLES)).collect();
    capitalise(&word)
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// English plural of one of [`NOUNS`].
fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('f') {
        format!("{stem}ves")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if noun.ends_with(['x', 's']) {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// An artist name whose style suits the genre: DJs in dance music, string quartets in
/// classical, bands in rock. Uniqueness is the caller's job.
pub(super) fn artist_name(rng: &mut impl Rng, genre: &str) -> String {
    let roll: f64 = rng.random();
    let first = one_of(rng, FIRST_NAMES);
    let last = one_of(rng, LAST_NAMES);
    match genre {
        "classical" if roll < 0.35 => format!("{last}, {first}"),
        "classical" if roll < 0.6 => format!("{} String Quartet", one_of(rng, PLACES)),
        "classical" if roll < 0.8 => format!("{last} Ensemble"),
        "electronic" | "house" | "techno" if roll < 0.3 => format!("DJ {}", invented_word(rng)),
        "hip-hop" if roll < 0.35 => {
            let prefix = one_of(rng, &["Lil", "MC", "Young", "Big"]);
            format!("{prefix} {}", invented_word(rng))
        }
        "k-pop" if roll < 0.6 => invented_word(rng).to_uppercase(),
        "jazz" | "blues" | "soul" if roll < 0.15 => {
            format!("{first} \"{}\" {last}", one_of(rng, ADJECTIVES))
        }
        "jazz" if roll < 0.35 => format!("{first} {last} Trio"),
        _ => match rng.random_range(0..100) {
            0..35 => format!("{first} {last}"),
            35..65 => {
                let adjective = one_of(rng, ADJECTIVES);
                format!("The {adjective} {}", plural(one_of(rng, NOUNS)))
            }
            65..85 => invented_word(rng),
            85..95 => format!("{first} & the {}", plural(one_of(rng, NOUNS))),
            95..98 => format!("{}, {}", invented_word(rng), invented_word(rng)),
            _ => format!("{first} \"{}\" {last}", one_of(rng, ADJECTIVES)),
        },
    }
}

/// An album title; now and then self-titled or a live record.
pub(super) fn album_title(rng: &mut impl Rng, artist: &str) -> String {
    let noun = one_of(rng, NOUNS);
    match rng.random_range(0..100) {
        0..40 => format!("{} {noun}", one_of(rng, ADJECTIVES)),
        40..55 => format!("{} of {}", plural(noun), one_of(rng, PLACES)),
        55..70 => invented_word(rng),
        70..78 => format!("Songs for the {} {noun}", one_of(rng, ADJECTIVES)),
        78..84 => format!("Live in {}", one_of(rng, PLACES)),
        84..90 => artist.to_string(),
        90..95 => format!("{noun}, {} and {}", one_of(rng, NOUNS), one_of(rng, NOUNS)),
        _ => format!("The {noun} Sessions"),
    }
}

/// A track title; classical pieces get a form, a number and a key.
pub(super) fn track_title(rng: &mut impl Rng, genre: &str) -> String {
    if genre == "classical" {
        let form = one_of(rng, CLASSICAL_FORMS);
        let key = one_of(rng, KEYS);
        let number = rng.random_range(1..=24);
        return if rng.random_bool(0.3) {
            format!("{form} in {key}, Op. {number}")
        } else {
            format!("{form} No. {number} in {key}")
        };
    }
    let noun = one_of(rng, NOUNS);
    match rng.random_range(0..100) {
        0..30 => format!("{} {noun}", one_of(rng, ADJECTIVES)),
        30..45 => noun.to_string(),
        45..55 => one_of(rng, VERBS).to_string(),
        55..62 => format!("Don't {}", one_of(rng, VERBS)),
        62..72 => format!("{noun} in {}", one_of(rng, PLACES)),
        72..79 => format!("The {noun} Song"),
        79..85 => format!("{} Me", one_of(rng, VERBS_TAKING_ME)),
        85..90 => invented_word(rng),
        90..94 => format!("Oh, {noun}"),
        94..97 => format!("Say \"{noun}\""),
        _ => format!("{} {noun} (Reprise)", one_of(rng, ADJECTIVES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_english() {
        assert_eq!(plural("Fox"), "Foxes");
        assert_eq!(plural("Wolf"), "Wolves");
        assert_eq!(plural("City"), "Cities");
        assert_eq!(plural("Highway"), "Highways");
        assert_eq!(plural("Compass"), "Compasses");
        assert_eq!(plural("Star"), "Stars");
    }
}
