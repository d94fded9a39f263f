package search

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/emporium-shop/emporium"
)

// Sort is the order of a search's hits. Every order ends with the product id
// as a tie-breaker, so that pages are stable.
type Sort string

// The sort orders of DESIGN §8.
const (
	// SortRelevance orders by descending score; the default with Text.
	SortRelevance Sort = "relevance"
	// SortNewest orders by descending creation time; the default without Text.
	SortNewest Sort = "newest"
	// SortPriceAsc orders by ascending PriceMin.
	SortPriceAsc Sort = "price_asc"
	// SortPriceDesc orders by descending PriceMin.
	SortPriceDesc Sort = "price_desc"
	// SortRating orders by descending rating, then descending rating count.
	SortRating Sort = "rating"
)

// Page sizes of DESIGN §8.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// MinFuzzyLength is the length in letters from which a query word tolerates
// one typo; shorter words are too easily confused with other words.
const MinFuzzyLength = 5

// The statuses of Product.Status. Every product is indexed whatever its
// status; a query matches StatusActive unless it names other statuses.
const (
	StatusDraft    = "draft"
	StatusActive   = "active"
	StatusArchived = "archived"
)

// FuzzyPrefixLength is how many leading letters of a word a typo never
// touches: shoppers rarely mistype the first letter, and keeping it narrows
// the terms a fuzzy word expands to, the costliest part of a text search.
const FuzzyPrefixLength = 1

// FacetSize is how many values a brand or category facet returns at most.
const FacetSize = 100

// priceEdges are the bucket boundaries in minor units: 10, 25, 50, 100 and 250
// in major units of a two-decimal currency.
var priceEdges = []int64{1000, 2500, 5000, 10000, 25000}

// PriceBuckets returns the fixed price buckets with zero counts, in order.
func PriceBuckets() []PriceBucket {
	buckets := make([]PriceBucket, 0, len(priceEdges)+1)
	lower := int64(0)
	for _, edge := range priceEdges {
		upper := edge
		buckets = append(buckets, PriceBucket{Min: lower, Max: &upper})
		lower = edge
	}
	return append(buckets, PriceBucket{Min: lower})
}

// PriceBucketOf returns the index in PriceBuckets of the bucket holding a
// PriceMin, so that a backend may file each product under its bucket when it
// indexes it.
func PriceBucketOf(price int64) int {
	i := 0
	for i < len(priceEdges) && price >= priceEdges[i] {
		i++
	}
	return i
}

