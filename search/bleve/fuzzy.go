package bleveindex

import (
	"context"
	"sync"

	"github.com/blevesearch/bleve/v2/mapping"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// fuzzyCacheSize bounds the expansions a fuzzyCache keeps; past it the cache
// starts afresh, which costs one expansion per word and field again.
const fuzzyCacheSize = 20_000

// fuzzyCache remembers which indexed terms a fuzzy word expands to, for one
// index snapshot. Expanding a word (building its Levenshtein automaton, then
// walking every segment's term dictionary with it, for each of the three text
// fields) was the largest single cost of a text search once every word had to
// match. A snapshot is immutable, so its expansions stay exact for as long as
// queries read it; once a write or a merge publishes a new snapshot, the
// entries of the old one are dropped rather than consulted. Hits themselves
// are never cached: only the word's candidate terms, from which the query
// runs as it would without the cache.
type fuzzyCache struct {
	mu sync.Mutex
	// reader is the snapshot the entries were found in. Holding it keeps
	// the pointer from being reused by a later snapshot while it keys
	// the entries.
	reader  index.IndexReader
	entries map[fuzzyKey]fuzzyTerms
}

// fuzzyKey names one expansion.
type fuzzyKey struct {
	field, term, prefix string
	fuzziness           int
}

// fuzzyTerms are the terms of a field within the fuzziness of a word, with
// their edit distances, as bleve's fuzzy searcher finds them. They are shared
// by concurrent queries and never modified.
type fuzzyTerms struct {
	terms     []string
	distances []uint8
}

// get returns the expansion of k in snapshot r, if known.
func (c *fuzzyCache) get(r index.IndexReader, k fuzzyKey) (fuzzyTerms, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader != r {
		return fuzzyTerms{}, false
	}
	t, ok := c.entries[k]
	return t, ok
}

// put records the expansion of k in snapshot r. A query on another snapshot
// than the cached one starts the cache afresh: queries on a new snapshot are
// the ones to come, and one still reading an older snapshot only costs a
// second start.
func (c *fuzzyCache) put(r index.IndexReader, k fuzzyKey, t fuzzyTerms) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader != r || len(c.entries) >= fuzzyCacheSize {
		c.reader, c.entries = r, make(map[fuzzyKey]fuzzyTerms)
	}
	c.entries[k] = t
}

// fuzzyTerm is bleve's fuzzy query (query.FuzzyQuery) with its expansion
// taken from a fuzzyCache: it builds the same searcher, so that it matches
// and scores exactly as the fuzzy query does.
type fuzzyTerm struct {
	cache     *fuzzyCache
	field     string
	term      string
	fuzziness int
	prefix    int
	boost     float64
}

// Searcher returns a term searcher, or a disjunction over the expansion's
// terms boosted by their edit distances, as searcher.NewFuzzySearcher does.
func (f fuzzyTerm) Searcher(ctx context.Context, i index.IndexReader, _ mapping.IndexMapping, options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	fr, ok := i.(index.IndexReaderFuzzy)
	if !ok || f.cache == nil || f.fuzziness == 0 {
		return searcher.NewFuzzySearcher(ctx, i, f.term, f.prefix, f.fuzziness, f.field, f.boost, options)
	}
	// The prefix ends at the first rune boundary at or after f.prefix
	// bytes, as bleve cuts it.
	prefix := f.term
	for n := range f.term {
		if n >= f.prefix {
			prefix = f.term[:n]
			break
		}
	}
	key := fuzzyKey{field: f.field, term: f.term, prefix: prefix, fuzziness: f.fuzziness}
	found, ok := f.cache.get(i, key)
	if !ok {
		var err error
		if found, err = expand(fr, key); err != nil {
			return nil, err
		}
		f.cache.put(i, key, found)
	}
	if len(found.terms) == 0 || (len(found.terms) == 1 && found.terms[0] == f.term) {
		return searcher.NewTermSearcher(ctx, i, f.term, f.field, f.boost, options)
	}
	return searcher.NewMultiTermSearcherBoosted(ctx, i, found.terms, f.field, f.boost, found.distances, options, true)
}

// expand walks the snapshot's dictionaries of k's field with k's automaton.
func expand(r index.IndexReaderFuzzy, k fuzzyKey) (found fuzzyTerms, err error) {
	dict, _, err := r.FieldDictFuzzyAutomaton(k.field, k.term, k.fuzziness, k.prefix)
	if err != nil {
		return fuzzyTerms{}, err
	}
	defer func() {
		if cerr := dict.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	entry, err := dict.Next()
	for err == nil && entry != nil {
		found.terms = append(found.terms, entry.Term)
		found.distances = append(found.distances, entry.EditDistance)
		entry, err = dict.Next()
	}
	return found, err
}

// fuzzyMatch is bleve's match query (query.MatchQuery) of one word in one
// field, with fuzzy terms expanded through a fuzzyCache: a disjunction of the
// word's tokens, each boosted, as the match query builds it.
func (x *Index) fuzzyMatch(tokens []string, field string, fuzziness, prefix int, boost float64) query.Query {
	terms := make([]query.Query, 0, len(tokens))
	for _, t := range tokens {
		terms = append(terms, fuzzyTerm{cache: x.fuzzy, field: field, term: t, fuzziness: fuzziness, prefix: prefix, boost: boost})
	}
	d := query.NewDisjunctionQuery(terms)
	d.SetMin(1)
	d.SetBoost(boost)
	return d
}
