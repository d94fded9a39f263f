// Package checkout holds the pricing rules of an order: which shipping
// methods a country is offered, what they cost, how much tax is due and
// when the parcel should arrive. The order service prices a checkout
// preview and the order itself with the same call, Rates.Quote, so the two
// agree to the cent.
//
// The package does no I/O beyond reading a rates file (Load) and imports
// nothing of the project but the root package. Rates come from an embedded
// JSON file (Default) or from an operator's file of the same format, named
// by the CHECKOUT_RATES_FILE setting; docs/checkout.md describes the format.
// A Rates is never changed after it is built, so one may be shared by any
// number of goroutines.
//
// # Money
//
// Every amount is an int64 in minor units of one currency (cents, pence;
// yen have none), and no float takes part in any computation. Tax rates
// are held exactly as integer parts per million (7.25% is 72 500 ppm). Sums
// and products are checked: a cart whose total would pass MaxAmount is
// refused with a validation error instead of wrapping around.
//
// # The rounding rule
//
// Tax is rounded once, on the order as a whole, never per line:
//
//	taxable = subtotal (+ shipping, where the destination taxes shipping)
//	tax     = round-half-even(taxable × rate_ppm / 1 000 000)
//
// Half-even ("banker's rounding") sends an exact half of a minor unit to the
// even neighbour (0.5 → 0, 1.5 → 2, 2.5 → 2) and anything else to the nearest
// unit, so over many orders the rounding neither favours the shop nor the
// buyer. Rounding once on the total means a cart's tax does not depend on how
// its units are split into lines.
package checkout

import (
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
)

// MaxAmount bounds, in minor units, the subtotal and the total of a quote
// and every price in a rates file. A larger order is refused: no real cart
// comes near it (ten billion dollars), and the bound keeps taxable × rate
// well inside an int64 (2×10¹² × 10⁶ < 9.2×10¹⁸).
const MaxAmount = 1_000_000_000_000

// ppmScale is one whole in parts per million: a rate of ppmScale is 100%.
const ppmScale = 1_000_000

// Line is one line of a cart to price: so many units at a unit price.
type Line struct {
	Quantity  int64
	UnitPrice emporium.Money
}

// Quote is the price of a cart shipped one way to one place. Every amount
// is in the currency of the cart's lines, and Total is always Subtotal +
// Shipping + Tax.
type Quote struct {
	// LineTotals holds each line's quantity × unit price, in the order of
	// the lines quoted.
	LineTotals []emporium.Money
	Subtotal   emporium.Money
	// Shipping is what the chosen method costs this cart: its price, or
	// zero where the cart is over the method's free-shipping threshold.
	Shipping emporium.Money
	Tax      emporium.Money
	Total    emporium.Money
	// Method is the chosen shipping method, its price being Shipping.
	Method emporium.ShippingMethod
	// TaxRate is the rate applied, for display, such as "8.875%" or "0%".
	TaxRate string
	// ShippingTaxed says whether the shipping was part of the taxable
	// amount.
	ShippingTaxed bool
	// EstimatedDelivery is the latest expected delivery date (YYYY-MM-DD,
	// UTC): the method's MaxDays business days after now.
	EstimatedDelivery string
}

