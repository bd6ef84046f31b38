//! The twenty genres: their sound, their share of the market and their place in style space.
//!
//! Genres sit on a 2-D "style space" (acoustic ↔ electronic, mellow ↔ intense). Distance in
//! that space decides which genres a listener's taste spreads to, which genre a session drifts
//! to next and which new genre a listener adopts over time: jazz leads to blues and soul,
//! house to techno and electronic, rarely metal to ambient.

/// The number of genres in the synthetic world.
pub(super) const GENRE_COUNT: usize = 20;

/// The typical sound of a genre; artists and tracks scatter around it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sound {
    pub energy: f64,
    pub valence: f64,
    pub danceability: f64,
    pub acousticness: f64,
    /// Beats per minute.
    pub tempo: f64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Genre {
    pub name: &'static str,
    /// Position in style space: x from acoustic (−1) to electronic (+1), y from mellow (−1)
    /// to intense (+1).
    pub style: [f64; 2],
    /// Relative share of artists, and of listeners whose home genre it is.
    pub popularity: f64,
    pub sound: Sound,
    /// Typical track length in seconds.
    pub typical_seconds: f64,
    /// Typical year of an artist's first album: the genre's era.
    pub debut_year: f64,
}

/// `sound` is `[energy, valence, danceability, acousticness, tempo]`.
const fn genre(
    name: &'static str,
    style: [f64; 2],
    popularity: f64,
    sound: [f64; 5],
    typical_seconds: f64,
    debut_year: f64,
) -> Genre {
    let [energy, valence, danceability, acousticness, tempo] = sound;
    Genre {
        name,
        style,
        popularity,
        sound: Sound {
            energy,
            valence,
            danceability,
            acousticness,
            tempo,
        },
        typical_seconds,
        debut_year,
    }
}

#[rustfmt::skip]
pub(super) const GENRES: [Genre; GENRE_COUNT] = [
    //     name          style x, y      pop    energy valence dance acoustic tempo   secs   debut
    genre("pop",        [ 0.40,  0.20], 12.0, [0.66, 0.64, 0.68, 0.18, 118.0], 205.0, 2012.0),
    genre("rock",       [-0.30,  0.50],  9.0, [0.76, 0.46, 0.46, 0.14, 128.0], 235.0, 1995.0),
    genre("indie",      [-0.15,  0.05],  6.0, [0.56, 0.45, 0.52, 0.34, 116.0], 225.0, 2010.0),
    genre("hip-hop",    [ 0.50,  0.50], 10.0, [0.66, 0.50, 0.78, 0.12,  94.0], 215.0, 2012.0),
    genre("r&b",        [ 0.30, -0.10],  5.0, [0.52, 0.52, 0.70, 0.22,  98.0], 220.0, 2010.0),
    genre("electronic", [ 0.85,  0.25],  6.0, [0.72, 0.48, 0.64, 0.08, 122.0], 270.0, 2008.0),
    genre("house",      [ 0.90,  0.55],  4.0, [0.78, 0.62, 0.80, 0.05, 124.0], 300.0, 2009.0),
    genre("techno",     [ 0.95,  0.85],  3.0, [0.86, 0.34, 0.72, 0.03, 132.0], 305.0, 2007.0),
    genre("jazz",       [-0.55, -0.40],  3.0, [0.38, 0.50, 0.52, 0.76, 112.0], 285.0, 1975.0),
    genre("classical",  [-0.90, -0.75],  3.0, [0.20, 0.34, 0.22, 0.94,  92.0], 300.0, 1985.0),
    genre("ambient",    [ 0.65, -0.85],  2.0, [0.18, 0.30, 0.24, 0.62,  80.0], 300.0, 2008.0),
    genre("folk",       [-0.80, -0.25],  3.0, [0.36, 0.50, 0.46, 0.84, 106.0], 225.0, 2005.0),
    genre("country",    [-0.60,  0.15],  5.0, [0.60, 0.62, 0.58, 0.44, 112.0], 210.0, 2005.0),
    genre("metal",      [-0.20,  0.95],  4.0, [0.92, 0.30, 0.36, 0.04, 140.0], 270.0, 1998.0),
    genre("latin",      [ 0.30,  0.60],  5.0, [0.78, 0.76, 0.82, 0.20, 100.0], 205.0, 2013.0),
    genre("soul",       [-0.10, -0.25],  3.0, [0.50, 0.62, 0.60, 0.40, 102.0], 215.0, 1980.0),
    genre("reggae",     [ 0.00, -0.05],  2.0, [0.52, 0.72, 0.76, 0.30,  90.0], 235.0, 1990.0),
    genre("blues",      [-0.65, -0.10],  2.0, [0.46, 0.40, 0.50, 0.60,  96.0], 250.0, 1980.0),
    genre("lo-fi",      [ 0.45, -0.60],  3.0, [0.30, 0.46, 0.62, 0.56,  82.0], 150.0, 2017.0),
    genre("k-pop",      [ 0.60,  0.40],  4.0, [0.76, 0.66, 0.72, 0.10, 124.0], 200.0, 2016.0),
];

/// Width of the similarity kernel in style-space units: genres about 0.4 apart still share a
/// good part of their listeners; genres across the map almost none.
const STYLE_KERNEL_WIDTH: f64 = 0.35;

/// How close two genres are, in `(0, 1]` (1 for the same genre).
pub(super) fn similarity(a: usize, b: usize) -> f64 {
    let [ax, ay] = GENRES[a].style;
    let [bx, by] = GENRES[b].style;
    let squared_distance = (ax - bx).powi(2) + (ay - by).powi(2);
    (-squared_distance / (2.0 * STYLE_KERNEL_WIDTH * STYLE_KERNEL_WIDTH)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> usize {
        GENRES.iter().position(|g| g.name == name).unwrap()
    }

    #[test]
    fn neighbours_are_musically_plausible() {
        let (jazz, blues, techno) = (index("jazz"), index("blues"), index("techno"));
        assert_eq!(similarity(jazz, jazz), 1.0);
        assert!(similarity(jazz, blues) > 0.5);
        assert!(similarity(jazz, techno) < 0.01);
        assert!(similarity(index("house"), techno) > similarity(index("house"), index("folk")));
    }
}
