package checkout

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// productCurrencies mirrors actors/product.Currencies, the currencies a
// product may be priced in: the default rates must ship in every one.
var productCurrencies = []string{
	"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK",
	"PLN", "CZK", "INR", "CNY", "BRL", "MXN", "ZAR", "NZD", "SGD", "HKD",
}

func TestDefault(t *testing.T) {
	r := Default()
	assert.Same(t, r, Default())
	for _, country := range []string{"", "US", "GB", "DE", "ZW"} {
		for _, currency := range productCurrencies {
			ids := []string{}
			for _, m := range r.Methods(country, currency) {
				ids = append(ids, m.ID)
				assert.Positive(t, m.Price.Amount, "%s %s %s", country, currency, m.ID)
				assert.LessOrEqual(t, m.MinDays, m.MaxDays)
			}
			assert.Equal(t, []string{"standard", "express"}, ids, "%s %s", country, currency)
		}
	}
	us := r.taxes["US"]
	assert.True(t, us.regionRequired)
	assert.Len(t, us.regions, 2*52, "50 states, DC and Puerto Rico, by code and by name")
	assert.Equal(t, int64(72_500), us.regions["CA"].rate)
	assert.Equal(t, int64(0), us.regions["OREGON"].rate)
	for _, country := range []string{"DE", "FR", "GB", "IT", "ES", "NL"} {
		assert.True(t, r.taxes[country].shippingTaxable, country)
		assert.GreaterOrEqual(t, r.taxes[country].rate, int64(190_000), country)
	}
}

func TestMethods(t *testing.T) {
	r := Default()
	us := r.Methods("US", "USD")
	assert.Equal(t, []emporium.ShippingMethod{
		{ID: "standard", Name: "Standard", Price: usd(599), MinDays: 3, MaxDays: 5},
		{ID: "express", Name: "Express", Price: usd(1499), MinDays: 1, MaxDays: 2},
	}, us)
	assert.Equal(t, us, r.Methods(" us ", "usd"), "codes in any case")
	assert.Equal(t, us, r.Methods("US", ""), "no currency: the default currency, USD")

	def := r.Methods("", "EUR")
	assert.Equal(t, "standard", def[0].ID)
	assert.Equal(t, emporium.Money{Amount: 899, Currency: "EUR"}, def[0].Price)
	assert.Equal(t, def, r.Methods("ZW", "EUR"), "a country without a list gets the default list")
	assert.Equal(t, def, r.Methods("nowhere", "EUR"))

	none := r.Methods("US", "XTS")
	assert.NotNil(t, none)
	assert.Empty(t, none, "nothing is priced in XTS")

	us[0].Price.Amount = 1
	assert.Equal(t, int64(599), r.Methods("US", "USD")[0].Price.Amount, "the caller's copy")

	jpy := loadTest(t).Methods("", "JPY")
	require.Len(t, jpy, 1, "express has no JPY price, so it is left out")
	assert.Equal(t, "standard", jpy[0].ID)
}

func TestLoadDecodesStrictly(t *testing.T) {
	cases := map[string]string{
		"unknown member":             strings.Replace(testRates, `"currency": "USD"`, `"currency": "USD", "version": 2`, 1),
		"unknown member of a method": strings.Replace(testRates, `"min_days": 1,`, `"min_days": 1, "weight": 3,`, 1),
		"unknown member of a region": strings.Replace(testRates, `"name": "New York",`, `"name": "New York", "county": "Kings",`, 1),
		"float days":                 strings.Replace(testRates, `"max_days": 3`, `"max_days": 3.5`, 1),
		"float price":                strings.Replace(testRates, `"USD": 1500`, `"USD": 15.00`, 1),
		"number rate":                strings.Replace(testRates, `"rate": "10%"`, `"rate": 10`, 1),
		"trailing data":              testRates + `{}`,
		"trailing bracket":           testRates + `}`,
		"not JSON":                   "currency: USD",
		"empty":                      "",
		"an array":                   "[]",
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(strings.NewReader(file))
			require.Error(t, err)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
		})
	}
	_, err := Load(strings.NewReader(testRates + "\n\t "))
	assert.NoError(t, err, "trailing white space is fine")
	_, err = Load(strings.NewReader(cases["unknown member"]))
	assert.Contains(t, err.Error(), `"version"`, "the error names the member")
}

