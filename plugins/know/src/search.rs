//! Search over the stable revisions: the index kept in step with the review flow, the query
//! language, and the ranking.
//!
//! Each stable page is split into sections at its headings (`know_sections`), indexed two ways
//! over the same rows: `know_fts` (`porter unicode61`: `running` finds `run`) and `know_words`
//! (plain words, only for its vocabulary, which `did_you_mean` reads through `know_vocab`). Every
//! word ever indexed is also in the lexicon (`know_lexicon_words`), and a `trigram` index over
//! it (`know_lexicon`) finds the words a part of a word is in: `boarding` is looked up as the
//! wiki's words containing it (`onboarding`). BM25 weighs a title hit above a heading hit above
//! a body hit. Word matches rank first; matches of words found by a part of them follow.

use mobieus_sdk::ToSql;
use mobieus_sdk::prelude::*;

use crate::markdown;

/// BM25 weights of the indexed columns: title, heading, body.
const WEIGHTS: &str = "10.0, 4.0, 1.0";
/// Words of the lexicon a part of a word is looked for in, and the commonest of them searched.
const LEXICON_CANDIDATES: usize = 200;
const CONTAINING: usize = 16;
/// The query's words past this are refused: a search is a question, not a document.
const MAX_TERMS: usize = 32;
/// Marks put around the matched terms by `snippet()`: private-use characters that cannot come
/// from a page, swapped for `<mark>` once the snippet's text is escaped.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Words that say little about what a question is about; left out of a question that has others.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for",
    "from", "get", "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "our",
    "should", "so", "that", "the", "their", "there", "this", "to", "us", "was", "we", "what",
    "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The migration that creates the index.
pub const MIGRATION: &str = "
    CREATE TABLE know_sections (
        n           INTEGER PRIMARY KEY,
        page_id     TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        title       TEXT NOT NULL,
        heading     TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX know_sections_page ON know_sections (page_id);
    CREATE VIRTUAL TABLE know_fts USING fts5(title, heading, body,
        content = 'know_sections', content_rowid = 'n', tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE VIRTUAL TABLE know_tri USING fts5(title, heading, body,
        content = 'know_sections', content_rowid = 'n', tokenize = 'trigram');
    CREATE VIRTUAL TABLE know_words USING fts5(title, heading, body,
        content = 'know_sections', content_rowid = 'n', tokenize = 'unicode61 remove_diacritics 2',
        detail = 'none');
    CREATE VIRTUAL TABLE know_vocab USING fts5vocab(know_words, 'row');";

/// The migration that put the trigram index on the lexicon instead of on the pages' text: a
/// part of a word used to be matched against every section, and a common trigram is in half of
/// them (`docs/performance.md`). The lexicon starts as the vocabulary of what is indexed.
pub const LEXICON_MIGRATION: &str = "
    CREATE TABLE know_lexicon_words (
        id   INTEGER PRIMARY KEY,
        word TEXT NOT NULL UNIQUE
    );
    CREATE VIRTUAL TABLE know_lexicon USING fts5(word,
        content = 'know_lexicon_words', content_rowid = 'id',
        tokenize = 'trigram remove_diacritics 1');
    INSERT INTO know_lexicon_words (word) SELECT term FROM know_vocab;
    INSERT INTO know_lexicon (rowid, word) SELECT id, word FROM know_lexicon_words;
    DROP TABLE know_tri;";

/// The indexes of the pages' sections.
const INDEXES: [&str; 2] = ["know_fts", "know_words"];
/// Every FTS5 index Know keeps (what [`crate::merge`] merges).
pub const FTS_TABLES: [&str; 3] = ["know_fts", "know_words", "know_lexicon"];
/// Longer runs of letters are not taken into the lexicon: no one looks for a part of them.
const MAX_WORD: usize = 64;

/// Puts a page's stable revision in the index, in place of whatever of the page was there.
pub fn index(cx: &Ctx, page_id: &str, revision_id: &str, title: &str, body: &str) -> Result<()> {
    unindex(cx, page_id)?;
    let db = cx.db();
    let mut sections = markdown::sections(body);
    if sections.is_empty() {
        // A page with a title only is still found by its title.
        sections.push(markdown::Section::default());
    }
    let mut words = std::collections::BTreeSet::new();
    for text in std::iter::once(title).chain(sections.iter().flat_map(|s| [&*s.heading, &*s.text])) {
        words.extend(
            fold(text)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty() && w.chars().count() <= MAX_WORD)
                .map(str::to_owned),
        );
    }
    add_to_lexicon(cx, words.into_iter().collect())?;
    for s in sections {
        let n = db
            .query_one(
                "INSERT INTO know_sections (page_id, revision_id, title, heading, body)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING n",
                &[&page_id, &revision_id, &title, &s.heading, &s.text],
            )?
            .ok_or_else(|| Error::internal("the section was not stored"))?
            .get::<i64>("n")?;
        for table in INDEXES {
            db.execute(
                &format!(
                    "INSERT INTO {table} (rowid, title, heading, body) VALUES (?1, ?2, ?3, ?4)"
                ),
                &[&n, &title, &s.heading, &s.text],
            )?;
        }
    }
    Ok(())
}

/// Text as the indexes keep it (`unicode61 remove_diacritics 2`): lower case, and Latin letters
/// without their accents (`Réunion` → `reunion`, `e` with two combining accents → `e`); other
/// scripts keep theirs, as SQLite's table does (`Καλημέρα` → `καλημέρα`).
fn fold(text: &str) -> String {
    let latin = |c: char| matches!(c, 'A'..='Z' | 'a'..='z' | '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}');
    let mark = |c: char| matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}');
    let mut on_latin = false;
    let bare: String = icu_normalizer::DecomposingNormalizerBorrowed::new_nfd()
        .normalize(text)
        .chars()
        .filter(|&c| {
            if mark(c) {
                return !on_latin;
            }
            on_latin = latin(c);
            true
        })
        .collect();
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(&bare).to_lowercase()
}

