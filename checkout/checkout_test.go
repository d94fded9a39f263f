package checkout

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// testRates are small rates whose numbers the tests can reason about:
// country TT taxes 10% without shipping, ST taxes 10% with it, US has two
// states and requires one, and JPY has no express price.
const testRates = `{
  "currency": "USD",
  "shipping": {
    "default": [
      {"id": "standard", "name": "Standard", "min_days": 2, "max_days": 3, "prices": {"USD": 500, "JPY": 700}},
      {"id": "express", "name": "Express", "min_days": 1, "max_days": 1, "prices": {"USD": 1500}}
    ],
    "countries": {
      "FS": [{"id": "standard", "name": "Standard", "min_days": 2, "max_days": 3, "prices": {"USD": 500}, "free_over": {"USD": 5000}}]
    }
  },
  "tax": {
    "countries": {
      "TT": {"rate": "10%"},
      "ST": {"rate": "10%", "shipping_taxable": true},
      "US": {"rate": "0%", "region_required": true, "regions": {
        "NY": {"name": "New York", "rate": "4%", "shipping_taxable": true},
        "CA": {"name": "California", "rate": "7.25%"}
      }}
    }
  }
}`

func loadTest(t *testing.T) *Rates {
	t.Helper()
	r, err := Load(strings.NewReader(testRates))
	require.NoError(t, err)
	return r
}

// friday is a Friday afternoon, UTC.
var friday = time.Date(2026, time.January, 2, 15, 0, 0, 0, time.UTC)

func usd(amount int64) emporium.Money { return emporium.Money{Amount: amount, Currency: "USD"} }

func TestQuoteTotals(t *testing.T) {
	r := loadTest(t)
	q, err := r.Quote([]Line{{2, usd(1250)}, {1, usd(999)}}, "st", "", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, []emporium.Money{usd(2500), usd(999)}, q.LineTotals)
	assert.Equal(t, usd(3499), q.Subtotal)
	assert.Equal(t, usd(500), q.Shipping)
	assert.Equal(t, usd(400), q.Tax, "10% of 3499 + 500 = 399.9")
	assert.Equal(t, usd(4399), q.Total)
	assert.Equal(t, emporium.ShippingMethod{ID: "standard", Name: "Standard", Price: usd(500), MinDays: 2, MaxDays: 3}, q.Method)
	assert.Equal(t, "10%", q.TaxRate)
	assert.True(t, q.ShippingTaxed)
	assert.Equal(t, "2026-01-07", q.EstimatedDelivery)
}

// TestQuoteRoundsHalfToEven prices one line at a 10% rate without taxable
// shipping, so the exact tax is price/10 minor units.
func TestQuoteRoundsHalfToEven(t *testing.T) {
	r := loadTest(t)
	cases := []struct{ price, tax int64 }{
		{0, 0},
		{4, 0},  // 0.4
		{5, 0},  // 0.5: to even 0
		{6, 1},  // 0.6
		{14, 1}, // 1.4
		{15, 2}, // 1.5: to even 2
		{16, 2}, // 1.6
		{25, 2}, // 2.5: to even 2
		{35, 4}, // 3.5: to even 4
		{45, 4}, // 4.5: to even 4
		{1005, 100},
		{1015, 102},
	}
	for _, c := range cases {
		q, err := r.Quote([]Line{{1, usd(c.price)}}, "TT", "", "standard", friday)
		require.NoError(t, err)
		assert.Equal(t, c.tax, q.Tax.Amount, "10%% of %d", c.price)
	}
}

func TestTaxOn(t *testing.T) {
	cases := []struct{ taxable, ppm, want int64 }{
		{1000, 72_500, 72},        // 72.5: to even 72
		{1400, 72_500, 102},       // 101.5: to even 102
		{1000, 88_750, 89},        // 88.75
		{2, 250_000, 0},           // 0.5: to even 0
		{6, 250_000, 2},           // 1.5: to even 2
		{10, 250_000, 2},          // 2.5: to even 2
		{1, 500_001, 1},           // just over a half
		{1, 499_999, 0},           // just under a half
		{12345, 0, 0},             // no tax
		{12345, 1_000_000, 12345}, // 100%
		{2 * MaxAmount, 1_000_000, 2 * MaxAmount},
		{2*MaxAmount - 1, 149_750, 299_500_000_000}, // 299499999999.85025
	}
	for _, c := range cases {
		assert.Equal(t, c.want, taxOn(c.taxable, c.ppm), "%d at %d ppm", c.taxable, c.ppm)
		assert.Equal(t, exactTax(c.taxable, c.ppm), taxOn(c.taxable, c.ppm), "%d at %d ppm, against math/big", c.taxable, c.ppm)
	}
}

