package category

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emporium-shop/emporium"
)

// The category rules that do not depend on state: the syntax of ids, names
// and slugs, and how a slug is made from a name.

// Limits of a category's fields, in characters.
const (
	MaxName = 100
	MaxSlug = 100
	// MaxID is the longest category id; products name their category with
	// the same syntax (see product.MaxCategoryID).
	MaxID = 64
)

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// CheckSlug reports whether s is a well-formed slug: lowercase words of
// a-z and 0-9 joined by single hyphens, at most MaxSlug characters. The
// read side uses it to tell a slug from an id where either may be given.
func CheckSlug(s string) bool { return len(s) <= MaxSlug && slugPattern.MatchString(s) }

func appendFE(errs []emporium.FieldError, fe *emporium.FieldError) []emporium.FieldError {
	if fe != nil {
		return append(errs, *fe)
	}
	return errs
}

// checkID checks a category id given by the caller: 1-64 of A-Z a-z 0-9
// . _ -, the syntax a product's category_id has.
func checkID(field, id string) *emporium.FieldError {
	switch {
	case id == "":
		fe := emporium.Field(field, emporium.FieldRequired, "%s is required", field)
		return &fe
	case len(id) > MaxID:
		fe := emporium.Field(field, emporium.FieldTooLong, "%s must be at most %d characters", field, MaxID)
		return &fe
	case !idPattern.MatchString(id):
		fe := emporium.Field(field, emporium.FieldInvalid, "%s may hold only letters, digits, '.', '_' and '-'", field)
		return &fe
	}
	return nil
}

// cleanName trims a name and checks it: valid UTF-8, 1-100 characters, no
// control characters.
func cleanName(v string) (string, *emporium.FieldError) {
	v = strings.TrimSpace(v)
	switch {
	case !utf8.ValidString(v):
		fe := emporium.Field("name", emporium.FieldInvalid, "name is not valid UTF-8")
		return "", &fe
	case v == "":
		fe := emporium.Field("name", emporium.FieldRequired, "name is required")
		return "", &fe
	case utf8.RuneCountInString(v) > MaxName:
		fe := emporium.Field("name", emporium.FieldTooLong, "name must be at most %d characters", MaxName)
		return "", &fe
	case strings.ContainsFunc(v, unicode.IsControl):
		fe := emporium.Field("name", emporium.FieldInvalid, "name contains a control character")
		return "", &fe
	}
	return v, nil
}

// slugFor returns the slug a command asks for: the given one, trimmed and
// checked, or, when it is empty, one made from the (clean) name.
func slugFor(given, name string) (string, *emporium.FieldError) {
	given = strings.TrimSpace(given)
	if given == "" {
		slug := MakeSlug(name)
		if slug == "" {
			fe := emporium.Field("slug", emporium.FieldRequired, "slug is required: the name has no letters or digits to make one from")
			return "", &fe
		}
		return slug, nil
	}
	if utf8.RuneCountInString(given) > MaxSlug {
		fe := emporium.Field("slug", emporium.FieldTooLong, "slug must be at most %d characters", MaxSlug)
		return "", &fe
	}
	if !slugPattern.MatchString(given) {
		fe := emporium.Field("slug", emporium.FieldInvalid, "slug must be lowercase words of a-z and 0-9 joined by single hyphens")
		return "", &fe
	}
	return given, nil
}

// cleanParent trims a parent id; whether it exists is decide's check.
func cleanParent(v string) string { return strings.TrimSpace(v) }

// MakeSlug makes a slug from a name: lowercase, accents of Latin letters
// folded (é → e, ß → ss), every run of other characters one hyphen, no
// hyphen at either end, at most MaxSlug characters (cut at a word's end). A name without Latin
// letters or digits makes an empty slug.
func MakeSlug(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		word := ""
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			word = string(r)
		default:
			word = folds[r]
		}
		if word == "" {
			gap = true
			continue
		}
		if gap && b.Len() > 0 {
			b.WriteByte('-')
		}
		gap = false
		b.WriteString(word)
	}
	slug := b.String()
	if len(slug) > MaxSlug {
		// Cut at a word's end where there is one.
		cut := slug[:MaxSlug]
		if slug[MaxSlug] != '-' {
			if i := strings.LastIndexByte(cut, '-'); i > 0 {
				cut = cut[:i]
			}
		}
		slug = strings.TrimRight(cut, "-")
	}
	return slug
}

// folds maps lowercase accented Latin letters to their plain spelling.
var folds = func() map[rune]string {
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđð", "e": "èéêëēĕėęě", "g": "ĝğġģ",
		"h": "ĥħ", "i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķĸ", "l": "ĺļľŀł", "n": "ñńņňŉŋ",
		"o": "òóôõöøōŏő", "r": "ŕŗř", "s": "śŝşšſ", "t": "ţťŧ", "u": "ùúûüũūŭůűų",
		"w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ae": "æ", "oe": "œ", "ss": "ß", "th": "þ", "ij": "ĳ",
	}
	out := map[rune]string{}
	for plain, letters := range groups {
		for _, r := range letters {
			out[r] = plain
		}
	}
	return out
}()