/// Adds the words the lexicon does not have yet, and indexes their trigrams.
fn add_to_lexicon(cx: &Ctx, words: Vec<String>) -> Result<()> {
    let db = cx.db();
    let last: i64 = db
        .query_one("SELECT coalesce(max(id), 0) AS last FROM know_lexicon_words", &[])?
        .map(|r| r.get("last"))
        .transpose()?
        .unwrap_or(0);
    for chunk in words.chunks(128) {
        // Padded to a power of two with its last word (a duplicate is ignored), so a few
        // statement shapes serve every page.
        let size = chunk.len().next_power_of_two();
        let marks: Vec<String> = (1..=size).map(|i| format!("(?{i})")).collect();
        let params: Vec<&dyn ToSql> = (0..size)
            .map(|i| &chunk[i.min(chunk.len() - 1)] as &dyn ToSql)
            .collect();
        db.execute(
            &format!(
                "INSERT INTO know_lexicon_words (word) VALUES {} ON CONFLICT (word) DO NOTHING",
                marks.join(", ")
            ),
            &params,
        )?;
    }
    db.execute(
        "INSERT INTO know_lexicon (rowid, word) SELECT id, word FROM know_lexicon_words WHERE id > ?1",
        &[&last],
    )?;
    Ok(())
}

/// Takes a page out of the index.
pub fn unindex(cx: &Ctx, page_id: &str) -> Result<()> {
    crate::merge::changed(cx)?;
    let db = cx.db();
    for table in INDEXES {
        // External-content tables forget a row when told what it held.
        db.execute(
            &format!(
                "INSERT INTO {table} ({table}, rowid, title, heading, body)
                 SELECT 'delete', n, title, heading, body FROM know_sections WHERE page_id = ?1"
            ),
            &[&page_id],
        )?;
    }
    db.execute("DELETE FROM know_sections WHERE page_id = ?1", &[&page_id])?;
    Ok(())
}

/// A search as parsed from `q`.
#[derive(Debug, PartialEq)]
pub struct Query {
    /// Bare words: a page needs one of them, and ranks higher the more it has.
    words: Vec<Term>,
    /// Quoted phrases: a page needs every one.
    phrases: Vec<String>,
    /// `-word`: a page with one is left out.
    excluded: Vec<String>,
}

#[derive(Debug, PartialEq)]
struct Term {
    text: String,
    /// `word*`: any word starting so.
    prefix: bool,
}

/// Why a search cannot run.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request("invalid_query", message).with("field", "q")
}