// TestQuoteTaxesTheOrderNotTheLines: ten lines of 5 at 10% would round to
// nothing each; the order's 50 is taxed 5.
func TestQuoteTaxesTheOrderNotTheLines(t *testing.T) {
	r := loadTest(t)
	lines := make([]Line, 10)
	for i := range lines {
		lines[i] = Line{1, usd(5)}
	}
	q, err := r.Quote(lines, "TT", "", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, usd(5), q.Tax)
}

func TestQuoteShippingTaxable(t *testing.T) {
	r := loadTest(t)
	cases := []struct {
		country, region string
		tax             int64
		taxed           bool
		rate            string
	}{
		{"TT", "", 100, false, "10%"},         // 10% of 1000
		{"ST", "", 150, true, "10%"},          // 10% of 1000 + 500
		{"US", "NY", 60, true, "4%"},          // 4% of 1500: the region taxes shipping
		{"US", "CA", 72, false, "7.25%"},      // 7.25% of 1000 = 72.5, to even
		{"XX", "", 0, false, "0%"},            // no tax rules: no tax
		{"TT", "anywhere", 100, false, "10%"}, // a region means nothing to TT
		{"US", "new york", 60, true, "4%"},    // by name, any case
		{"US", "US-ca", 72, false, "7.25%"},   // by ISO 3166-2 code
		{"us", " California ", 72, false, "7.25%"},
	}
	for _, c := range cases {
		q, err := r.Quote([]Line{{4, usd(250)}}, c.country, c.region, "standard", friday)
		require.NoError(t, err, "%s %s", c.country, c.region)
		assert.Equal(t, c.tax, q.Tax.Amount, "%s %s", c.country, c.region)
		assert.Equal(t, c.taxed, q.ShippingTaxed, "%s %s", c.country, c.region)
		assert.Equal(t, c.rate, q.TaxRate, "%s %s", c.country, c.region)
		assert.Equal(t, q.Subtotal.Amount+q.Shipping.Amount+q.Tax.Amount, q.Total.Amount)
	}
}

func TestQuoteDefaultStateRates(t *testing.T) {
	r := Default()
	// $50.00 shipped standard ($5.99) within the United States.
	cases := []struct {
		state string
		tax   int64
	}{
		{"CA", 362}, // 7.25% of 5000 = 362.5, to even; shipping not taxed
		{"NY", 224}, // 4% of 5599 = 223.96; shipping taxed
		{"TX", 350}, // 6.25% of 5599 = 349.9375; shipping taxed
		{"OR", 0},   // no sales tax
		{"NJ", 371}, // 6.625% of 5599 = 370.93375
		{"MO", 211}, // 4.225% of 5000 = 211.25
		{"WA", 364}, // 6.5% of 5599 = 363.935
		{"florida", 300},
	}
	for _, c := range cases {
		q, err := r.Quote([]Line{{1, usd(5000)}}, "US", c.state, "standard", friday)
		require.NoError(t, err, c.state)
		assert.Equal(t, usd(599), q.Shipping, c.state)
		assert.Equal(t, c.tax, q.Tax.Amount, c.state)
	}
	// Free standard shipping over $75 inside the United States.
	q, err := r.Quote([]Line{{1, usd(10000)}}, "US", "CA", "standard", friday)
	require.NoError(t, err)
	assert.Zero(t, q.Shipping.Amount)
	q, err = r.Quote([]Line{{1, usd(7499)}}, "US", "CA", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, usd(599), q.Shipping)
	// VAT on goods and shipping alike; Quebec's GST + QST.
	q, err = r.Quote([]Line{{1, emporium.Money{Amount: 10000, Currency: "EUR"}}}, "DE", "", "express", friday)
	require.NoError(t, err)
	assert.Equal(t, int64(2299), q.Shipping.Amount)
	assert.Equal(t, int64(2337), q.Tax.Amount, "19% of 12299 = 2336.81")
	q, err = r.Quote([]Line{{1, emporium.Money{Amount: 10000, Currency: "CAD"}}}, "CA", "QC", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, "14.975%", q.TaxRate)
	assert.Equal(t, int64(1692), q.Tax.Amount, "14.975% of 11299 = 1692.02525")
}

func TestQuoteFreeShipping(t *testing.T) {
	r := loadTest(t)
	for subtotal, shipping := range map[int64]int64{4999: 500, 5000: 0, 9000: 0} {
		q, err := r.Quote([]Line{{1, usd(subtotal)}}, "FS", "", "standard", friday)
		require.NoError(t, err)
		assert.Equal(t, usd(shipping), q.Shipping, "subtotal %d", subtotal)
		assert.Equal(t, usd(shipping), q.Method.Price, "the method is shown at the price charged")
	}
}

