//! Which track comes next: the moves a listener makes from one track to the following one.
//! This is the heart of the sequential structure a model is meant to learn.

use rand::Rng;

use super::genres::{GENRE_COUNT, GENRES, similarity};
use super::pick_weighted;
use super::sessions::{Run, Session};

/// Weights of the moves that do not depend on the listener (see [`Move`]).
const SAME_ARTIST_WEIGHT: f64 = 0.18;
const SAME_GENRE_WEIGHT: f64 = 0.30;
const NEXT_DOOR_WEIGHT: f64 = 0.10;
const FRESH_WEIGHT: f64 = 0.06;
/// After a skip, album and artist moves are this much less likely: stay less with what just
/// displeased.
const STAY_AFTER_SKIP: f64 = 0.3;

/// How the next track of a session was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Move {
    /// A recently enjoyed track again.
    Repeat,
    /// The next track of the same album.
    AlbumNext,
    /// Another track by the same artist.
    SameArtist,
    /// Another artist of the same genre.
    SameGenre,
    /// A genre next door in style space.
    NeighbourGenre,
    /// A fresh pick from the listener's overall taste.
    Fresh,
}

const MOVES: [Move; 6] = [
    Move::Repeat,
    Move::AlbumNext,
    Move::SameArtist,
    Move::SameGenre,
    Move::NeighbourGenre,
    Move::Fresh,
];

/// Similarity of a track's (or artist's, or genre's) energy to the wanted energy, in (0, 1].
fn energy_fit(energy: f64, target: f64, width: f64) -> f64 {
    (-(energy - target).powi(2) / (2.0 * width * width)).exp()
}

impl Run<'_> {
    /// The first track: where an album was left off, a recent favourite, or a fresh pick.
    pub(super) fn opening(&mut self, session: &Session, rng: &mut impl Rng) -> (u32, Move) {
        if let Some(track) = self.resume_album_at.take()
            && rng.random_bool(0.5)
        {
            return (track, Move::AlbumNext);
        }
        if rng.random_bool((3.0 * self.listener.repeat_rate).min(0.5))
            && let Some(track) = self.repeat(session, rng)
        {
            return (track, Move::Repeat);
        }
        (self.fresh(session, rng), Move::Fresh)
    }

    /// The next track after `previous`: the heart of the sequential structure.
    pub(super) fn follow(
        &mut self,
        previous: u32,
        skipped: bool,
        session: &Session,
        rng: &mut impl Rng,
    ) -> (u32, Move) {
        let facts = self.catalogue.facts[previous as usize];
        let album_next = facts.next_on_album.filter(|t| !session.played.contains(t));
        let listener = &*self.listener;
        let stay = if skipped { STAY_AFTER_SKIP } else { 1.0 };
        let album_weight = if album_next.is_some() {
            listener.album_affinity
        } else {
            0.0
        };
        let weights = [
            listener.repeat_rate,
            album_weight * stay,
            SAME_ARTIST_WEIGHT * stay,
            SAME_GENRE_WEIGHT,
            NEXT_DOOR_WEIGHT * listener.adventurousness,
            FRESH_WEIGHT * listener.adventurousness,
        ];
        let how = MOVES[pick_weighted(rng, &weights).unwrap_or(5)];
        let choice = match how {
            Move::Repeat => self.repeat(session, rng),
            Move::AlbumNext => album_next,
            Move::SameArtist => self.by_artist(facts.artist, session, rng),
            Move::SameGenre => self.in_genre(facts.genre, Some(facts.artist), session, rng),
            Move::NeighbourGenre => self.next_door(facts.genre, session, rng),
            Move::Fresh => None,
        };
        match choice {
            Some(track) => (track, how),
            None => (self.fresh(session, rng), Move::Fresh),
        }
    }

    /// A recently enjoyed track not yet heard in this session; liked ones more often.
    fn repeat(&mut self, session: &Session, rng: &mut impl Rng) -> Option<u32> {
        self.weights.clear();
        let mut recency = 1.0;
        for recent in &self.recent {
            let fresh_here = !session.played.contains(&recent.track);
            let liked = if recent.liked { 3.0 } else { 1.0 };
            self.weights
                .push(if fresh_here { liked * recency } else { 0.0 });
            recency *= 0.93;
        }
        pick_weighted(rng, &self.weights).map(|i| self.recent[i].track)
    }

    /// A track by `artist` not yet heard in this session, by popularity and fit.
    fn by_artist(&mut self, artist: u32, session: &Session, rng: &mut impl Rng) -> Option<u32> {
        let tracks = &self.catalogue.artists[artist as usize].tracks;
        self.weights.clear();
        for &track in tracks {
            let facts = &self.catalogue.facts[track as usize];
            let weight = if session.played.contains(&track) {
                0.0
            } else {
                facts.popularity * energy_fit(facts.energy, session.target_energy, 0.15)
            };
            self.weights.push(weight);
        }
        pick_weighted(rng, &self.weights).map(|i| tracks[i])
    }

    /// An artist of `genre` (popular ones, the listener's favourites and those that fit the
    /// moment more often; `avoid` seldom), then one of their tracks.
    fn in_genre(
        &mut self,
        genre: usize,
        avoid: Option<u32>,
        session: &Session,
        rng: &mut impl Rng,
    ) -> Option<u32> {
        let artists = &self.catalogue.artists_by_genre[genre];
        let favourite_boost = 0.25 * self.catalogue.genre_mass[genre];
        self.weights.clear();
        for &index in artists {
            let artist = &self.catalogue.artists[index as usize];
            let mut weight = artist.popularity;
            if self.listener.is_favourite(index) {
                weight += favourite_boost;
            }
            weight *= energy_fit(artist.energy, session.target_energy, 0.2);
            if avoid == Some(index) {
                weight *= 0.15;
            }
            self.weights.push(weight);
        }
        let artist = artists[pick_weighted(rng, &self.weights)?];
        self.by_artist(artist, session, rng)
    }

    /// A track from a genre near `from`, leaning to genres the listener already likes.
    fn next_door(&mut self, from: usize, session: &Session, rng: &mut impl Rng) -> Option<u32> {
        self.weights.clear();
        for (genre, spec) in GENRES.iter().enumerate() {
            let weight = if genre == from || !self.catalogue.genre_has_artists(genre) {
                0.0
            } else {
                similarity(from, genre)
                    * (self.listener.taste[genre] + 0.02)
                    * energy_fit(spec.sound.energy, session.target_energy, 0.2)
            };
            self.weights.push(weight);
        }
        let genre = pick_weighted(rng, &self.weights)?;
        self.in_genre(genre, None, session, rng)
    }

    /// A genre from the listener's taste, leaning to what fits the moment, then a track.
    fn fresh(&mut self, session: &Session, rng: &mut impl Rng) -> u32 {
        let genre_weights: [f64; GENRE_COUNT] = std::array::from_fn(|genre| {
            if self.catalogue.genre_has_artists(genre) {
                (self.listener.taste[genre] + 1e-4)
                    * energy_fit(GENRES[genre].sound.energy, session.target_energy, 0.15)
            } else {
                0.0
            }
        });
        // A few tries: an artist may have nothing left that was not heard this session.
        for _ in 0..4 {
            if let Some(genre) = pick_weighted(rng, &genre_weights)
                && let Some(track) = self.in_genre(genre, None, session, rng)
            {
                return track;
            }
        }
        // Everything that fits was heard this session already: anything will do.
        rng.random_range(0..self.catalogue.tracks.len()) as u32
    }
}