impl Query {
    /// The query language: words, `"quoted phrases"`, `word*` for a prefix, `-word` to leave a
    /// word out. Everything else is a word's text: FTS5's own syntax (`NEAR`, `AND`, `:`,
    /// parentheses) never reaches it unquoted.
    pub fn parse(q: &str) -> Result<Query> {
        if q.matches('"').count() % 2 == 1 {
            return Err(invalid("A quote is not closed."));
        }
        let mut query = Query {
            words: vec![],
            phrases: vec![],
            excluded: vec![],
        };
        for (i, part) in q.split('"').enumerate() {
            if i % 2 == 1 {
                if has_word(part) {
                    query.phrases.push(part.trim().to_owned());
                }
                continue;
            }
            for token in part.split_whitespace() {
                if let Some(word) = token.strip_prefix('-') {
                    if has_word(word) {
                        query.excluded.push(word.trim_end_matches('*').to_owned());
                    }
                    continue;
                }
                let (text, prefix) = match token.strip_suffix('*') {
                    Some(t) => (t.trim_end_matches('*'), true),
                    None => (token, false),
                };
                if has_word(text) {
                    query.words.push(Term {
                        text: text.to_owned(),
                        prefix,
                    });
                }
            }
        }
        if query.words.is_empty() && query.phrases.is_empty() {
            return Err(invalid(if query.excluded.is_empty() {
                "There are no words to search for."
            } else {
                "A search needs a word or phrase besides the ones it leaves out."
            }));
        }
        if query.words.len() + query.phrases.len() + query.excluded.len() > MAX_TERMS {
            return Err(invalid(format!("At most {MAX_TERMS} words and phrases.")));
        }
        // A question's little words match everything; drop them when it has others.
        let telling = |t: &Term| t.prefix || !STOP_WORDS.contains(&t.text.to_lowercase().as_str());
        if query.words.iter().any(telling) {
            query.words.retain(telling);
        }
        Ok(query)
    }

    /// The words query: every word and phrase quoted, so it is text and never syntax.
    fn fts_words(&self) -> Fts {
        let words: Vec<String> = self
            .words
            .iter()
            .map(|t| format!("{}{}", quote(&t.text), if t.prefix { "*" } else { "" }))
            .collect();
        let mut must: Vec<String> = self.phrases.iter().map(|p| quote(p)).collect();
        if !words.is_empty() {
            must.push(format!("({})", words.join(" OR ")));
        }
        Fts {
            positive: must.join(" AND "),
            excluded: self.excluded.iter().map(|w| quote(w)).collect(),
        }
    }

    /// The query for the wiki's words that the words it does not know are part of (`boarding`,
    /// only ever written inside `onboarding`).
    fn fts_containing(&self, containing: &[String]) -> Option<Fts> {
        if containing.is_empty() {
            return None;
        }
        let words: Vec<String> = containing.iter().map(|w| quote(w)).collect();
        Some(Fts {
            positive: format!("({})", words.join(" OR ")),
            excluded: self.excluded.iter().map(|w| quote(w)).collect(),
        })
    }

    /// The bare words (no prefix, letters and digits only), folded as the index folds them.
    fn plain_words(&self) -> impl Iterator<Item = String> + '_ {
        self.words
            .iter()
            .filter(|t| !t.prefix && t.text.chars().all(char::is_alphanumeric))
            .map(|t| fold(&t.text))
    }
}

/// An FTS5 query: what a page needs, and the words that leave it out.
struct Fts {
    positive: String,
    excluded: Vec<String>,
}

impl Fts {
    /// Over every column.
    fn all(&self) -> String {
        self.without(self.positive.clone())
    }

    /// Needing the words in the title or a heading (still left out for a word anywhere).
    fn in_titles(&self) -> String {
        self.without(format!("{{title heading}} : ({})", self.positive))
    }

    fn without(&self, fts: String) -> String {
        self.excluded
            .iter()
            .fold(fts, |fts, word| format!("({fts}) NOT {word}"))
    }
}