// Quote prices lines shipped by the method called methodID to country (ISO
// 3166-1 alpha-2, any case) and region (a state or province: its code, such
// as "CA" or "US-CA", or its name, in any case). now dates the estimated
// delivery; nothing else depends on it, so the same cart, place and method
// always cost the same.
//
// The lines must be non-empty (else field "cart"), each of at least one unit
// at a non-negative price ("lines[i].quantity", "lines[i].unit_price"),
// all in one currency ("lines"). The method must be offered to the country
// and priced in that currency ("shipping_method"). A country whose tax
// depends on the region may require one ("region"). A total over MaxAmount
// is refused ("cart"). Every refusal is an EINVALID *emporium.Error naming
// that field.
func (r *Rates) Quote(lines []Line, country, region, methodID string, now time.Time) (Quote, error) {
	if len(lines) == 0 {
		return Quote{}, emporium.Invalid("cart", emporium.FieldRequired, "the cart is empty")
	}
	country = strings.ToUpper(strings.TrimSpace(country))
	if country == "" {
		return Quote{}, emporium.Invalid("country", emporium.FieldRequired, "the shipping address has no country")
	}
	if !countryPattern.MatchString(country) {
		return Quote{}, emporium.Invalidf("country", emporium.FieldInvalid, "country %q is not an ISO 3166-1 alpha-2 code", country)
	}

	currency := lines[0].UnitPrice.Currency
	totals := make([]emporium.Money, len(lines))
	var subtotal int64
	for i, l := range lines {
		switch {
		case l.Quantity < 1:
			return Quote{}, emporium.Invalidf(lineField(i, "quantity"), emporium.FieldOutOfRange, "line %d has quantity %d; it must be at least 1", i+1, l.Quantity)
		case l.UnitPrice.Amount < 0:
			return Quote{}, emporium.Invalidf(lineField(i, "unit_price"), emporium.FieldOutOfRange, "line %d has a negative price", i+1)
		case l.UnitPrice.Currency == "":
			return Quote{}, emporium.Invalidf(lineField(i, "unit_price"), emporium.FieldRequired, "line %d has a price without a currency", i+1)
		case l.UnitPrice.Currency != currency:
			return Quote{}, emporium.Invalidf("lines", emporium.FieldCurrencyMismatch,
				"line %d is priced in %s but line 1 in %s; an order is paid in one currency", i+1, l.UnitPrice.Currency, currency)
		}
		total, ok := mul(l.Quantity, l.UnitPrice.Amount)
		if ok {
			subtotal, ok = add(subtotal, total)
		}
		if !ok {
			return Quote{}, tooLarge()
		}
		totals[i] = emporium.Money{Amount: total, Currency: currency}
	}

	m, err := r.method(country, methodID)
	if err != nil {
		return Quote{}, err
	}
	shipping, ok := m.prices[currency]
	if !ok {
		return Quote{}, emporium.Invalidf("shipping_method", emporium.FieldUnsupported,
			"shipping method %q has no price in %s", m.id, currency)
	}
	if threshold, ok := m.freeOver[currency]; ok && subtotal >= threshold {
		shipping = 0
	}

	rate, taxShipping, err := r.tax(country, region)
	if err != nil {
		return Quote{}, err
	}
	taxable := subtotal
	if taxShipping {
		taxable += shipping // both at most MaxAmount: no overflow
	}
	tax := taxOn(taxable, rate)
	total := subtotal + shipping + tax // each at most 2×MaxAmount: no overflow
	if total > MaxAmount {
		return Quote{}, tooLarge()
	}

	money := func(amount int64) emporium.Money { return emporium.Money{Amount: amount, Currency: currency} }
	method := m.public(currency)
	method.Price = money(shipping)
	return Quote{
		LineTotals:        totals,
		Subtotal:          money(subtotal),
		Shipping:          money(shipping),
		Tax:               money(tax),
		Total:             money(total),
		Method:            method,
		TaxRate:           formatRate(rate),
		ShippingTaxed:     taxShipping,
		EstimatedDelivery: addBusinessDays(now, m.maxDays).Format(time.DateOnly),
	}, nil
}

// lineField names a member of one line in a field error: lines[0].quantity.
func lineField(i int, member string) string {
	return "lines[" + strconv.Itoa(i) + "]." + member
}

// tooLarge is the refusal of a cart whose amounts would pass MaxAmount.
func tooLarge() error {
	return emporium.Invalidf("cart", emporium.FieldOutOfRange, "the order total is over the maximum of %d minor units", int64(MaxAmount))
}

// mul returns a×b for non-negative a and b, and false when the product
// passes MaxAmount (or would overflow an int64 on the way).
func mul(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > MaxAmount {
		return 0, false
	}
	return int64(lo), true
}

// add returns a+b for non-negative a and b no larger than MaxAmount, and
// false when the sum passes MaxAmount.
func add(a, b int64) (int64, bool) {
	s := a + b // both at most MaxAmount: no overflow
	return s, s <= MaxAmount
}

// taxOn returns the tax on taxable at rate parts per million, rounded half
// to even: the package's one rounding rule. taxable is at most 2×MaxAmount
// and rate at most ppmScale, so the product fits an int64.
func taxOn(taxable, rate int64) int64 {
	product := taxable * rate
	q, rem := product/ppmScale, product%ppmScale
	switch {
	case 2*rem > ppmScale, 2*rem == ppmScale && q%2 == 1:
		q++
	}
	return q
}

// formatRate writes a rate in parts per million as a percentage with no
// trailing zeros: 72500 → "7.25%", 88750 → "8.875%", 190000 → "19%".
func formatRate(ppm int64) string {
	whole, frac := ppm/10_000, ppm%10_000
	s := strconv.FormatInt(whole, 10)
	if frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(10_000+frac, 10)[1:], "0")
	}
	return s + "%"
}

// addBusinessDays returns the UTC date days business days after now's UTC
// date, counting no Saturday or Sunday. From a Friday, one business day is
// the Monday after; from a Saturday, it is also that Monday.
func addBusinessDays(now time.Time, days int) time.Time {
	y, mo, d := now.UTC().Date()
	t := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	for days > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			days--
		}
	}
	return t
}

// Prorate returns amount × part / whole rounded half to even, the package's
// one rounding rule: the share of an order's tax that some of its lines
// bear (part of whole, the subtotal). It is 0 when whole is not positive,
// and computed without overflow for any int64 inputs.
func Prorate(amount, part, whole int64) int64 {
	if whole <= 0 {
		return 0
	}
	n := new(big.Int).Mul(big.NewInt(amount), big.NewInt(part))
	q, r := new(big.Int).QuoRem(n, big.NewInt(whole), new(big.Int))
	// QuoRem truncates toward zero; the amounts here are not negative, so
	// the remainder is too, and twice it against whole decides the rounding.
	switch c := new(big.Int).Lsh(r, 1).CmpAbs(big.NewInt(whole)); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(int64(n.Sign())))
	}
	return q.Int64()
}
