package product

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The product rules that do not depend on state: syntax, lengths, and the
// option/variant combination rule. Values are cleaned (surrounding spaces
// trimmed from one-line texts) before they are checked and stored.

// Limits of a product's fields. Lengths are in characters (runes) unless
// they say bytes.
const (
	MaxTitle          = 200
	MaxDescription    = 10000
	MaxBrand          = 100
	MaxCategoryID     = 64
	MaxImages         = 20
	MaxImageURL       = 2048
	MaxImageAlt       = 200
	MaxOptions        = 3
	MaxOptionValues   = 50
	MaxOptionName     = 50
	MaxOptionValue    = 100
	MaxVariants       = 100
	MaxAttributes     = 50
	MaxAttributeKey   = 50
	MaxAttributeValue = 500
	MaxSKU            = emporium.MaxSKULength
	// MaxPrice bounds any amount, in minor units, so sums cannot overflow.
	MaxPrice = 1_000_000_000
)

// Currencies are the ISO 4217 codes a price may be in.
var Currencies = []string{
	"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK",
	"PLN", "CZK", "INR", "CNY", "BRL", "MXN", "ZAR", "NZD", "SGD", "HKD",
}

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CheckSKU applies the SKU rule: 1-64 of A-Z a-z 0-9 . _ -. The shell uses
// it before claiming a SKU globally.
func CheckSKU(sku string) bool { return skuPattern.MatchString(sku) }

// cleanLine trims a one-line text and checks it: valid UTF-8, no control
// characters, at most maxLen characters, and not empty when required.
func cleanLine(field, v string, required bool, maxLen int) (string, *emporium.FieldError) {
	v = strings.TrimSpace(v)
	if fe := checkText(field, v, maxLen, false); fe != nil {
		return "", fe
	}
	if required && v == "" {
		fe := emporium.Field(field, emporium.FieldRequired, "%s is required", field)
		return "", &fe
	}
	return v, nil
}

// checkText checks a text kept as given: valid UTF-8, at most maxLen
// characters, no control characters but (when multiline) newlines and tabs.
func checkText(field, v string, maxLen int, multiline bool) *emporium.FieldError {
	if !utf8.ValidString(v) {
		fe := emporium.Field(field, emporium.FieldInvalid, "%s is not valid UTF-8", field)
		return &fe
	}
	if n := utf8.RuneCountInString(v); n > maxLen {
		fe := emporium.Field(field, emporium.FieldTooLong, "%s must be at most %d characters", field, maxLen)
		return &fe
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			fe := emporium.Field(field, emporium.FieldInvalid, "%s contains a control character", field)
			return &fe
		}
	}
	return nil
}

func appendFE(errs []emporium.FieldError, fe *emporium.FieldError) []emporium.FieldError {
	if fe != nil {
		return append(errs, *fe)
	}
	return errs
}

func cleanTitle(v string) (string, *emporium.FieldError) {
	return cleanLine("title", v, true, MaxTitle)
}

func cleanDescription(v string) (string, *emporium.FieldError) {
	return v, checkText("description", v, MaxDescription, true)
}

func cleanBrand(v string) (string, *emporium.FieldError) {
	return cleanLine("brand", v, false, MaxBrand)
}

// cleanCategory checks a category id's syntax; whether the category exists
// is the caller's check (the category tree is not this grain's).
func cleanCategory(v string) (string, *emporium.FieldError) {
	v = strings.TrimSpace(v)
	if len(v) > MaxCategoryID {
		fe := emporium.Field("category_id", emporium.FieldTooLong, "category_id must be at most %d characters", MaxCategoryID)
		return "", &fe
	}
	if v != "" && !skuPattern.MatchString(v) {
		fe := emporium.Field("category_id", emporium.FieldInvalid, "category_id may hold only letters, digits, '.', '_' and '-'")
		return "", &fe
	}
	return v, nil
}

func checkCurrency(v string) *emporium.FieldError {
	if v == "" {
		fe := emporium.Field("currency", emporium.FieldRequired, "currency is required")
		return &fe
	}
	if !slices.Contains(Currencies, v) {
		fe := emporium.Field("currency", emporium.FieldUnsupported, "currency must be one of %s", strings.Join(Currencies, ", "))
		return &fe
	}
	return nil
}

// cleanImages checks and copies images: at most 20, each with an absolute
// https URL of at most 2048 characters and an alt text of at most 200 characters.
func cleanImages(field string, in []*pb.Image) ([]*pb.Image, []emporium.FieldError) {
	if len(in) > MaxImages {
		return nil, []emporium.FieldError{emporium.Field(field, emporium.FieldTooMany, "at most %d images", MaxImages)}
	}
	var errs []emporium.FieldError
	out := make([]*pb.Image, 0, len(in))
	for i, img := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		raw := strings.TrimSpace(img.GetUrl())
		switch {
		case raw == "":
			errs = append(errs, emporium.Field(f+".url", emporium.FieldRequired, "%s.url is required", f))
		case utf8.RuneCountInString(raw) > MaxImageURL:
			errs = append(errs, emporium.Field(f+".url", emporium.FieldTooLong, "%s.url must be at most %d characters", f, MaxImageURL))
		default:
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(raw, " \t\r\n") {
				errs = append(errs, emporium.Field(f+".url", emporium.FieldInvalid, "%s.url must be an absolute https URL", f))
			}
		}
		alt, fe := cleanLine(f+".alt", img.GetAlt(), false, MaxImageAlt)
		errs = appendFE(errs, fe)
		out = append(out, &pb.Image{Url: raw, Alt: alt})
	}
	return out, errs
}

