package checkout

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/emporium-shop/emporium"
)

// Rates are the shipping methods and tax rates checkout prices with. Build
// one with Default or Load; it is read-only afterwards.
type Rates struct {
	// currency is the currency Methods prices in when asked for none.
	currency string
	// methods are the methods of countries without a list of their own.
	methods []method
	// countryMethods are the lists of countries that have one, by
	// upper-case alpha-2 code.
	countryMethods map[string][]method
	// taxes are the tax rules by upper-case alpha-2 code; a country
	// without one pays no tax.
	taxes map[string]countryTax
}

// method is one shipping method of one list.
type method struct {
	id, name         string
	minDays, maxDays int
	// prices are the method's price by currency, in minor units.
	prices map[string]int64
	// freeOver are, by currency, the subtotals from which the method
	// costs nothing.
	freeOver map[string]int64
}

// countryTax is how one country taxes an order.
type countryTax struct {
	// rate is the rate in parts per million where no region's applies.
	rate            int64
	shippingTaxable bool
	// regionRequired refuses an order whose region is missing or unknown,
	// for countries where the region decides the rate.
	regionRequired bool
	// regions are the regions with rates of their own, by upper-case code
	// and upper-case name.
	regions map[string]regionTax
}

// regionTax is how one state or province taxes an order.
type regionTax struct {
	rate            int64
	shippingTaxable bool
}

//go:embed rates.json
var defaultJSON []byte

// defaultRates are the embedded rates, built once: the file is part of the
// binary, so a file that does not load is a bug that must stop the program
// (and fails the tests) rather than surface at a checkout.
var defaultRates = func() *Rates {
	r, err := Load(bytes.NewReader(defaultJSON))
	if err != nil {
		panic("checkout: the embedded rates.json does not load: " + err.Error())
	}
	return r
}()

// Default returns the rates a node uses when it is given no rates file:
// standard and express shipping priced in every product currency, with
// faster and cheaper lists for the United States and the United Kingdom,
// US state sales taxes and the VAT or GST of a few countries (see
// docs/checkout.md). Every call returns the same Rates.
func Default() *Rates { return defaultRates }

// The JSON form of a rates file, decoded strictly: a member these types do
// not name is refused.
type (
	ratesFile struct {
		Currency string       `json:"currency"`
		Shipping shippingFile `json:"shipping"`
		Tax      taxFile      `json:"tax"`
	}
	shippingFile struct {
		Default   []methodFile            `json:"default"`
		Countries map[string][]methodFile `json:"countries"`
	}
	methodFile struct {
		ID       string           `json:"id"`
		Name     string           `json:"name"`
		MinDays  int              `json:"min_days"`
		MaxDays  int              `json:"max_days"`
		Prices   map[string]int64 `json:"prices"`
		FreeOver map[string]int64 `json:"free_over"`
	}
	taxFile struct {
		Countries map[string]countryTaxFile `json:"countries"`
	}
	countryTaxFile struct {
		Rate            string                   `json:"rate"`
		ShippingTaxable bool                     `json:"shipping_taxable"`
		RegionRequired  bool                     `json:"region_required"`
		Regions         map[string]regionTaxFile `json:"regions"`
	}
	regionTaxFile struct {
		Name string `json:"name"`
		Rate string `json:"rate"`
		// ShippingTaxable, when absent, is the country's.
		ShippingTaxable *bool `json:"shipping_taxable"`
	}
)

// Limits of a rates file.
const (
	// maxTransitDays bounds a method's business days in transit.
	maxTransitDays = 60
	// maxNameLength bounds a method's or a region's name, in bytes.
	maxNameLength = 100
)

var (
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	methodPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// regionPattern is the subdivision part of an ISO 3166-2 code: the CA
	// of US-CA.
	regionPattern = regexp.MustCompile(`^[A-Z0-9]{1,3}$`)
	// ratePattern is a percentage with at most four decimals, which is
	// exactly one part per million.
	ratePattern = regexp.MustCompile(`^([0-9]{1,3})(?:\.([0-9]{1,4}))?%$`)
)