func TestQuoteUnknownCountryFallsBack(t *testing.T) {
	r := Default()
	q, err := r.Quote([]Line{{1, usd(1000)}}, "ZW", "", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, usd(999), q.Shipping, "the default list's standard price")
	assert.Equal(t, usd(0), q.Tax)
	assert.Equal(t, "0%", q.TaxRate)
}

func TestQuoteRefusals(t *testing.T) {
	r := loadTest(t)
	one := []Line{{1, usd(1000)}}
	cases := []struct {
		name            string
		lines           []Line
		country, region string
		method          string
		field, code     string
	}{
		{"empty cart", nil, "TT", "", "standard", "cart", emporium.FieldRequired},
		{"zero quantity", []Line{{1, usd(1)}, {0, usd(1)}}, "TT", "", "standard", "lines[1].quantity", emporium.FieldOutOfRange},
		{"negative quantity", []Line{{-1, usd(1)}}, "TT", "", "standard", "lines[0].quantity", emporium.FieldOutOfRange},
		{"negative price", []Line{{1, usd(-1)}}, "TT", "", "standard", "lines[0].unit_price", emporium.FieldOutOfRange},
		{"no currency", []Line{{1, emporium.Money{Amount: 1}}}, "TT", "", "standard", "lines[0].unit_price", emporium.FieldRequired},
		{"mixed currencies", []Line{{1, usd(1)}, {1, emporium.Money{Amount: 1, Currency: "EUR"}}}, "TT", "", "standard", "lines", emporium.FieldCurrencyMismatch},
		{"no country", one, " ", "", "standard", "country", emporium.FieldRequired},
		{"bad country", one, "USA", "", "standard", "country", emporium.FieldInvalid},
		{"no method", one, "TT", "", "", "shipping_method", emporium.FieldRequired},
		{"unknown method", one, "TT", "", "overnight", "shipping_method", emporium.FieldUnknown},
		{"method not offered there", one, "FS", "", "express", "shipping_method", emporium.FieldUnknown},
		{"method ids are exact", one, "TT", "", "Standard", "shipping_method", emporium.FieldUnknown},
		{"no price in the currency", []Line{{1, emporium.Money{Amount: 1, Currency: "JPY"}}}, "TT", "", "express", "shipping_method", emporium.FieldUnsupported},
		{"a currency nobody prices", []Line{{1, emporium.Money{Amount: 1, Currency: "XTS"}}}, "TT", "", "standard", "shipping_method", emporium.FieldUnsupported},
		{"region missing", one, "US", "", "standard", "region", emporium.FieldRequired},
		{"region unknown", one, "US", "Calif.", "standard", "region", emporium.FieldUnknown},
		{"line overflows", []Line{{1 << 62, usd(4)}}, "TT", "", "standard", "cart", emporium.FieldOutOfRange},
		{"line over the maximum", []Line{{1_000_000_000, usd(1_000_000_000)}}, "TT", "", "standard", "cart", emporium.FieldOutOfRange},
		{"subtotal over the maximum", []Line{{1, usd(MaxAmount)}, {1, usd(1)}}, "TT", "", "standard", "cart", emporium.FieldOutOfRange},
		{"total over the maximum", []Line{{1, usd(MaxAmount)}}, "TT", "", "standard", "cart", emporium.FieldOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Quote(c.lines, c.country, c.region, c.method, friday)
			require.Error(t, err)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
			fields := emporium.ErrorFields(err)
			require.Len(t, fields, 1, "%v", err)
			assert.Equal(t, c.field, fields[0].Field, "%v", err)
			assert.Equal(t, c.code, fields[0].Code, "%v", err)
			assert.NotEmpty(t, fields[0].Message)
		})
	}
}

func TestQuoteAtTheMaximum(t *testing.T) {
	r := loadTest(t)
	// The largest total allowed: MaxAmount exactly, with shipping and no
	// tax (XX has none).
	q, err := r.Quote([]Line{{1, usd(MaxAmount - 500)}}, "XX", "", "standard", friday)
	require.NoError(t, err)
	assert.Equal(t, usd(MaxAmount), q.Total)
}