fn has_word(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One page found.
#[derive(Serialize, JsonSchema)]
pub struct Hit {
    pub page_id: String,
    /// The stable revision the text was found in.
    pub revision_id: String,
    pub title: String,
    /// The heading the best match sits under; `null` before the page's first heading.
    pub heading: Option<String>,
    /// The text around the match, HTML-escaped, with the matched terms in `<mark>…</mark>`.
    pub snippet: String,
    /// Relevance, higher is better (BM25 of the index that matched).
    pub score: f64,
    /// `word` (a word, stemmed, or a phrase matched) or `substring` (only part of a word did);
    /// word matches come first.
    #[serde(rename = "match")]
    pub matched: &'static str,
}

/// What a search answers.
#[derive(Serialize, JsonSchema)]
pub struct Results {
    pub data: Vec<Hit>,
    /// When nothing matched: the indexed words closest to the ones asked for.
    pub did_you_mean: Vec<String>,
}

/// Runs a parsed search over the stable revisions of live pages (deleted pages, pending and
/// superseded text are never in the index).
pub fn run(cx: &Ctx, query: &Query, tag: Option<&str>, limit: u32) -> Result<Results> {
    let tag = tag.map(|t| format!("\"{t}\""));
    let fts = query.fts_words();
    let best = best_sections(cx, "know_fts", &fts, tag.as_deref(), limit as usize, &[])?;
    let mut data = hits(cx, "know_fts", &fts.all(), best, "word")?;
    let want = limit as usize - data.len();
    // Only a page that is not full looks further (and a search that found nothing suggests).
    let unknown = if want > 0 {
        unknown_words(cx, query)?
    } else {
        vec![]
    };
    if want > 0
        && let Some(fts) = query.fts_containing(&words_containing(cx, &unknown)?)
    {
        let seen: Vec<&str> = data.iter().map(|h| h.page_id.as_str()).collect();
        let best = best_sections(cx, "know_fts", &fts, tag.as_deref(), want, &seen)?;
        data.extend(hits(cx, "know_fts", &fts.all(), best, "substring")?);
    }
    let did_you_mean = if data.is_empty() {
        neighbours(cx, &unknown)?
    } else {
        vec![]
    };
    Ok(Results { data, did_you_mean })
}

/// The query's bare words that no stable page has as a word.
fn unknown_words(cx: &Ctx, query: &Query) -> Result<Vec<String>> {
    let mut unknown = vec![];
    for word in query.plain_words() {
        let known = cx
            .db()
            .query_one(
                "SELECT 1 AS known FROM know_vocab WHERE term = ?1",
                &[&word],
            )?
            .is_some();
        if !known && !unknown.contains(&word) {
            unknown.push(word);
        }
    }
    Ok(unknown)
}

/// Words on live pages that contain one of `parts` (of three characters or more), the commonest
/// first: the lexicon's trigrams find them, the vocabulary says which are still on a page.
fn words_containing(cx: &Ctx, parts: &[String]) -> Result<Vec<String>> {
    let mut words: Vec<String> = vec![];
    for part in parts.iter().filter(|p| p.chars().count() >= 3) {
        let rows = cx
            .db()
            .query(
                &format!(
                    "SELECT l.word FROM (SELECT word FROM know_lexicon WHERE know_lexicon MATCH ?1
                                         LIMIT {LEXICON_CANDIDATES}) l
                     CROSS JOIN know_vocab v ON v.term = l.word
                     ORDER BY v.doc DESC LIMIT {CONTAINING}"
                ),
                &[&quote(part)],
            )
            .map_err(engine_error)?;
        for row in rows {
            let word: String = row.get("word")?;
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    Ok(words)
}

/// The best-ranked section of each of the `want` best pages, skipping `seen` pages and, with a
/// tag, pages without it: `(section, page, rank)`.
///
/// BM25 weighs a title hit ten times a body hit, so when enough pages have the words in their
/// title or a heading, those are the first page of results: ranking them alone spares scoring
/// every body match of a common word (BM25 costs about 2 µs a match). Otherwise every match is
/// ranked.
fn best_sections(
    cx: &Ctx,
    table: &str,
    fts: &Fts,
    tag: Option<&str>,
    want: usize,
    seen: &[&str],
) -> Result<Vec<(i64, String, f64)>> {
    let titled = ranked(cx, table, &fts.in_titles(), tag, want, seen)?;
    if titled.len() >= want {
        return Ok(titled);
    }
    ranked(cx, table, &fts.all(), tag, want, seen)
}

/// [`best_sections`] for one query: it asks for a few sections per page wanted (BM25 orders
/// them with a LIMIT; no join or window over every match), and for more when they collapse
/// into too few pages.
fn ranked(
    cx: &Ctx,
    table: &str,
    fts: &str,
    tag: Option<&str>,
    want: usize,
    seen: &[&str],
) -> Result<Vec<(i64, String, f64)>> {
    let mut fetch = (want + seen.len()) * 4;
    loop {
        let rows = cx
            .db()
            .query(
                &format!(
                    "SELECT f.n, s.page_id, f.rank, p.tags
                     FROM (SELECT rowid AS n, bm25({table}, {WEIGHTS}) AS rank FROM {table}
                           WHERE {table} MATCH ?1 ORDER BY rank LIMIT {fetch}) f
                     JOIN know_sections s ON s.n = f.n
                     JOIN know_pages p ON p.id = s.page_id
                     ORDER BY f.rank"
                ),
                &[&fts],
            )
            .map_err(engine_error)?;
        let mut best: Vec<(i64, String, f64)> = vec![];
        for row in &rows {
            let page: String = row.get("page_id")?;
            let tagged =
                tag.is_none_or(|t| row.get::<String>("tags").is_ok_and(|tags| tags.contains(t)));
            if tagged && !seen.contains(&page.as_str()) && !best.iter().any(|(_, p, _)| *p == page)
            {
                best.push((row.get("n")?, page, row.get("rank")?));
            }
        }
        if best.len() >= want || rows.len() < fetch {
            best.truncate(want);
            return Ok(best);
        }
        fetch *= 4;
    }
}

/// The hits for chosen sections, in their order: snippets are made for these only.
fn hits(
    cx: &Ctx,
    table: &str,
    fts: &str,
    best: Vec<(i64, String, f64)>,
    kind: &'static str,
) -> Result<Vec<Hit>> {
    if best.is_empty() {
        return Ok(vec![]);
    }
    let marks: Vec<String> = (2..best.len() + 2).map(|i| format!("?{i}")).collect();
    let mut params: Vec<&dyn ToSql> = vec![&fts];
    params.extend(best.iter().map(|(n, _, _)| n as &dyn ToSql));
    let rows = cx.db().query(
        &format!(
            "SELECT s.n, s.revision_id, s.title, s.heading,
                    snippet({table}, -1, char(57344), char(57345), '…', 16) AS snippet
             FROM {table} JOIN know_sections s ON s.n = {table}.rowid
             WHERE {table} MATCH ?1 AND {table}.rowid IN ({})",
            marks.join(", ")
        ),
        &params,
    )?;
    let mut out = vec![];
    for (n, page_id, rank) in best {
        let Some(row) = rows.iter().find(|r| r.get::<i64>("n").ok() == Some(n)) else {
            continue;
        };
        let heading: String = row.get("heading")?;
        out.push(Hit {
            page_id,
            revision_id: row.get("revision_id")?,
            title: row.get("title")?,
            heading: (!heading.is_empty()).then_some(heading),
            snippet: marked(&row.get::<String>("snippet")?),
            score: -rank,
            matched: kind,
        });
    }
    Ok(out)
}

/// FTS5 refusing a query is the query's fault, whatever slipped past [`Query::parse`].
fn engine_error(e: Error) -> Error {
    if e.message.contains("fts5") {
        invalid("The search engine could not read this query.")
    } else {
        e
    }
}

/// A snippet's text escaped for HTML, its marks made `<mark>` elements.
fn marked(snippet: &str) -> String {
    let mut out = String::with_capacity(snippet.len() + 32);
    for c in snippet.chars() {
        match c {
            OPEN => out.push_str("<mark>"),
            CLOSE => out.push_str("</mark>"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// For each word that is not in the index, the indexed word nearest to it (edit distance at
/// most 1 for short words, 2 for longer), the most common one on a tie.
fn neighbours(cx: &Ctx, unknown: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = vec![];
    for word in unknown {
        let len = word.chars().count() as i64;
        let reach = if len <= 4 { 1 } else { 2 };
        // Words of a near length sharing the first letter: typos rarely hit the first one.
        let first: String = word.chars().take(1).collect();
        let after = format!("{first}\u{10FFFF}");
        let candidates = cx.db().query(
            "SELECT term, doc FROM know_vocab WHERE term >= ?1 AND term < ?2
             AND length(term) BETWEEN ?3 AND ?4",
            &[&first, &after, &(len - reach), &(len + reach)],
        )?;
        let mut best: Option<(usize, i64, String)> = None;
        for row in candidates {
            let term: String = row.get("term")?;
            let doc: i64 = row.get("doc")?;
            let d = strsim::damerau_levenshtein(word, &term);
            if d > reach as usize {
                continue;
            }
            let better = best
                .as_ref()
                .is_none_or(|(bd, bdoc, _)| (d, -doc) < (*bd, -*bdoc));
            if better {
                best = Some((d, doc, term));
            }
        }
        if let Some((_, _, term)) = best
            && !out.contains(&term)
        {
            out.push(term);
        }
    }
    Ok(out)
}