// SortFacetValues orders facet values the same way on every backend: by
// descending count, then by value.
func SortFacetValues(values []FacetValue) {
	slices.SortFunc(values, func(a, b FacetValue) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// Word is one word of a text query and the typo tolerance it gets. A
// multi-word query matches a product only if every word does (in its title,
// description or brand, each word with its own tolerance), as shop searches
// do: "red kettle" means a red kettle, not anything red or any kettle. A word
// the backend's analyzer drops (a stop word such as "for") is not required.
type Word struct {
	Text      string
	Fuzziness int
}

// Words splits a text query into lower-case words of letters and digits, and
// gives each word of MinFuzzyLength letters or more a fuzziness of 1 (past
// its first FuzzyPrefixLength letters). An apostrophe between two letters
// stays in its word, so that "men's" is one word that the analyzers reduce to
// "men" rather than a required, never indexed "s". Both backends use it so
// that they tolerate the same typos.
func Words(text string) []Word {
	runes := []rune(strings.ToLower(text))
	isApostrophe := func(i int) bool {
		return (runes[i] == '\'' || runes[i] == '’') && i > 0 && i+1 < len(runes) &&
			unicode.IsLetter(runes[i-1]) && unicode.IsLetter(runes[i+1])
	}
	var words []Word
	var b strings.Builder
	letters := 0
	flush := func() {
		if b.Len() > 0 {
			w := Word{Text: b.String()}
			if letters >= MinFuzzyLength {
				w.Fuzziness = 1
			}
			words = append(words, w)
		}
		b.Reset()
		letters = 0
	}
	for i, r := range runes {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
			letters++
		case isApostrophe(i):
			b.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return words
}

// Plan is a validated query with its defaults applied, ready for a backend.
type Plan struct {
	Query
	// Words is the tokenised Text.
	Words []Word
	// After holds the sort values of the last hit of the previous page, or
	// nil on the first page.
	After *Cursor
}

// Cursor is the decoded position after which a page starts: the sort values
// of the last hit (as SortValues orders them) and its id.
type Cursor struct {
	Sort   Sort      `json:"s"`
	Values []float64 `json:"v"`
	ID     string    `json:"id"`
	Sum    string    `json:"h"`
}

// sortArity is the number of sort values before the id for each order.
var sortArity = map[Sort]int{
	SortRelevance: 1, SortNewest: 1, SortPriceAsc: 1, SortPriceDesc: 1, SortRating: 2,
}

// SortValues returns the sort values of a product under sort s, in the order
// a cursor stores them; score is the hit's relevance score.
func SortValues(s Sort, p Product, score float64) []float64 {
	switch s {
	case SortRelevance:
		return []float64{score}
	case SortNewest:
		return []float64{float64(p.CreatedAt.UnixMilli())}
	case SortPriceAsc, SortPriceDesc:
		return []float64{float64(p.PriceMin)}
	default:
		return []float64{p.Rating, float64(p.RatingCount)}
	}
}

// checksum binds a cursor's values to its sort, so that an edited cursor is
// refused rather than silently paging from a made-up position.
func (c Cursor) checksum() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v", c.Sort, c.ID, c.Values)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:8])
}

// EncodeCursor returns the opaque cursor that continues after the hit with
// the given id and sort values.
func EncodeCursor(s Sort, values []float64, id string) string {
	c := Cursor{Sort: s, Values: values, ID: id}
	c.Sum = c.checksum()
	raw, err := json.Marshal(c)
	if err != nil {
		// Only non-finite floats fail to encode, and scores and fields are
		// finite; an empty cursor ends paging rather than looping.
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor parses and checks a cursor made by EncodeCursor for sort s.
func decodeCursor(raw string, s Sort) (*Cursor, *emporium.FieldError) {
	bad := &emporium.FieldError{Field: "cursor", Code: emporium.FieldInvalid, Message: "The cursor is not valid; start again from the first page."}
	data, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	var c Cursor
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, bad
	}
	if c.ID == "" || c.Sum != c.checksum() || len(c.Values) != sortArity[c.Sort] {
		return nil, bad
	}
	for _, v := range c.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, bad
		}
	}
	if c.Sort != s {
		return nil, &emporium.FieldError{Field: "cursor", Code: emporium.FieldSortMismatch,
			Message: fmt.Sprintf("The cursor was made for sort %q, not %q.", c.Sort, s)}
	}
	return &c, nil
}

// Prepare validates q and applies its defaults. Every broken rule is reported
// as a field error of one EINVALID error, named after the query parameters of
// DESIGN §8.
func Prepare(q Query) (Plan, error) {
	var fields []emporium.FieldError
	add := func(field, code, format string, args ...any) {
		fields = append(fields, emporium.Field(field, code, format, args...))
	}
	q.Text = strings.TrimSpace(q.Text)
	words := Words(q.Text)
	if q.Text != "" && len(words) == 0 {
		// Only punctuation: treat it as a browse, as a shopper would expect.
		q.Text = ""
	}
	if len(q.Text) > 500 {
		add("q", emporium.FieldTooLong, "The search text must be at most 500 characters.")
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		add("limit", emporium.FieldOutOfRange, "The limit must be between 1 and %d.", MaxLimit)
	}
	if q.MinPrice != nil && *q.MinPrice < 0 {
		add("min_price", emporium.FieldOutOfRange, "The minimum price must not be negative.")
	}
	if q.MaxPrice != nil && *q.MaxPrice < 0 {
		add("max_price", emporium.FieldOutOfRange, "The maximum price must not be negative.")
	}
	if q.MinPrice != nil && q.MaxPrice != nil && *q.MinPrice > *q.MaxPrice {
		add("min_price", emporium.FieldRange, "The minimum price must not exceed the maximum price.")
	}
	if q.MinRating != nil && (math.IsNaN(*q.MinRating) || *q.MinRating < 0 || *q.MinRating > 5) {
		add("min_rating", emporium.FieldOutOfRange, "The minimum rating must be between 0 and 5.")
	}
	for _, b := range q.Brands {
		if b == "" {
			add("brand", emporium.FieldEmpty, "A brand must not be empty.")
			break
		}
	}
	for _, c := range q.Categories {
		if c == "" {
			add("category", emporium.FieldEmpty, "A category must not be empty.")
			break
		}
	}
	for _, s := range q.Statuses {
		if s != StatusDraft && s != StatusActive && s != StatusArchived {
			add("status", emporium.FieldUnknown, "The status must be one of draft, active, archived.")
			break
		}
	}
	if len(q.Statuses) == 0 {
		// Shoppers see active products only; draft and archived ones are
		// asked for by name (a vendor's back office).
		q.Statuses = []string{StatusActive}
	}
	switch q.Sort {
	case "":
		q.Sort = SortNewest
		if q.Text != "" {
			q.Sort = SortRelevance
		}
	case SortRelevance:
		if q.Text == "" {
			// Without text every score is equal; newest is the useful order.
			q.Sort = SortNewest
		}
	case SortNewest, SortPriceAsc, SortPriceDesc, SortRating:
	default:
		add("sort", emporium.FieldUnknown, "The sort must be one of relevance, newest, price_asc, price_desc, rating.")
	}
	plan := Plan{Words: words}
	if q.Cursor != "" && len(fields) == 0 {
		c, fe := decodeCursor(q.Cursor, q.Sort)
		if fe != nil {
			fields = append(fields, *fe)
		}
		plan.After = c
	}
	if len(fields) > 0 {
		return Plan{}, &emporium.Error{Code: emporium.EINVALID, Op: "search.Prepare",
			Message: "The search query is not valid.", Fields: fields}
	}
	plan.Query = q
	return plan, nil
}