// cleanAttributes checks and copies attributes: at most 50, keys of 1-50
// characters, values of at most 500. Keys are trimmed; two keys equal after
// trimming are duplicates.
func cleanAttributes(field string, in map[string]string) (map[string]string, []emporium.FieldError) {
	if len(in) > MaxAttributes {
		return nil, []emporium.FieldError{emporium.Field(field, emporium.FieldTooMany, "at most %d attributes", MaxAttributes)}
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys) // stable error order
	var errs []emporium.FieldError
	out := make(map[string]string, len(in))
	for _, k := range keys {
		ck, fe := cleanLine(field+"."+k, k, true, MaxAttributeKey)
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		if _, dup := out[ck]; dup {
			errs = append(errs, emporium.Field(field+"."+k, emporium.FieldDuplicate, "attribute %q is given twice", ck))
			continue
		}
		v, fe := cleanLine(field+"."+k, in[k], false, MaxAttributeValue)
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		out[ck] = v
	}
	return out, errs
}

// cleanVariantSet checks options and variants together and returns them
// cleaned. The rule: at most 3 options, each with a unique name and 1-50
// unique values; every variant has a unique SKU, a price in (0, 10^9], a
// compare-at price above its price when set, and names exactly one value of
// every option; every combination of option values appears exactly once.
// Without options there is exactly one variant, with no options.
func cleanVariantSet(in *pb.VariantSet) ([]*pb.Option, []*pb.Variant, []emporium.FieldError) {
	var errs []emporium.FieldError
	if len(in.GetOptions()) > MaxOptions {
		return nil, nil, []emporium.FieldError{emporium.Field("options", emporium.FieldTooMany, "at most %d options", MaxOptions)}
	}
	if len(in.GetVariants()) > MaxVariants {
		return nil, nil, []emporium.FieldError{emporium.Field("variants", emporium.FieldTooMany, "at most %d variants", MaxVariants)}
	}
	opts := make([]*pb.Option, 0, len(in.GetOptions()))
	optIndex := map[string]int{}
	combinations := 1
	for i, o := range in.GetOptions() {
		f := fmt.Sprintf("options[%d]", i)
		name, fe := cleanLine(f+".name", o.GetName(), true, MaxOptionName)
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		if _, dup := optIndex[name]; dup {
			errs = append(errs, emporium.Field(f+".name", emporium.FieldDuplicate, "option %q is given twice", name))
			continue
		}
		switch n := len(o.GetValues()); {
		case n == 0:
			errs = append(errs, emporium.Field(f+".values", emporium.FieldRequired, "option %q needs at least one value", name))
		case n > MaxOptionValues:
			errs = append(errs, emporium.Field(f+".values", emporium.FieldTooMany, "option %q has more than %d values", name, MaxOptionValues))
		}
		values := make([]string, 0, len(o.GetValues()))
		for j, v := range o.GetValues() {
			fv := fmt.Sprintf("%s.values[%d]", f, j)
			cv, fe := cleanLine(fv, v, true, MaxOptionValue)
			if fe != nil {
				errs = append(errs, *fe)
				continue
			}
			if slices.Contains(values, cv) {
				errs = append(errs, emporium.Field(fv, emporium.FieldDuplicate, "option %q has the value %q twice", name, cv))
				continue
			}
			values = append(values, cv)
		}
		optIndex[name] = len(opts)
		opts = append(opts, &pb.Option{Name: name, Values: values})
		combinations *= max(len(values), 1)
	}
	if len(errs) > 0 {
		// The variants are judged against the options; bad options would
		// only make every variant wrong too.
		return nil, nil, errs
	}
	if len(opts) > 0 && combinations > MaxVariants {
		return nil, nil, []emporium.FieldError{emporium.Field("options", emporium.FieldTooMany,
			"the options make %d combinations; a product has at most %d variants", combinations, MaxVariants)}
	}
	if len(in.GetVariants()) == 0 {
		return nil, nil, []emporium.FieldError{emporium.Field("variants", emporium.FieldRequired, "a product needs at least one variant")}
	}
	if len(opts) == 0 && len(in.GetVariants()) > 1 {
		return nil, nil, []emporium.FieldError{emporium.Field("variants", emporium.FieldTooMany, "a product without options has exactly one variant")}
	}
	variants := make([]*pb.Variant, 0, len(in.GetVariants()))
	skus := map[string]bool{}
	seen := map[string]int{} // combination key -> variant index
	for i, v := range in.GetVariants() {
		f := fmt.Sprintf("variants[%d]", i)
		ok := true
		switch {
		case v.GetSku() == "":
			errs = append(errs, emporium.Field(f+".sku", emporium.FieldRequired, "%s.sku is required", f))
			ok = false
		case !CheckSKU(v.GetSku()):
			errs = append(errs, emporium.Field(f+".sku", emporium.FieldInvalid, "%s.sku must be 1-%d of A-Z a-z 0-9 . _ -", f, MaxSKU))
			ok = false
		case skus[v.GetSku()]:
			errs = append(errs, emporium.Field(f+".sku", emporium.FieldDuplicate, "SKU %s is given twice", v.GetSku()))
			ok = false
		}
		skus[v.GetSku()] = true
		if p := v.GetPriceAmount(); p <= 0 || p > MaxPrice {
			errs = append(errs, emporium.Field(f+".price", emporium.FieldOutOfRange, "%s.price must be between 1 and %d", f, MaxPrice))
			ok = false
		}
		if c := v.GetCompareAtAmount(); c != nil {
			switch {
			case c.Value <= 0 || c.Value > MaxPrice:
				errs = append(errs, emporium.Field(f+".compare_at_price", emporium.FieldOutOfRange, "%s.compare_at_price must be between 1 and %d", f, MaxPrice))
				ok = false
			case c.Value <= v.GetPriceAmount():
				errs = append(errs, emporium.Field(f+".compare_at_price", emporium.FieldNotAbovePrice, "%s.compare_at_price must be above the price", f))
				ok = false
			}
		}
		// The variant's options, trimmed like the option values are.
		chosen := make(map[string]string, len(v.GetOptions()))
		names := make([]string, 0, len(v.GetOptions()))
		for name := range v.GetOptions() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			cn, cv := strings.TrimSpace(name), strings.TrimSpace(v.GetOptions()[name])
			oi, known := optIndex[cn]
			switch {
			case !known:
				errs = append(errs, emporium.Field(f+".options."+name, emporium.FieldUnknownOption, "the product has no option %q", name))
				ok = false
			case !slices.Contains(opts[oi].Values, cv):
				errs = append(errs, emporium.Field(f+".options."+name, emporium.FieldUnknownValue, "option %q has no value %q", cn, cv))
				ok = false
			case chosen[cn] != "":
				errs = append(errs, emporium.Field(f+".options."+name, emporium.FieldDuplicate, "option %q is given twice", cn))
				ok = false
			default:
				chosen[cn] = cv
			}
		}
		for _, o := range opts {
			if _, has := chosen[o.Name]; !has && ok {
				errs = append(errs, emporium.Field(f+".options."+o.Name, emporium.FieldMissingOption, "%s names no value of option %q", f, o.Name))
				ok = false
			}
		}
		if !ok {
			continue
		}
		key := combinationKey(opts, chosen)
		if j, dup := seen[key]; dup {
			errs = append(errs, emporium.Field(f+".options", emporium.FieldDuplicateCombination, "%s has the same options as variants[%d]", f, j))
			continue
		}
		seen[key] = i
		out := &pb.Variant{Sku: v.GetSku(), Options: chosen, PriceAmount: v.GetPriceAmount()}
		if c := v.GetCompareAtAmount(); c != nil {
			out.CompareAtAmount = wrapperspb.Int64(c.Value)
		}
		variants = append(variants, out)
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	if len(seen) < combinations {
		missing := firstMissing(opts, seen)
		return nil, nil, []emporium.FieldError{emporium.Field("variants", emporium.FieldMissingCombination,
			"every combination of option values needs a variant; %s has none", missing)}
	}
	return opts, variants, nil
}

// combinationKey identifies a combination of option values, in option order.
func combinationKey(opts []*pb.Option, chosen map[string]string) string {
	parts := make([]string, len(opts))
	for i, o := range opts {
		parts[i] = chosen[o.Name]
	}
	return strings.Join(parts, "\x00")
}

// firstMissing describes the first combination of option values (in option
// and value order) that no variant has.
func firstMissing(opts []*pb.Option, seen map[string]int) string {
	idx := make([]int, len(opts))
	for {
		chosen := map[string]string{}
		desc := make([]string, len(opts))
		for i, o := range opts {
			chosen[o.Name] = o.Values[idx[i]]
			desc[i] = o.Name + "=" + o.Values[idx[i]]
		}
		if _, ok := seen[combinationKey(opts, chosen)]; !ok {
			return strings.Join(desc, ", ")
		}
		i := len(opts) - 1
		for i >= 0 {
			idx[i]++
			if idx[i] < len(opts[i].Values) {
				break
			}
			idx[i] = 0
			i--
		}
		if i < 0 {
			return "some combination"
		}
	}
}