// Load reads rates in the JSON format of docs/checkout.md from r. Decoding
// is strict: an unknown member, a value of the wrong type or trailing data
// refuses the file. The rates are then checked as a whole, and every
// mistake is reported at once as a field of one EINVALID *emporium.Error,
// the field naming the entry at fault, such as
// "shipping.countries.US[1].prices.usd".
func Load(r io.Reader) (*Rates, error) {
	const op = "checkout.Load"
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f ratesFile
	err := dec.Decode(&f)
	if err == nil {
		// Anything but white space after the object, even a stray
		// bracket, is a file of another shape.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("data after the rates object")
		}
	}
	if err != nil {
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "the rates file is not a rates object: " + err.Error(), Err: err}
	}
	var c compiler
	rates := c.rates(f)
	if len(c.errs) > 0 {
		e := emporium.InvalidFields(c.errs...)
		e.Op = op
		return nil, e
	}
	return rates, nil
}

// Methods returns the shipping methods offered to country (ISO 3166-1
// alpha-2, any case): the country's own list where the rates have one,
// else the default list, which an empty or unknown country also gets. Each
// is priced in currency (ISO 4217, any case; empty for the rates' default
// currency) at its list price, before any free-shipping threshold; a method
// with no price in currency is left out, since it cannot be quoted in it.
// The list is never nil and is the caller's to change.
func (r *Rates) Methods(country, currency string) []emporium.ShippingMethod {
	currency = strings.ToUpper(strings.TrimSpace(currency))
	if currency == "" {
		currency = r.currency
	}
	list := r.list(strings.ToUpper(strings.TrimSpace(country)))
	out := make([]emporium.ShippingMethod, 0, len(list))
	for _, m := range list {
		if _, ok := m.prices[currency]; ok {
			out = append(out, m.public(currency))
		}
	}
	return out
}

// list returns the methods of an upper-case country code.
func (r *Rates) list(country string) []method {
	if l, ok := r.countryMethods[country]; ok {
		return l
	}
	return r.methods
}

// method returns the method called id in the list of an upper-case country
// code, or the EINVALID error of field shipping_method.
func (r *Rates) method(country, id string) (method, error) {
	list := r.list(country)
	if id == "" {
		return method{}, emporium.Invalid("shipping_method", emporium.FieldRequired, "choose a shipping method")
	}
	for _, m := range list {
		if m.id == id {
			return m, nil
		}
	}
	ids := make([]string, len(list))
	for i, m := range list {
		ids[i] = m.id
	}
	return method{}, emporium.Invalidf("shipping_method", emporium.FieldUnknown,
		"shipping method %q is not offered to %s; choose one of %s", id, country, strings.Join(ids, ", "))
}

// public returns m as the API shows it, priced in currency, which m has a
// price in.
func (m method) public(currency string) emporium.ShippingMethod {
	return emporium.ShippingMethod{
		ID: m.id, Name: m.name, MinDays: m.minDays, MaxDays: m.maxDays,
		Price: emporium.Money{Amount: m.prices[currency], Currency: currency},
	}
}

// tax returns the rate, in parts per million, and whether shipping is
// taxed, for an upper-case country code and a region as the address holds
// it. A country that requires a region refuses a missing or unknown one
// with the EINVALID error of field region; any other country taxes an
// unknown region at its own rate.
func (r *Rates) tax(country, region string) (rate int64, shippingTaxable bool, err error) {
	t, ok := r.taxes[country]
	if !ok {
		return 0, false, nil
	}
	key := strings.ToUpper(strings.TrimSpace(region))
	key = strings.TrimPrefix(key, country+"-")
	if rt, ok := t.regions[key]; ok {
		return rt.rate, rt.shippingTaxable, nil
	}
	if t.regionRequired {
		if key == "" {
			return 0, false, emporium.Invalidf("region", emporium.FieldRequired,
				"a shipping address in %s needs its state or province, which decides the tax", country)
		}
		return 0, false, emporium.Invalidf("region", emporium.FieldUnknown,
			"%q is not a state or province of %s; use its code or its name", region, country)
	}
	return t.rate, t.shippingTaxable, nil
}

// compiler turns a decoded rates file into Rates, collecting a field error
// for every mistake on the way.
type compiler struct {
	errs []emporium.FieldError
}