func TestLoadValidates(t *testing.T) {
	cases := []struct {
		name        string
		change      func(f *ratesFile)
		field, code string
	}{
		{"no currency", func(f *ratesFile) { f.Currency = "" }, "currency", emporium.FieldRequired},
		{"lower-case currency", func(f *ratesFile) { f.Currency = "usd" }, "currency", emporium.FieldInvalid},
		{"no default list", func(f *ratesFile) { f.Shipping.Default = nil }, "shipping.default", emporium.FieldRequired},
		{"default currency unpriced", func(f *ratesFile) { f.Currency = "EUR" }, "shipping.default", emporium.FieldRequired},
		{"no id", func(f *ratesFile) { f.Shipping.Default[1].ID = "" }, "shipping.default[1].id", emporium.FieldRequired},
		{"bad id", func(f *ratesFile) { f.Shipping.Default[1].ID = "Next Day" }, "shipping.default[1].id", emporium.FieldInvalid},
		{"duplicate id", func(f *ratesFile) { f.Shipping.Default[1].ID = "standard" }, "shipping.default[1].id", emporium.FieldDuplicate},
		{"no name", func(f *ratesFile) { f.Shipping.Default[0].Name = " " }, "shipping.default[0].name", emporium.FieldRequired},
		{"long name", func(f *ratesFile) { f.Shipping.Default[0].Name = strings.Repeat("x", 101) }, "shipping.default[0].name", emporium.FieldTooLong},
		{"negative min_days", func(f *ratesFile) { f.Shipping.Default[0].MinDays = -1 }, "shipping.default[0].min_days", emporium.FieldOutOfRange},
		{"zero max_days", func(f *ratesFile) { f.Shipping.Default[0].MinDays, f.Shipping.Default[0].MaxDays = 0, 0 }, "shipping.default[0].max_days", emporium.FieldOutOfRange},
		{"max_days too many", func(f *ratesFile) { f.Shipping.Default[0].MaxDays = 61 }, "shipping.default[0].max_days", emporium.FieldOutOfRange},
		{"min above max", func(f *ratesFile) { f.Shipping.Default[0].MinDays = 4 }, "shipping.default[0].max_days", emporium.FieldRange},
		{"no prices", func(f *ratesFile) { f.Shipping.Default[1].Prices = nil }, "shipping.default[1].prices", emporium.FieldRequired},
		{"bad price currency", func(f *ratesFile) { f.Shipping.Default[1].Prices["usd"] = 1 }, "shipping.default[1].prices.usd", emporium.FieldInvalid},
		{"negative price", func(f *ratesFile) { f.Shipping.Default[1].Prices["USD"] = -1 }, "shipping.default[1].prices.USD", emporium.FieldOutOfRange},
		{"absurd price", func(f *ratesFile) { f.Shipping.Default[1].Prices["USD"] = MaxAmount + 1 }, "shipping.default[1].prices.USD", emporium.FieldOutOfRange},
		{"zero threshold", func(f *ratesFile) { f.Shipping.Countries["FS"][0].FreeOver["USD"] = 0 }, "shipping.countries.FS[0].free_over.USD", emporium.FieldOutOfRange},
		{"threshold without a price", func(f *ratesFile) { f.Shipping.Countries["FS"][0].FreeOver["EUR"] = 1 }, "shipping.countries.FS[0].free_over.EUR", emporium.FieldUnknown},
		{"bad country list", func(f *ratesFile) { f.Shipping.Countries["usa"] = f.Shipping.Default }, "shipping.countries.usa", emporium.FieldInvalid},
		{"empty country list", func(f *ratesFile) { f.Shipping.Countries["FS"] = []methodFile{} }, "shipping.countries.FS", emporium.FieldRequired},
		{"bad method in a country list", func(f *ratesFile) { f.Shipping.Countries["FS"][0].MaxDays = 0 }, "shipping.countries.FS[0].max_days", emporium.FieldOutOfRange},
		{"bad tax country", func(f *ratesFile) { f.Tax.Countries["Tt"] = countryTaxFile{Rate: "1%"} }, "tax.countries.Tt", emporium.FieldInvalid},
		{"no rate", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{} }, "tax.countries.TT.rate", emporium.FieldRequired},
		{"rate without %", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{Rate: "10"} }, "tax.countries.TT.rate", emporium.FieldInvalid},
		{"rate as a fraction", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{Rate: "0.1"} }, "tax.countries.TT.rate", emporium.FieldInvalid},
		{"negative rate", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{Rate: "-1%"} }, "tax.countries.TT.rate", emporium.FieldInvalid},
		{"rate too precise", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{Rate: "7.12345%"} }, "tax.countries.TT.rate", emporium.FieldInvalid},
		{"rate over 100%", func(f *ratesFile) { f.Tax.Countries["TT"] = countryTaxFile{Rate: "100.5%"} }, "tax.countries.TT.rate", emporium.FieldOutOfRange},
		{"bad region code", func(f *ratesFile) { f.Tax.Countries["US"].Regions["us-ny"] = regionTaxFile{Rate: "1%"} }, "tax.countries.US.regions.us-ny", emporium.FieldInvalid},
		{"bad region rate", func(f *ratesFile) { f.Tax.Countries["US"].Regions["TX"] = regionTaxFile{Rate: "6.25"} }, "tax.countries.US.regions.TX.rate", emporium.FieldInvalid},
		{"region name taken", func(f *ratesFile) {
			f.Tax.Countries["US"].Regions["TX"] = regionTaxFile{Name: "new york", Rate: "6.25%"}
		}, "tax.countries.US.regions.TX.name", emporium.FieldDuplicate},
		{"region name is another's code", func(f *ratesFile) {
			f.Tax.Countries["US"].Regions["TX"] = regionTaxFile{Name: "ca", Rate: "6.25%"}
		}, "tax.countries.US.regions.TX.name", emporium.FieldDuplicate},
		{"region required without regions", func(f *ratesFile) {
			f.Tax.Countries["TT"] = countryTaxFile{Rate: "10%", RegionRequired: true}
		}, "tax.countries.TT.region_required", emporium.FieldInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := testFile(t)
			c.change(&f)
			raw, err := json.Marshal(f)
			require.NoError(t, err)
			_, err = Load(strings.NewReader(string(raw)))
			require.Error(t, err)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
			fields := emporium.ErrorFields(err)
			require.Len(t, fields, 1, "%v", err)
			assert.Equal(t, c.field, fields[0].Field, "%v", err)
			assert.Equal(t, c.code, fields[0].Code, "%v", err)
		})
	}
}