func TestEstimatedDelivery(t *testing.T) {
	cases := []struct {
		now  time.Time
		days int
		want string
	}{
		{time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), 3, "2026-01-08"},   // Monday: within the week
		{time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), 1, "2026-01-05"},   // Friday: over the weekend
		{time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), 3, "2026-01-07"},   // Friday: Mon, Tue, Wed
		{time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC), 1, "2026-01-05"},   // Saturday
		{time.Date(2026, 1, 4, 23, 59, 0, 0, time.UTC), 1, "2026-01-05"}, // Sunday
		{time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), 10, "2026-01-16"},  // two weekends
		{time.Date(2025, 12, 31, 9, 0, 0, 0, time.UTC), 2, "2026-01-02"}, // over the new year
		// The date is the UTC date: Thursday 23:30 in New York is Friday
		// in UTC.
		{time.Date(2026, 1, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)), 1, "2026-01-05"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, addBusinessDays(c.now, c.days).Format(time.DateOnly), "%s + %d", c.now, c.days)
	}
	r := loadTest(t)
	q, err := r.Quote([]Line{{1, usd(1)}}, "TT", "", "express", time.Date(2026, 1, 2, 22, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, "2026-01-05", q.EstimatedDelivery, "express from a Friday night arrives on Monday")
}

func TestFormatRate(t *testing.T) {
	for ppm, want := range map[int64]string{
		0: "0%", 1: "0.0001%", 10: "0.001%", 72_500: "7.25%", 88_750: "8.875%",
		149_750: "14.975%", 190_000: "19%", 81_000: "8.1%", 1_000_000: "100%",
	} {
		assert.Equal(t, want, formatRate(ppm))
	}
}

// TestQuoteProperties prices random carts to random places: the same input
// always gives the same quote, the total is the sum of its parts, the
// subtotal is the sum of the lines, the tax is the exact half-even rounding
// computed independently with math/big, and the order of the lines changes
// nothing.
func TestQuoteProperties(t *testing.T) {
	r := Default()
	rng := rand.New(rand.NewPCG(1, 2))
	places := []struct{ country, region string }{
		{"US", "CA"}, {"US", "NY"}, {"US", "TX"}, {"US", "OR"}, {"US", "MO"}, {"CA", "QC"}, {"CA", ""},
		{"DE", ""}, {"GB", ""}, {"JP", ""}, {"ZW", ""}, {"FR", "Île-de-France"},
	}
	currencies := []string{"USD", "EUR", "GBP", "JPY", "CAD"}
	for range 2000 {
		currency := currencies[rng.IntN(len(currencies))]
		lines := make([]Line, 1+rng.IntN(8))
		for i := range lines {
			lines[i] = Line{1 + rng.Int64N(20), emporium.Money{Amount: rng.Int64N(100_000), Currency: currency}}
		}
		place := places[rng.IntN(len(places))]
		methodID := []string{"standard", "express"}[rng.IntN(2)]
		now := friday.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))

		q, err := r.Quote(lines, place.country, place.region, methodID, now)
		require.NoError(t, err)
		again, err := r.Quote(lines, place.country, place.region, methodID, now)
		require.NoError(t, err)
		require.Equal(t, q, again, "deterministic")

		var subtotal int64
		for i, l := range lines {
			require.Equal(t, l.Quantity*l.UnitPrice.Amount, q.LineTotals[i].Amount)
			subtotal += q.LineTotals[i].Amount
		}
		require.Equal(t, subtotal, q.Subtotal.Amount)
		require.Equal(t, q.Subtotal.Amount+q.Shipping.Amount+q.Tax.Amount, q.Total.Amount)
		for _, m := range []emporium.Money{q.Subtotal, q.Shipping, q.Tax, q.Total, q.Method.Price} {
			require.Equal(t, currency, m.Currency)
		}
		rate, taxShipping, err := r.tax(place.country, place.region)
		require.NoError(t, err)
		taxable := q.Subtotal.Amount
		if taxShipping {
			taxable += q.Shipping.Amount
		}
		require.Equal(t, exactTax(taxable, rate), q.Tax.Amount, "%d at %d ppm", taxable, rate)

		shuffled := append([]Line(nil), lines...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s, err := r.Quote(shuffled, place.country, place.region, methodID, now)
		require.NoError(t, err)
		require.Equal(t, q.Total, s.Total, "the order of the lines changes nothing")
		require.Equal(t, q.Tax, s.Tax)
	}
}

// exactTax computes taxable × ppm / 10⁶ rounded half to even with exact
// rationals, independently of taxOn.
func exactTax(taxable, ppm int64) int64 {
	x := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(taxable), big.NewInt(ppm)), big.NewInt(ppmScale))
	floor := new(big.Int).Quo(x.Num(), x.Denom()) // non-negative: truncation is the floor
	frac := new(big.Rat).Sub(x, new(big.Rat).SetInt(floor))
	switch frac.Cmp(big.NewRat(1, 2)) {
	case 1:
		floor.Add(floor, big.NewInt(1))
	case 0:
		if floor.Bit(0) == 1 {
			floor.Add(floor, big.NewInt(1))
		}
	}
	return floor.Int64()
}