// fail records a mistake in the entry at path. The message starts with
// the path too: an operator reads the joined messages in a log, not the
// fields.
func (c *compiler) fail(path, code, format string, args ...any) {
	c.errs = append(c.errs, emporium.Field(path, code, "%s: %s", path, fmt.Sprintf(format, args...)))
}

func (c *compiler) rates(f ratesFile) *Rates {
	r := &Rates{
		currency:       f.Currency,
		countryMethods: make(map[string][]method, len(f.Shipping.Countries)),
		taxes:          make(map[string]countryTax, len(f.Tax.Countries)),
	}
	validCurrency := false
	switch {
	case f.Currency == "":
		c.fail("currency", emporium.FieldRequired, "the default currency is required")
	case !currencyPattern.MatchString(f.Currency):
		c.fail("currency", emporium.FieldInvalid, "currency %q is not an upper-case ISO 4217 code", f.Currency)
	default:
		validCurrency = true
	}
	if len(f.Shipping.Default) == 0 {
		c.fail("shipping.default", emporium.FieldRequired, "the default list of shipping methods is required")
	}
	r.methods = c.methods("shipping.default", f.Shipping.Default)
	// Methods lists the default list in the default currency for a caller
	// who names no country or currency: it must not come back empty.
	if validCurrency && len(r.methods) > 0 && !slices.ContainsFunc(r.methods, func(m method) bool { _, ok := m.prices[f.Currency]; return ok }) {
		c.fail("shipping.default", emporium.FieldRequired, "no default method is priced in the default currency %s", f.Currency)
	}
	for _, country := range sortedKeys(f.Shipping.Countries) {
		path := "shipping.countries." + country
		if c.country(path, country) {
			list := f.Shipping.Countries[country]
			if len(list) == 0 {
				c.fail(path, emporium.FieldRequired, "the list of %s has no methods; leave the country out to use the default list", country)
			}
			r.countryMethods[country] = c.methods(path, list)
		}
	}
	for _, country := range sortedKeys(f.Tax.Countries) {
		path := "tax.countries." + country
		if c.country(path, country) {
			r.taxes[country] = c.countryTax(path, f.Tax.Countries[country])
		}
	}
	return r
}

// country checks a country code used as a key at path.
func (c *compiler) country(path, code string) bool {
	if !countryPattern.MatchString(code) {
		c.fail(path, emporium.FieldInvalid, "%q is not an upper-case ISO 3166-1 alpha-2 country code", code)
		return false
	}
	return true
}

// methods compiles the list of methods at path.
func (c *compiler) methods(path string, list []methodFile) []method {
	out := make([]method, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, mf := range list {
		at := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case mf.ID == "":
			c.fail(at+".id", emporium.FieldRequired, "the method has no id")
		case !methodPattern.MatchString(mf.ID):
			c.fail(at+".id", emporium.FieldInvalid, "method id %q must be 1-32 of a-z 0-9 _, starting with a letter", mf.ID)
		case seen[mf.ID]:
			c.fail(at+".id", emporium.FieldDuplicate, "method %q is listed twice", mf.ID)
		}
		seen[mf.ID] = true
		if name := strings.TrimSpace(mf.Name); name == "" {
			c.fail(at+".name", emporium.FieldRequired, "method %q has no name", mf.ID)
		} else if len(name) > maxNameLength {
			c.fail(at+".name", emporium.FieldTooLong, "the name of method %q is over %d bytes", mf.ID, maxNameLength)
		}
		if mf.MinDays < 0 || mf.MinDays > maxTransitDays {
			c.fail(at+".min_days", emporium.FieldOutOfRange, "min_days of method %q must be 0-%d", mf.ID, maxTransitDays)
		}
		if mf.MaxDays < 1 || mf.MaxDays > maxTransitDays {
			c.fail(at+".max_days", emporium.FieldOutOfRange, "max_days of method %q must be 1-%d", mf.ID, maxTransitDays)
		} else if mf.MinDays > mf.MaxDays {
			c.fail(at+".max_days", emporium.FieldRange, "method %q has min_days %d above max_days %d", mf.ID, mf.MinDays, mf.MaxDays)
		}
		if len(mf.Prices) == 0 {
			c.fail(at+".prices", emporium.FieldRequired, "method %q has no prices", mf.ID)
		}
		c.amounts(at+".prices", mf.Prices, 0)
		c.amounts(at+".free_over", mf.FreeOver, 1)
		for _, cur := range sortedKeys(mf.FreeOver) {
			if _, ok := mf.Prices[cur]; !ok {
				c.fail(at+".free_over."+cur, emporium.FieldUnknown, "method %q has a free-shipping threshold in %s but no price in it", mf.ID, cur)
			}
		}
		out = append(out, method{
			id: mf.ID, name: strings.TrimSpace(mf.Name), minDays: mf.MinDays, maxDays: mf.MaxDays,
			prices: mf.Prices, freeOver: mf.FreeOver,
		})
	}
	return out
}