func TestLoadReportsEveryMistake(t *testing.T) {
	f := testFile(t)
	f.Currency = ""
	f.Shipping.Default[0].MaxDays = 0
	f.Tax.Countries["TT"] = countryTaxFile{Rate: "ten"}
	raw, err := json.Marshal(f)
	require.NoError(t, err)
	_, err = Load(strings.NewReader(string(raw)))
	var fields []string
	for _, fe := range emporium.ErrorFields(err) {
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"currency", "shipping.default[0].max_days", "tax.countries.TT.rate"}, fields)
}

// TestLoadRoundTrip: a file decoded and encoded again loads to the same
// rates, so testFile is a faithful base for TestLoadValidates.
func TestLoadRoundTrip(t *testing.T) {
	raw, err := json.Marshal(testFile(t))
	require.NoError(t, err)
	r, err := Load(strings.NewReader(string(raw)))
	require.NoError(t, err)
	assert.Equal(t, loadTest(t), r)
}

// testFile decodes testRates into its file form, for a test to change.
func testFile(t *testing.T) ratesFile {
	t.Helper()
	var f ratesFile
	require.NoError(t, json.Unmarshal([]byte(testRates), &f))
	return f
}

func TestLoadErrorNamesTheEntry(t *testing.T) {
	f := testFile(t)
	f.Shipping.Countries["FS"][0].Prices["usd"] = 1
	raw, err := json.Marshal(f)
	require.NoError(t, err)
	_, err = Load(strings.NewReader(string(raw)))
	assert.EqualError(t, err, `checkout.Load: <validation_failed> shipping.countries.FS[0].prices.usd: "usd" is not an upper-case ISO 4217 currency code`)
}