// amounts checks a map of amounts by currency at path: each currency an
// ISO 4217 code, each amount from least to MaxAmount.
func (c *compiler) amounts(path string, amounts map[string]int64, least int64) {
	for _, cur := range sortedKeys(amounts) {
		if !currencyPattern.MatchString(cur) {
			c.fail(path+"."+cur, emporium.FieldInvalid, "%q is not an upper-case ISO 4217 currency code", cur)
		}
		if a := amounts[cur]; a < least || a > MaxAmount {
			c.fail(path+"."+cur, emporium.FieldOutOfRange, "the amount %d must be %d-%d minor units", a, least, int64(MaxAmount))
		}
	}
}

// countryTax compiles the tax rules of one country at path.
func (c *compiler) countryTax(path string, tf countryTaxFile) countryTax {
	t := countryTax{
		rate:            c.rate(path+".rate", tf.Rate),
		shippingTaxable: tf.ShippingTaxable,
		regionRequired:  tf.RegionRequired,
		regions:         make(map[string]regionTax, 2*len(tf.Regions)),
	}
	if tf.RegionRequired && len(tf.Regions) == 0 {
		c.fail(path+".region_required", emporium.FieldInvalid, "a region is required but no region is listed")
	}
	// A region is found by its code or its name, so no name may be another
	// region's code or name.
	claimed := make(map[string]string, 2*len(tf.Regions))
	claim := func(key, by, at string) {
		if other, ok := claimed[key]; ok {
			c.fail(at, emporium.FieldDuplicate, "%q names both region %s and region %s", key, other, by)
			return
		}
		claimed[key] = by
	}
	for _, code := range sortedKeys(tf.Regions) {
		at := path + ".regions." + code
		if !regionPattern.MatchString(code) {
			c.fail(at, emporium.FieldInvalid, "%q is not the upper-case subdivision part of an ISO 3166-2 code, such as CA of US-CA", code)
			continue
		}
		claim(code, code, at)
	}
	for _, code := range sortedKeys(tf.Regions) {
		rf := tf.Regions[code]
		at := path + ".regions." + code
		rt := regionTax{rate: c.rate(at+".rate", rf.Rate), shippingTaxable: tf.ShippingTaxable}
		if rf.ShippingTaxable != nil {
			rt.shippingTaxable = *rf.ShippingTaxable
		}
		t.regions[code] = rt
		if name := strings.TrimSpace(rf.Name); len(name) > maxNameLength {
			c.fail(at+".name", emporium.FieldTooLong, "the name of region %s is over %d bytes", code, maxNameLength)
		} else if key := strings.ToUpper(name); key != "" && key != code {
			claim(key, code, at+".name")
			t.regions[key] = rt
		}
	}
	return t
}

// rate parses the percentage at path into parts per million.
func (c *compiler) rate(path, s string) int64 {
	if s == "" {
		c.fail(path, emporium.FieldRequired, "the rate is required, such as \"7.25%%\"")
		return 0
	}
	m := ratePattern.FindStringSubmatch(s)
	if m == nil {
		c.fail(path, emporium.FieldInvalid, "rate %q must be a percentage with at most four decimals, such as \"7.25%%\"", s)
		return 0
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)                   // at most three digits
	frac, _ := strconv.ParseInt(m[2]+"0000"[len(m[2]):], 10, 64) // padded to four digits
	ppm := whole*10_000 + frac
	if ppm > ppmScale {
		c.fail(path, emporium.FieldOutOfRange, "rate %s is over 100%%", s)
		return 0
	}
	return ppm
}

// sortedKeys returns the keys of m in order, so that a file's mistakes are
// reported in the same order every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
